package wsapi

import (
	"encoding/binary"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// peer is the writer side of one connection. Frames wait in a bounded
// queue, each copied into a pooled buffer; a writer goroutine runs only
// while there is something to write, so an idle connection costs no
// goroutine but its reader and holds no write buffer (memory per idle
// connection is what bounds how many clients a node holds). Pings come
// from the handler's shared pinger.
//
// Data frames do not go through gorilla's message writer: that one takes
// a write buffer from its pool for every message and boxes it to put it
// back (an allocation per message). The writer puts the WebSocket header
// in front of the frame in the frame's own pooled buffer and writes both
// with one Write on the connection. net.Conn writes are atomic with
// respect to each other, so gorilla's control frames (pings, the pongs it
// answers, the close) never land inside a data frame.
type peer struct {
	ws      *websocket.Conn
	conn    net.Conn
	max     int
	timeout time.Duration
	writeFn func() // p.write, bound once: `go p.write()` would allocate a closure per burst

	mu      sync.Mutex
	q       []*[]byte // queued frames, each behind its WebSocket header room; q[head:] are unsent
	head    int
	writing bool
	closing bool   // Close was called: final is written after q
	final   []byte //
	dead    bool   // the socket is closed
	done    chan struct{}
	// receiving: the connection's reader is handing a frame to the hub.
	// A Send or Close meanwhile queues without starting the writer
	// goroutine (owed), and the reader writes the queue itself when the
	// hub returns (endReceive): the answer to a Heartbeat(1), the most
	// common frame of an idle connection, then costs no goroutine.
	receiving bool
	owed      bool

	// lastRead is when the last frame from the client arrived (Unix
	// nanoseconds): the pinger leaves a connection alone that spoke
	// within its interval.
	lastRead atomic.Int64
}

func newPeer(ws *websocket.Conn, queue int, writeTimeout time.Duration) *peer {
	p := &peer{ws: ws, conn: ws.NetConn(), max: queue, timeout: writeTimeout, done: make(chan struct{})}
	p.writeFn = p.write
	return p
}

// Send implements core.Peer. It copies frame: the caller may reuse frame
// once Send returns.
func (p *peer) Send(frame []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead || p.closing {
		return true // closing: the frame goes down with the connection
	}
	if len(p.q)-p.head >= p.max {
		return false
	}
	b := getFrameBuffer(wsHeaderRoom + len(frame))
	copy((*b)[wsHeaderRoom:], frame)
	p.q = append(p.q, b)
	p.startWriter()
	return true
}

// startWriter starts the writer goroutine unless one runs or the reader
// owes the write (p.mu held).
func (p *peer) startWriter() {
	switch {
	case p.writing:
	case p.receiving:
		p.owed = true
	default:
		p.writing = true
		go p.writeFn()
	}
}

// beginReceive and endReceive bracket the reader's call into the hub;
// endReceive writes what the hub queued meanwhile, on the reader's
// goroutine, when no writer goroutine does (the frames queued by then;
// later ones go to a writer goroutine).
func (p *peer) beginReceive() {
	p.mu.Lock()
	p.receiving = true
	p.mu.Unlock()
}

func (p *peer) endReceive() {
	p.mu.Lock()
	p.receiving = false
	if !p.owed {
		p.mu.Unlock()
		return
	}
	p.owed = false
	if p.writing {
		p.mu.Unlock()
		return
	}
	p.writing = true
	n := len(p.q) - p.head
	p.mu.Unlock()
	p.drain(n)
}

// Close implements core.Peer.
func (p *peer) Close(final []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing || p.dead {
		return
	}
	p.closing, p.final = true, final
	p.startWriter()
}

// maxIdleQueue is the largest queue capacity a drained peer keeps; a
// burst that needed more gives its queue back.
const maxIdleQueue = 8

// write drains the queue, then exits; after Close it writes the final
// Alert within a short deadline and closes the socket.
func (p *peer) write() { p.drain(-1) }

// drain is write for at most n frames (n < 0: no limit); with frames
// left after n, it hands them to a writer goroutine. The caller set
// p.writing.
func (p *peer) drain(n int) {
	for ; ; n-- {
		p.mu.Lock()
		if n == 0 && p.head < len(p.q) {
			p.mu.Unlock()
			go p.writeFn()
			return
		}
		if p.head == len(p.q) {
			clear(p.q)
			p.q, p.head = p.q[:0], 0
			if cap(p.q) > maxIdleQueue {
				p.q = nil
			}
			if p.closing {
				final := p.final
				p.mu.Unlock()
				deadline := time.Now().Add(time.Second)
				p.ws.SetWriteDeadline(deadline)
				if final != nil {
					p.ws.WriteMessage(websocket.BinaryMessage, final)
				}
				p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
				p.kill()
				return
			}
			p.writing = false
			p.mu.Unlock()
			return
		}
		b := p.q[p.head]
		p.q[p.head] = nil
		p.head++
		timeout := p.timeout
		if p.closing {
			timeout = time.Second // flushing before the Alert
		}
		p.mu.Unlock()
		p.conn.SetWriteDeadline(time.Now().Add(timeout))
		_, err := p.conn.Write(wsFrame(*b))
		putFrameBuffer(b)
		if err != nil {
			// The reader then fails and detaches the connection.
			p.kill()
			return
		}
	}
}

// kill closes the socket once and releases the queue.
func (p *peer) kill() {
	p.mu.Lock()
	if !p.dead {
		p.dead = true
		for _, b := range p.q[p.head:] {
			putFrameBuffer(b)
		}
		p.q, p.head = nil, 0
		p.ws.Close()
		close(p.done)
	}
	p.writing = false
	p.mu.Unlock()
}

// ping sends a WebSocket ping; gorilla allows WriteControl concurrently
// with the writer.
func (p *peer) ping(timeout time.Duration) {
	p.mu.Lock()
	dead := p.dead
	p.mu.Unlock()
	if !dead && p.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(timeout)) != nil {
		p.kill()
	}
}

// wsHeaderRoom is the room a frame buffer keeps in front of the frame for
// the longest header of an unmasked WebSocket frame (RFC 6455 §5.2: two
// bytes and a 64-bit length).
const wsHeaderRoom = 10

// wsFrame writes, into the room in front of the payload b[wsHeaderRoom:],
// the header of one final, unmasked binary WebSocket frame (a server's
// frame, RFC 6455 §5.2), and returns header and payload.
func wsFrame(b []byte) []byte {
	n := len(b) - wsHeaderRoom
	var h []byte
	switch {
	case n < 126:
		h = b[wsHeaderRoom-2 : wsHeaderRoom]
		h[1] = byte(n)
	case n <= 0xffff:
		h = b[wsHeaderRoom-4 : wsHeaderRoom]
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = b[:wsHeaderRoom]
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	h[0] = 0x80 | websocket.BinaryMessage // FIN, opcode 2
	return b[wsHeaderRoom-len(h):]
}

// Frame buffers come from one pool per power-of-two size from
// 1<<minFrameClass to 1<<maxFrameClass bytes; a larger frame (up to
// MaxProtectedFrame, rare) gets a buffer of its own.
const (
	minFrameClass = 9  // 512 bytes
	maxFrameClass = 20 // 1 MiB
)

var framePools [maxFrameClass - minFrameClass + 1]sync.Pool

// frameClass is the index of the smallest pool whose buffers hold n
// bytes; len(framePools) if none does.
func frameClass(n int) int {
	if n <= 1<<minFrameClass {
		return 0
	}
	return bits.Len(uint(n-1)) - minFrameClass
}

// getFrameBuffer returns a buffer of length n, pooled when n fits a class.
func getFrameBuffer(n int) *[]byte {
	c := frameClass(n)
	if c >= len(framePools) {
		b := make([]byte, n)
		return &b
	}
	if b, ok := framePools[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(c+minFrameClass))
	return &b
}

// putFrameBuffer returns b to its pool; a buffer of no class is dropped.
// The caller does not use b afterwards.
func putFrameBuffer(b *[]byte) {
	c := cap(*b)
	if c < 1<<minFrameClass || c > 1<<maxFrameClass || c&(c-1) != 0 {
		return
	}
	framePools[bits.Len(uint(c))-1-minFrameClass].Put(b)
}
