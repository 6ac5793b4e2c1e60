// Package floor is the bare WebSocket push server the system benchmark
// measures SealFeed against (issue #16): the same clients, the same
// publish requests and the same per-client coalescing per tick, with no
// handshake, no encryption, no signature and no storage. Its CPU per
// delivered message is the floor a push server on this machine cannot go
// under; SealFeed's target is a ratio to it.
//
// Wire, loopback only and for the benchmark only:
//   - GET /ws upgrades to a WebSocket; the server's first binary frame is
//     the client's 32-byte ID, every later one holds that client's
//     messages queued since the last tick, each as a 4-byte big-endian
//     length and the payload.
//   - POST /v1/messages/bulk takes the body SealFeed's publisher sends
//     ({"messages":[{"to":[hex ID],"payload":base64}]}), unsigned, and
//     answers 202 once every message is queued; POST /v1/messages takes
//     one such message. A recipient that is not connected is a 404.
//   - GET /metrics: Go heap and stack bytes in use, frames and messages
//     written, in the Prometheus text form.
package floor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sealfeed/sealfeed/publisher"
)

// DefaultTick is SealFeed's default batching interval (serve -tick).
const DefaultTick = 5 * time.Millisecond

// MaxBody bounds a publish request, as SealFeed's does (1 MiB).
const MaxBody = 1 << 20

// Server is the floor. Its zero value is not usable: call New.
type Server struct {
	sendQueue int
	upgrader  websocket.Upgrader

	mu      sync.Mutex
	clients map[[32]byte]*conn
	dirty   []*conn // clients with queued messages, each once

	frames, messages, slow atomic.Int64
	stop                   chan struct{}
	done                   chan struct{}
	closeOnce              sync.Once
}

type conn struct {
	id     [32]byte
	ws     *websocket.Conn
	queue  []byte // under Server.mu: length-prefixed payloads since the last tick
	queued bool   // under Server.mu: in Server.dirty
	out    chan []byte
	gone   bool // under Server.mu
}

// New starts a floor server's tick; tick 0 is DefaultTick, sendQueue 0
// is 64 frames (serve's -send-queue default). Close stops it.
func New(tick time.Duration, sendQueue int) *Server {
	if tick <= 0 {
		tick = DefaultTick
	}
	if sendQueue <= 0 {
		sendQueue = 64
	}
	t := time.NewTicker(tick)
	s := newServer(t.C, sendQueue)
	go func() { <-s.done; t.Stop() }()
	return s
}

// newServer starts a server whose tick is each receive from tick.
func newServer(tick <-chan time.Time, sendQueue int) *Server {
	s := &Server{sendQueue: sendQueue, clients: map[[32]byte]*conn{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(tick)
	return s
}

// Close stops the tick and closes every connection.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.mu.Lock()
		for _, c := range s.clients {
			c.ws.Close()
		}
		s.mu.Unlock()
	})
}

// ServeHTTP routes the floor's three endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ws" && r.Method == http.MethodGet:
		s.serveWS(w, r)
	case (r.URL.Path == "/v1/messages/bulk" || r.URL.Path == "/v1/messages") && r.Method == http.MethodPost:
		s.servePublish(w, r)
	case r.URL.Path == "/metrics" && r.Method == http.MethodGet:
		s.serveMetrics(w)
	default:
		http.NotFound(w, r)
	}
}

// Stats are the counters since start.
type Stats struct {
	Connected, Frames, Messages, SlowConsumers int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.clients)
	s.mu.Unlock()
	return Stats{Connected: int64(n), Frames: s.frames.Load(), Messages: s.messages.Load(), SlowConsumers: s.slow.Load()}
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws, out: make(chan []byte, s.sendQueue)}
	if _, err := rand.Read(c.id[:]); err != nil {
		ws.Close()
		return
	}
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.BinaryMessage, c.id[:]); err != nil {
		ws.Close()
		return
	}
	ws.SetReadLimit(4096)
	s.mu.Lock()
	s.clients[c.id] = c
	s.mu.Unlock()
	go s.write(c)
	// Read until the client goes; clients send nothing but control frames.
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	s.drop(c)
}

// drop forgets c; the tick sends to c.out only under s.mu and only while
// c is not gone, so closing c.out here is safe.
func (s *Server) drop(c *conn) {
	s.mu.Lock()
	if !c.gone {
		c.gone = true
		delete(s.clients, c.id)
		close(c.out)
	}
	s.mu.Unlock()
	c.ws.Close()
}

func (s *Server) write(c *conn) {
	for f := range c.out {
		c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
			c.ws.Close() // the reader then drops c
			for range c.out {
			}
			return
		}
	}
}

func (s *Server) run(tick <-chan time.Time) {
	defer close(s.done)
	var batch []*conn
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
		}
		s.mu.Lock()
		batch, s.dirty = s.dirty, batch[:0]
		for _, c := range batch {
			c.queued = false
			if c.gone || len(c.queue) == 0 {
				continue
			}
			f := c.queue
			c.queue = nil
			select {
			case c.out <- f:
				s.frames.Add(1)
			default: // a slow consumer is cut off, as SealFeed's is
				s.slow.Add(1)
				go c.ws.Close()
			}
		}
		s.mu.Unlock()
		clear(batch)
	}
}

type pubJSON struct {
	To      []string `json:"to"`
	Payload string   `json:"payload"`
}

func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil || len(body) > MaxBody {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var ms []pubJSON
	if r.URL.Path == "/v1/messages" {
		var m pubJSON
		err = json.Unmarshal(body, &m)
		ms = []pubJSON{m}
	} else {
		var b struct {
			Messages []pubJSON `json:"messages"`
		}
		err = json.Unmarshal(body, &b)
		ms = b.Messages
	}
	if err != nil || len(ms) == 0 {
		http.Error(w, "malformed request", http.StatusBadRequest)
		return
	}
	type item struct {
		to      [32]byte
		payload []byte
	}
	items := make([]item, 0, len(ms))
	for _, m := range ms {
		p, err := base64.StdEncoding.DecodeString(m.Payload)
		if err != nil || len(m.To) == 0 {
			http.Error(w, "malformed message", http.StatusBadRequest)
			return
		}
		for _, t := range m.To {
			var id [32]byte
			if n, err := hex.Decode(id[:], []byte(t)); err != nil || n != 32 || len(t) != 64 {
				http.Error(w, "malformed recipient", http.StatusBadRequest)
				return
			}
			items = append(items, item{id, p})
		}
	}
	s.mu.Lock()
	for _, it := range items {
		if c := s.clients[it.to]; c == nil || c.gone {
			s.mu.Unlock()
			http.Error(w, "recipient not connected", http.StatusNotFound)
			return
		}
	}
	for _, it := range items {
		c := s.clients[it.to]
		c.queue = binary.BigEndian.AppendUint32(c.queue, uint32(len(it.payload)))
		c.queue = append(c.queue, it.payload...)
		if !c.queued {
			c.queued = true
			s.dirty = append(s.dirty, c)
		}
	}
	s.mu.Unlock()
	s.messages.Add(int64(len(items)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d}`, len(items))
}

func (s *Server) serveMetrics(w http.ResponseWriter) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := s.Stats()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\ngo_memstats_stack_inuse_bytes %d\nfloor_connected %d\nfloor_frames_total %d\nfloor_messages_total %d\nfloor_slow_consumers_total %d\n",
		ms.HeapInuse, ms.StackInuse, st.Connected, st.Frames, st.Messages, st.SlowConsumers)
}

// Client is a floor client: it reads the ID frame, then hands each
// message of each frame to the caller.
type Client struct {
	ws *websocket.Conn
	id [32]byte
}

// Dial connects to the floor's /ws at wsURL (ws://host:port/ws); netDial,
// if set, opens the TCP connection (e.g. from a chosen source address).
func Dial(ctx context.Context, wsURL string, netDial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Client, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: netDial}
	ws, _, err := d.DialContext(ctx, wsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("floor: dial: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		ws.SetReadDeadline(dl)
	}
	mt, b, err := ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || len(b) != 32 {
		ws.Close()
		return nil, errors.New("floor: no client ID frame")
	}
	ws.SetReadDeadline(time.Time{})
	c := &Client{ws: ws}
	copy(c.id[:], b)
	return c, nil
}

// ID is the ID the server gave this client.
func (c *Client) ID() [32]byte { return c.id }

// Close closes the connection; Receive then returns.
func (c *Client) Close() error { return c.ws.Close() }

// Receive reads frames until the connection closes and calls frame once
// per frame and msg once per message in it, in order. A frame that does
// not parse exactly (a short length, trailing bytes) ends it with an
// error.
func (c *Client) Receive(frame func(), msg func(payload []byte)) error {
	for {
		mt, b, err := c.ws.ReadMessage()
		if err != nil {
			return nil
		}
		if mt != websocket.BinaryMessage {
			return errors.New("floor: text frame")
		}
		if frame != nil {
			frame()
		}
		if err := parseFrame(b, msg); err != nil {
			return err
		}
	}
}

// parseFrame calls msg with each length-prefixed payload of a frame; a
// short length or payload is an error.
func parseFrame(b []byte, msg func(payload []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errors.New("floor: truncated length")
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(n) {
			return errors.New("floor: truncated message")
		}
		msg(b[4 : 4+n])
		b = b[4+n:]
	}
	return nil
}

// Publisher posts to a floor the body SealFeed's publisher would send,
// unsigned.
type Publisher struct {
	BaseURL string
	HTTP    *http.Client
}

// NewPublisher returns a Publisher with the HTTP client SealFeed's
// publisher uses (the default transport, a 30 s timeout).
func NewPublisher(baseURL string) *Publisher {
	return &Publisher{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// PublishMany posts ms in one request.
func (p *Publisher) PublishMany(ctx context.Context, ms []publisher.Message) error {
	var b struct {
		Messages []pubJSON `json:"messages"`
	}
	for _, m := range ms {
		pj := pubJSON{Payload: base64.StdEncoding.EncodeToString(m.Payload)}
		for _, id := range m.To {
			pj.To = append(pj.To, hex.EncodeToString(id[:]))
		}
		b.Messages = append(b.Messages, pj)
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.BaseURL+"/v1/messages/bulk", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("floor: publish: %s", resp.Status)
	}
	return nil
}
