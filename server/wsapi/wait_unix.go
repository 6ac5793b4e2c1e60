//go:build unix

package wsapi

import "syscall"

// readable reports whether a read of fd would not block: a byte to read,
// end of stream or an error all end the wait, and the reader finds out
// which. Go's sockets are non-blocking, so an empty socket is EAGAIN.
func (w *idleWaiter) readable(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), w.b[:], syscall.MSG_PEEK)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
