package wsapi

import (
	"bufio"
	"net"
	"net/http"
	"syscall"
)

// readBuffer is the size of a connection's read buffer: clients send
// little (Acks, Heartbeats, pongs), a longer message is read past it, and
// the buffer must hold a control frame (125 bytes and a 14-byte header).
const readBuffer = 512

// hijacker hands the Upgrader a bufio.Reader that the handler keeps, so
// that the connection's reader can tell whether bytes wait in it (see
// idleWaiter). The Upgrader reads through the hijacked reader when its
// ReadBufferSize is 0.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, brw, err := hj.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return c, brw, err // the Upgrader refuses bytes sent before its answer
	}
	h.br = bufio.NewReaderSize(c, readBuffer)
	return c, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// idleWaiter lets a connection's reader wait for the next message on a
// short stack. A reader blocked inside gorilla's NextReader sits some
// fifteen calls deep; the runtime halves a goroutine's stack at a garbage
// collection only while less than a quarter of it is in use, so that
// reader keeps an 8 KiB stack. Waiting here first, in a call or two above
// the poller, lets the stack shrink to 4 KiB (memory per idle connection,
// bench/results/loadtest.md).
type idleWaiter struct {
	br   *bufio.Reader
	rc   syscall.RawConn // nil: no waiting (not a socket)
	peek func(fd uintptr) bool
	b    [1]byte
}

func newIdleWaiter(c net.Conn, br *bufio.Reader) *idleWaiter {
	w := &idleWaiter{br: br}
	if sc, ok := c.(syscall.Conn); ok && br != nil {
		if rc, err := sc.SyscallConn(); err == nil {
			w.rc = rc
		}
	}
	w.peek = w.readable
	return w
}

// wait returns when bytes wait in the read buffer or the socket, at end of
// stream, or with the error of the socket's read deadline (the idle
// timeout) or of a closed connection. It consumes nothing.
func (w *idleWaiter) wait() error {
	if w.rc == nil || w.br.Buffered() > 0 {
		return nil
	}
	return w.rc.Read(w.peek)
}
