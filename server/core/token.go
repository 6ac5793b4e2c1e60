package core

import (
	"fmt"
	"time"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/token"
)

// User is what the current access token of a connection says (§6.8): the
// user and device the client key was issued to. User addressing (#18
// item 2) reads it.
type User struct {
	Subject string
	Device  string // empty: the token named no device
	TokenID [token.IDSize]byte
	Expires time.Time // the token's not_after; the connection closes at Expires + skew unless refreshed (TOK-011)
}

// User returns the user of the connection's current access token; false
// for a connection without one.
func (c *Conn) User() (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.token
	if t == nil {
		return User{}, false
	}
	return User{Subject: t.Subject, Device: t.Device, TokenID: t.ID, Expires: time.Unix(int64(t.NotAfter), 0)}, true
}

// User returns the user of a client connected to this node (§6.8); false
// when it is not connected here or has no access token.
func (h *Hub) User(id [32]byte) (User, bool) {
	h.mu.Lock()
	c := h.conns[id]
	h.mu.Unlock()
	if c == nil {
		return User{}, false
	}
	return c.User()
}

// startToken records the token the handshake verified (HS-062) and closes
// the connection with token_expired when it expires unrefreshed (TOK-011).
// Attach calls it once the Conn is attached, so that an expiry closes an
// attached connection.
func (c *Conn) startToken(t *token.Token) {
	if t == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.token = t
	c.tokenTimer = time.AfterFunc(c.untilExpiry(t), c.expireToken)
	c.hub.log.Debug("access token", "client", fmt.Sprintf("%x", c.id[:8]), "token_id", fmt.Sprintf("%x", t.ID[:]))
}

func (c *Conn) untilExpiry(t *token.Token) time.Duration {
	return max(t.Deadline().Sub(c.hub.cfg.Now()), 0)
}

// expireToken runs when the current token's deadline passes; a refresh
// that replaced it in the meantime has moved the deadline.
func (c *Conn) expireToken() {
	c.mu.Lock()
	t := c.token
	expired := !c.closed && t != nil && t.Expired(c.hub.cfg.Now())
	if !expired && !c.closed && t != nil {
		c.tokenTimer.Reset(c.untilExpiry(t) + time.Millisecond)
	}
	c.mu.Unlock()
	if expired {
		c.close(alert.TokenExpired, "access token expired (TOK-011)")
	}
}

// refreshToken handles TokenRefresh (POST-030, POST-031): the token is
// verified like the handshake's (TOK-007) against the session's client key,
// names the same user and device as the current one, replaces it and
// moves the expiry; the answer is TokenAccepted (POST-032). The caller
// holds c.mu.
func (c *Conn) refreshToken(body []byte) error {
	ver := c.hub.tokens.Load()
	if ver == nil {
		ver = &token.Verifier{}
	}
	t, err := ver.Verify(body, c.sess.State().ClientKey, c.hub.cfg.Now())
	if err != nil {
		return err
	}
	if old := c.token; old != nil && (old.Subject != t.Subject || old.Device != t.Device) {
		return alert.New(alert.IllegalParameter, "refreshed token names another user or device (POST-031)")
	}
	f, err := c.sess.Seal(nil, session.AppendTokenAccepted(nil, t.ID, t.NotAfter))
	if err != nil {
		return err
	}
	c.token = t
	if c.tokenTimer == nil {
		c.tokenTimer = time.AfterFunc(c.untilExpiry(t), c.expireToken)
	} else {
		c.tokenTimer.Reset(c.untilExpiry(t))
	}
	c.hub.queueDevice(c.id, t.Subject, t.Device) // TOK-020: renews the device's last seen
	c.hub.log.Debug("access token refreshed", "client", fmt.Sprintf("%x", c.id[:8]), "token_id", fmt.Sprintf("%x", t.ID[:]))
	if !c.peer.Send(f) {
		return errQueueFull
	}
	return nil
}

// errQueueFull reports a frame that the peer's queue refused after it used a
// record sequence number: the connection closes without an Alert.
var errQueueFull = alert.New(alert.Overloaded, "send queue full")

// stopToken stops the expiry timer of a connection that closed. The caller
// holds c.mu.
func (c *Conn) stopToken() {
	if c.tokenTimer != nil {
		c.tokenTimer.Stop()
	}
}
