//go:build !unix

package wsapi

// readable ends the wait at once: without a way to peek at the socket the
// reader blocks in gorilla's reader, as it would without idleWaiter.
func (w *idleWaiter) readable(fd uintptr) bool { return true }
