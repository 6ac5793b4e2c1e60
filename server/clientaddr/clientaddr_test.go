package clientaddr

import (
	"net/http"
	"testing"
)

// TestClientIPTrustsHeadersOnlyFromTrustedProxies: forwarded addresses
// count only when the peer is a trusted proxy, and then the rightmost hop
// that is not a trusted proxy is the client (OPS-011).
func TestClientIPTrustsHeadersOnlyFromTrustedProxies(t *testing.T) {
	r, err := ParseTrusted("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff, fwd   []string
		want       string
	}{
		{"untrusted peer, headers ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"untrusted peer, Forwarded ignored", "203.0.113.9:5000", nil, []string{"for=198.51.100.1"}, "203.0.113.9"},
		{"trusted peer, no header", "10.1.2.3:5000", nil, nil, "10.1.2.3"},
		{"trusted peer, one hop", "10.1.2.3:5000", []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"client-written left part is skipped", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1"}, nil, "198.51.100.1"},
		{"trusted hops are walked past", "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.1, 192.168.1.1, 10.9.9.9"}, nil, "198.51.100.1"},
		{"several header lines are one list", "10.1.2.3:5000", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, nil, "198.51.100.1"},
		{"every hop trusted: leftmost", "10.1.2.3:5000", []string{"10.0.0.7, 192.168.1.1"}, nil, "10.0.0.7"},
		{"unreadable hop: last trusted", "10.1.2.3:5000", []string{"198.51.100.1, garbage"}, nil, "10.1.2.3"},
		{"unreadable hop behind a trusted one", "10.1.2.3:5000", []string{"unknown, 10.0.0.5"}, nil, "10.0.0.5"},
		{"hop with port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, nil, "198.51.100.1"},
		{"mapped peer", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.1"}, nil, "198.51.100.1"},
		{"Forwarded", "10.1.2.3:5000", nil, []string{`for=1.1.1.1, for=198.51.100.1;proto=https;by=10.1.2.3`}, "198.51.100.1"},
		{"Forwarded IPv6 quoted with port", "10.1.2.3:5000", nil, []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded IPv6 quoted", "10.1.2.3:5000", nil, []string{`For="[2001:db8::1]"`}, "2001:db8::1"},
		{"Forwarded obfuscated", "10.1.2.3:5000", nil, []string{`for=_hidden`}, "10.1.2.3"},
		{"Forwarded element without for", "10.1.2.3:5000", nil, []string{`proto=https`}, "10.1.2.3"},
		{"Forwarded wins over X-Forwarded-For", "10.1.2.3:5000", []string{"1.1.1.1"}, []string{"for=198.51.100.1"}, "198.51.100.1"},
		{"IPv6 trusted peer", "[fd00::1]:443", []string{"2001:db8::5"}, nil, "2001:db8::5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.fwd {
				req.Header.Add("Forwarded", v)
			}
			if got := r.ClientIP(req); got != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
			var none *Resolver
			if got, want := none.ClientIP(req), r.ClientIP(&http.Request{RemoteAddr: tc.peer}); got != want {
				t.Errorf("nil resolver: %s, want the peer %s", got, want)
			}
		})
	}
}

func TestParseTrusted(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/8/8", "::ffff:1.2.3.4/200"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("ParseTrusted(%q) accepted", bad)
		}
	}
	r, err := ParseTrusted("::ffff:10.0.0.0/104")
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{RemoteAddr: "10.200.0.1:1", Header: http.Header{"X-Forwarded-For": {"198.51.100.1"}}}
	if got := r.ClientIP(req); got != "198.51.100.1" {
		t.Errorf("a mapped prefix trusts its IPv4 addresses: got %s", got)
	}
	if r, _ := ParseTrusted(""); r.ClientIP(req) != "10.200.0.1" {
		t.Error("an empty list trusts a proxy")
	}
}
