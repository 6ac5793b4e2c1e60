// Package wsapi is the WebSocket transport of the SealFeed server: one
// SealFeed frame per binary WebSocket message, subprotocol "sealfeed.v1"
// (spec §2). It runs the handshake (spec §6) with its timeout (HS-051),
// enforces the per-address limits (LIM-002) and frame sizes (WIRE-023,
// LIM-003, LIM-004),
// and attaches connected sessions to the core.
package wsapi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/handshake"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/server/core"
)

// Subprotocol is the WebSocket subprotocol of SealFeed v1.
const Subprotocol = "sealfeed.v1"

// idleBuffer is the largest frame buffer that goes back to readBuffers.
const idleBuffer = 4096

// readBuffers are the buffers connections read frames into.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, minGrowth); return &b }}

// Config configures a Handler.
type Config struct {
	Hub *core.Hub
	// Handshake returns the handshake configuration for a connection; realm
	// is the realm extension of the ClientHello, empty if none (EXT-007).
	Handshake func(realm string) *handshake.ServerConfig
	// HandshakeTimeout bounds the whole handshake; 0: 10 s (HS-051).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection from which nothing (not even a pong)
	// arrived for this long; 0: 90 s. Pings go out every third of it.
	IdleTimeout time.Duration
	// MaxConnsPerIP bounds open connections per source address; 0: 256.
	MaxConnsPerIP int
	// MaxHandshakesPerIP bounds concurrent handshakes per source address
	// (LIM-002); 0: 16.
	MaxHandshakesPerIP int
	// SendQueue is the number of frames queued per connection before it
	// counts as a slow consumer; 0: 64.
	SendQueue int
	// WriteTimeout bounds one write; 0: 10 s.
	WriteTimeout time.Duration
	// ClientIP returns the address the per-address limits count a
	// request under (OPS-011); nil: the peer's address.
	ClientIP func(*http.Request) string
	// HandshakeFailed is called with the alert name of each failed
	// handshake, metrics.NoAlert when it ended without one (OPS-042);
	// HandshakeTime observes the seconds of each completed one (OPS-044).
	// Either may be nil.
	HandshakeFailed func(alert string)
	HandshakeTime   core.Observer
	Logger          *slog.Logger
}

// Stats are the transport's counters.
type Stats struct {
	Handshakes, HandshakeFailures, Rejected atomic.Uint64
}

// Handler serves the WebSocket endpoint.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	upgrader websocket.Upgrader
	Stats    Stats

	mu     sync.Mutex
	conns  map[string]int
	hs     map[string]int
	peers  map[*peer]struct{}
	wg     sync.WaitGroup
	stop   chan struct{}
	once   sync.Once
	closed bool // Wait was called: no new connections
}

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = 256
	}
	if cfg.MaxHandshakesPerIP <= 0 {
		cfg.MaxHandshakesPerIP = 16
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 64
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = clientIP
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, conns: map[string]int{}, hs: map[string]int{}, peers: map[*peer]struct{}{},
		stop: make(chan struct{})}
	go h.pinger(cfg.IdleTimeout / 3)
	h.upgrader = websocket.Upgrader{
		Subprotocols:     []string{Subprotocol},
		HandshakeTimeout: cfg.HandshakeTimeout,
		// The read buffer is the hijacker's (readBuffer bytes, see
		// wait.go): ReadBufferSize 0 makes the Upgrader use it. Write
		// buffers are pooled, for the handshake's messages and the
		// Alert at close; data frames bypass them (peer.go).
		ReadBufferSize:  0,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// SealFeed authenticates the server inside the protocol and the
		// client by its key or ticket, never by cookies, so a page of any
		// origin may connect (no ambient authority to forge).
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return h
}

// Wait blocks until every connection goroutine has ended, and stops the
// pinger.
func (h *Handler) Wait() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
	h.once.Do(func() { close(h.stop) })
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) acquire(m map[string]int, ip string, max int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m[ip] >= max {
		return false
	}
	m[ip]++
	return true
}

func (h *Handler) release(m map[string]int, ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m[ip]--; m[ip] <= 0 {
		delete(m, ip)
	}
}

// ServeHTTP upgrades the request and runs the connection.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "SealFeed endpoint: WebSocket upgrade with subprotocol sealfeed.v1 required", http.StatusUpgradeRequired)
		return
	}
	offered := false
	for _, p := range websocket.Subprotocols(r) {
		offered = offered || p == Subprotocol
	}
	if !offered {
		h.Stats.Rejected.Add(1)
		http.Error(w, "subprotocol sealfeed.v1 required", http.StatusBadRequest)
		return
	}
	ip := h.cfg.ClientIP(r)
	if !h.acquire(h.conns, ip, h.cfg.MaxConnsPerIP) {
		h.Stats.Rejected.Add(1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
		return
	}
	hj := &hijacker{ResponseWriter: w}
	ws, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		h.release(h.conns, ip)
		return // the upgrader answered already
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ws.Close()
		h.release(h.conns, ip)
		return
	}
	h.wg.Add(1) // under mu: ordered before Wait (WaitGroup rule)
	h.mu.Unlock()
	go h.serve(ws, hj.br, ip)
}

// frameLimits are the largest fragments the server reads from a client in
// one state (LIM-003); 0: a frame of that type is not allowed there.
type frameLimits struct {
	plaintext, protected int
}

var (
	// START: a ClientHello, which travels in a plaintext frame (WIRE-020);
	// a protected frame before keys is unexpected_message (REC-006).
	limitsStart = frameLimits{plaintext: wire.MaxPlaintextFrame}
	// WAIT_CLIENT_FLIGHT: the client's flight record (HS-031), or a
	// plaintext Alert (ALERT-004).
	limitsClientFlight = frameLimits{plaintext: wire.MaxPlaintextFrame, protected: wire.MaxClientFlightRecord + wire.AEADOverhead}
	// CONNECTED: records of Ack, KeyUpdate and Alert (§9); a plaintext
	// frame is unexpected_message (ALERT-004).
	limitsConnected = frameLimits{protected: wire.MaxClientRecord + wire.AEADOverhead}
)

// wsLimit is the WebSocket read limit that goes with l: one frame at the
// larger of its limits, and one byte more so that a message with bytes
// after its frame gets decode_error rather than a bare close.
func (l frameLimits) wsLimit() int64 {
	return int64(wire.FrameHeaderLen + max(l.plaintext, l.protected) + 1)
}

// readErr maps an error of the WebSocket reader: a message longer than
// the state allows is record_overflow (LIM-003), other errors pass.
func readErr(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		return alert.New(alert.RecordOverflow, "WebSocket message longer than any frame allowed in this state (LIM-003)")
	}
	return err
}

// readFrame reads one WebSocket message holding exactly one frame. It
// checks the frame header against WIRE-023 and against the limits of the
// state before it reads the fragment (LIM-003), and grows buf only as the
// fragment's bytes arrive (LIM-004): a peer that announces a large frame
// and stalls holds no more memory than it sent.
func readFrame(ws *websocket.Conn, buf []byte, lim frameLimits) ([]byte, error) {
	mt, r, err := ws.NextReader()
	if err != nil {
		return nil, readErr(err)
	}
	if mt != websocket.BinaryMessage {
		return nil, alert.New(alert.DecodeError, "frames travel in binary WebSocket messages")
	}
	var hdr [wire.FrameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, alert.New(alert.DecodeError, "truncated frame header")
	}
	n := int(hdr[1])<<16 | int(binary.BigEndian.Uint16(hdr[2:]))
	var limit int
	switch wire.FrameType(hdr[0]) {
	case wire.FramePlaintext:
		if n > wire.MaxPlaintextFrame {
			return nil, alert.Errorf(alert.RecordOverflow, "plaintext frame of %d bytes", n)
		}
		if lim.plaintext == 0 {
			return nil, alert.New(alert.UnexpectedMessage, "plaintext frame after the handshake (ALERT-004)")
		}
		limit = lim.plaintext
	case wire.FrameProtected:
		if n > wire.MaxProtectedFrame {
			return nil, alert.Errorf(alert.RecordOverflow, "protected frame of %d bytes", n)
		}
		if lim.protected == 0 {
			return nil, alert.New(alert.UnexpectedMessage, "protected frame before keys (REC-006)")
		}
		limit = lim.protected
	default:
		return nil, alert.Errorf(alert.DecodeError, "unknown frame type 0x%02x", hdr[0])
	}
	if n > limit {
		return nil, alert.Errorf(alert.RecordOverflow, "fragment of %d bytes above the %d this state allows (LIM-003)", n, limit)
	}
	buf, err = readFragment(r, append(buf[:0], hdr[:]...), n)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, websocket.ErrReadLimit):
			return nil, readErr(err)
		case errors.As(err, &ne) && ne.Timeout():
			return nil, err // a peer that stalled mid-fragment: timeout (HS-051) or idle
		}
		return nil, alert.New(alert.DecodeError, "frame shorter than its header says")
	}
	switch m, err := r.Read(hdr[:1]); {
	case m != 0:
		return nil, alert.New(alert.DecodeError, "bytes after the frame in one WebSocket message")
	case err != io.EOF:
		return nil, readErr(err) // more bytes than the read limit, or a broken transport
	}
	return buf, nil
}

// minGrowth is the first step by which readFragment grows a buffer.
const minGrowth = 512

// readFragment appends n bytes from r to buf. It grows buf only when it is
// full, by what it holds (at least minGrowth, at most what is missing), so
// its capacity stays below twice the bytes received plus minGrowth
// (LIM-004), never the length a peer announced.
func readFragment(r io.Reader, buf []byte, n int) ([]byte, error) {
	end := len(buf) + n
	for len(buf) < end {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(end-len(buf), max(len(buf), minGrowth)))
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), end)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < end {
			return nil, err
		}
	}
	return buf, nil
}

// realmOf returns the realm extension of a ClientHello frame, or "" when
// the frame is not a well-formed ClientHello (the handshake then rejects it
// with the precise alert).
func realmOf(frame []byte) string {
	t, body, _, err := wire.ParsePlaintextFrame(frame)
	if err != nil || t != wire.TypeClientHello {
		return ""
	}
	ch, err := handshake.ParseClientHello(body)
	if err != nil {
		return ""
	}
	if e, ok := wire.FindExtension(ch.Extensions, wire.ExtRealm); ok {
		return string(e.Data)
	}
	return ""
}

// serve runs the handshake and attaches the session. The connected
// session's reader then runs on a goroutine of its own: the handshake grew
// this goroutine's stack (key exchange, signatures), and a new goroutine
// starts at the small stack an idle reader needs instead of waiting for
// collections to shrink this one (memory per idle connection). The
// handler's WaitGroup and the connection's count for its address (taken
// by ServeHTTP) are released when the connection ends.
func (h *Handler) serve(ws *websocket.Conn, br *bufio.Reader, ip string) {
	start := time.Now()
	sess, err := h.handshake(ws, ip)
	if err != nil {
		h.Stats.HandshakeFailures.Add(1)
		if h.cfg.HandshakeFailed != nil {
			name := "none"
			if c, ok := alert.Find(err); ok {
				name = c.String()
			}
			h.cfg.HandshakeFailed(name)
		}
		h.log.Debug("handshake failed", "remote", ip, "err", err)
		ws.Close()
		h.release(h.conns, ip)
		h.wg.Done()
		return
	}
	h.Stats.Handshakes.Add(1)
	if h.cfg.HandshakeTime != nil {
		h.cfg.HandshakeTime.Observe(time.Since(start).Seconds())
	}
	st := sess.State()
	h.log.Debug("handshake complete", "remote", ip, "client", fmt.Sprintf("%x", st.ClientID[:]),
		"resumed", st.Resumed, "key_identified", st.ClientKey != nil, "group", st.Group, "aead", st.AEAD)
	p := newPeer(ws, h.cfg.SendQueue, h.cfg.WriteTimeout)
	c, err := h.cfg.Hub.Attach(sess, p)
	if err != nil {
		// A hub that is shutting down refuses with going_away (POST-022).
		var final []byte
		if code, ok := alert.CodeOf(err); ok {
			final = sess.AlertFrame(code)
		}
		p.Close(final)
		<-p.done
		h.release(h.conns, ip)
		h.wg.Done()
		return
	}
	go func() {
		defer h.wg.Done()
		defer h.release(h.conns, ip)
		h.connected(ws, br, p, c)
	}()
}

// connected reads the client's frames into the hub until the connection
// ends, and waits for its writer.
func (h *Handler) connected(ws *websocket.Conn, br *bufio.Reader, p *peer, c *core.Conn) {
	h.mu.Lock()
	h.peers[p] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.peers, p)
		h.mu.Unlock()
	}()
	ws.SetReadDeadline(time.Now().Add(h.cfg.IdleTimeout))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(h.cfg.IdleTimeout))
	})
	ws.SetReadLimit(limitsConnected.wsLimit())
	idle := newIdleWaiter(ws.NetConn(), br)
	for {
		// Between frames the connection holds no frame buffer: it takes
		// one from readBuffers once bytes arrive.
		var bp *[]byte
		var buf []byte
		err := idle.wait()
		if err == nil {
			bp = readBuffers.Get().(*[]byte)
			buf, err = readFrame(ws, *bp, limitsConnected)
		}
		if err != nil {
			var ne net.Error
			if code, ok := alert.Find(err); ok {
				c.Fail(code, err)
			} else if errors.As(err, &ne) && ne.Timeout() {
				c.Fail(alert.Timeout, alert.New(alert.Timeout, "idle timeout"))
			} else {
				c.Detach()
			}
			break
		}
		now := time.Now()
		p.lastRead.Store(now.UnixNano())
		ws.SetReadDeadline(now.Add(h.cfg.IdleTimeout))
		p.beginReceive()
		err = c.Receive(buf)
		p.endReceive()
		if err != nil {
			break
		}
		if cap(buf) <= idleBuffer {
			// Receive keeps no reference to the frame.
			*bp = buf[:0]
			readBuffers.Put(bp)
		}
	}
	<-p.done
}

// handshake runs the server state machine until CONNECTED, or fails with
// the alert it sent.
func (h *Handler) handshake(ws *websocket.Conn, ip string) (*session.Session, error) {
	deadline := time.Now().Add(h.cfg.HandshakeTimeout)
	ws.SetReadDeadline(deadline)
	ws.SetWriteDeadline(deadline)
	var srv *handshake.Server
	fail := func(code alert.Code, err error) error {
		var f []byte
		if srv != nil {
			f = srv.AlertFrame(code)
		} else if code != alert.ReplayedMessage && code != alert.StaleMessage {
			f = wire.AppendPlaintextFrame(nil, wire.AppendMessage(nil, wire.TypeAlert, []byte{byte(code)}))
		}
		if f != nil {
			// The handshake deadline may have passed (HS-051): the Alert
			// gets a short deadline of its own.
			ws.SetWriteDeadline(time.Now().Add(time.Second))
			ws.WriteMessage(websocket.BinaryMessage, f)
		}
		return err
	}
	var buf []byte
	for {
		lim := limitsStart
		if srv != nil {
			lim = limitsClientFlight
		}
		ws.SetReadLimit(lim.wsLimit())
		var err error
		buf, err = readFrame(ws, buf, lim)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, fail(alert.Timeout, alert.New(alert.Timeout, "handshake timeout (HS-051)"))
			}
			if code, ok := alert.Find(err); ok {
				return nil, fail(code, err)
			}
			return nil, err
		}
		if srv == nil {
			// LIM-002: asymmetric work only for a bounded number of
			// concurrent handshakes per address.
			if !h.acquire(h.hs, ip, h.cfg.MaxHandshakesPerIP) {
				return nil, fail(alert.Overloaded, alert.New(alert.Overloaded, "too many concurrent handshakes from this address"))
			}
			defer h.release(h.hs, ip)
			if srv, err = handshake.NewServer(h.cfg.Handshake(realmOf(buf))); err != nil {
				return nil, fail(alert.InternalError, err)
			}
		}
		out, done, err := srv.Handle(buf)
		if err != nil {
			if session.FromPeer(err) {
				return nil, err
			}
			code, _ := alert.CodeOf(err)
			return nil, fail(code, err)
		}
		for _, f := range out {
			if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
				return nil, err
			}
		}
		if done {
			ws.SetWriteDeadline(time.Time{})
			return srv.Session(), nil
		}
	}
}

// pinger pings, every interval, each registered peer that sent no frame
// within the last interval, from one goroutine for all connections. A
// client that speaks (a Heartbeat every HeartbeatInterval, POST-021; Acks)
// keeps its connection and the paths under it alive by itself, and its
// frames reset the idle timeout; a ping to it would cost a write and a
// pong read for nothing.
func (h *Handler) pinger(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		quiet := time.Now().Add(-interval).UnixNano()
		h.mu.Lock()
		ps := make([]*peer, 0, len(h.peers))
		for p := range h.peers {
			if p.lastRead.Load() < quiet {
				ps = append(ps, p)
			}
		}
		h.mu.Unlock()
		for _, p := range ps {
			p.ping(h.cfg.WriteTimeout)
		}
	}
}
