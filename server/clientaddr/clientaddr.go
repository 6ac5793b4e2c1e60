// Package clientaddr finds the address a request came from, for the
// per-address limits: the peer's address, or, when the peer is a trusted
// reverse proxy, the client address the proxies forwarded (OPS-011).
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many forwarded addresses are read from one request.
// Proxies append one each; a longer list is a client padding the header.
const maxHops = 32

// Resolver finds client addresses. The zero value and nil trust no proxy:
// every request's address is its peer's.
type Resolver struct {
	trusted []netip.Prefix
}

// ParseTrusted parses a comma-separated list of CIDR prefixes or single
// addresses (10.0.0.0/8, 127.0.0.1, ::1). An empty list trusts no proxy.
func ParseTrusted(list string) (*Resolver, error) {
	r := &Resolver{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", f)
			}
			a = a.Unmap()
			r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR prefix", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusts reports whether a is the address of a trusted proxy.
func (r *Resolver) Trusts(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address the per-address limits count req under
// (OPS-011). From a peer that is not a trusted proxy it is the peer's
// address, whatever the request's headers say. From a trusted proxy it is
// the rightmost address of the forwarded chain that is not a trusted proxy:
// the Forwarded header's for= parameters (RFC 7239) when the request has
// that header, else X-Forwarded-For. Walking from the right, each hop was
// appended by the trusted proxy before it, so the first untrusted one is
// the last that a trusted party vouched for; what lies left of it was
// written by the client. When a hop cannot be read (obfuscated, "unknown",
// malformed) the last trusted address is the client: the limits then fall
// on that proxy rather than on a name the client chose. When every hop is
// trusted, the leftmost is.
func (r *Resolver) ClientIP(req *http.Request) string {
	peer, ok := peerAddr(req.RemoteAddr)
	if !ok {
		return req.RemoteAddr
	}
	if !r.Trusts(peer) {
		return peer.String()
	}
	var hops []string
	if v := req.Header.Values("Forwarded"); len(v) > 0 {
		hops = forwardedFor(v)
	} else {
		hops = splitList(req.Header.Values("X-Forwarded-For"))
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseNode(hops[i])
		if !ok {
			break
		}
		client = a
		if !r.Trusts(a) {
			break
		}
	}
	return client.String()
}

func peerAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// splitList splits comma-separated header values into at most maxHops
// trimmed elements, keeping the last ones (the ones nearest this server).
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	if len(out) > maxHops {
		out = out[len(out)-maxHops:]
	}
	return out
}

// forwardedFor returns the for= value of each element of Forwarded header
// values (RFC 7239 section 4); an element without one gives "".
func forwardedFor(values []string) []string {
	elems := splitList(values)
	out := make([]string, len(elems))
	for i, e := range elems {
		for _, pair := range strings.Split(e, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
				out[i] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// parseNode reads an address from an X-Forwarded-For element or a
// Forwarded for= value: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]:4711", each possibly quoted. Obfuscated identifiers
// ("_hidden") and "unknown" are not addresses.
func parseNode(s string) (netip.Addr, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), a.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
