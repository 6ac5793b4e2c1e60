package server

// CheckExpiry runs the expiry check the node runs every minute (OPS-031),
// for tests that move Config.Now.
func (n *Node) CheckExpiry() { n.checkExpiry() }
