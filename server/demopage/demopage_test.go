package demopage

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/demo/", http.StripPrefix("/demo/", Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func checkSecurityHeaders(t *testing.T, path string, h http.Header, host string) {
	t.Helper()
	if got := h.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", path, got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", path, got)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'self'",
		"connect-src 'self' ws://" + host + " wss://" + host + ";",
		"object-src 'none'",
		"frame-ancestors 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "*") {
		t.Errorf("%s: Content-Security-Policy %q is not strict", path, csp)
	}
}

func TestServesFiles(t *testing.T) {
	srv := newServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/demo/", "text/html; charset=utf-8", `<code id="client-id"`},
		{"/demo/app.js", "text/javascript; charset=utf-8", "from './sealfeed-client.js'"},
		{"/demo/sealfeed-client.js", "text/javascript; charset=utf-8", "GENERATED FILE - DO NOT EDIT"},
		{"/demo/style.css", "text/css; charset=utf-8", "#messages"},
	} {
		res, body := get(t, http.MethodGet, srv.URL+tc.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		checkSecurityHeaders(t, tc.path, res.Header, host)
	}
}

func TestPageContents(t *testing.T) {
	srv := newServer(t)
	_, html := get(t, http.MethodGet, srv.URL+"/demo/")
	for _, want := range []string{`id="messages"`, `id="status"`, `src="app.js"`, "only acceptable for a demo served by the same server"} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	// a strict CSP allows no inline script or style
	for _, bad := range []string{"<script>", "<style", " style=", " onclick="} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q, which the Content-Security-Policy blocks", bad)
		}
	}
	_, app := get(t, http.MethodGet, srv.URL+"/demo/app.js")
	for _, want := range []string{"'/v1/server'", "/v1/ws", "only\n// acceptable for a demo", "sealfeed publish"} {
		if !strings.Contains(strings.ReplaceAll(app, "\n  // ", "\n// "), want) && !strings.Contains(app, want) {
			t.Errorf("app.js lacks %q", want)
		}
	}
}

func TestNotFound(t *testing.T) {
	srv := newServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, p := range []string{"/demo/nope.js", "/demo/static/app.js", "/demo/index.htm", "/demo/sub/", "/demo/static/"} {
		res, _ := get(t, http.MethodGet, srv.URL+p)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); strings.Contains(ct, "javascript") {
			t.Errorf("GET %s: 404 with Content-Type %q", p, ct)
		}
		checkSecurityHeaders(t, p, res.Header, host)
	}
}

func TestNoEscape(t *testing.T) {
	for _, p := range []string{"../go.mod", "/../demopage.go", "..", "static/index.html"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path = p
		w := httptest.NewRecorder()
		Handler().ServeHTTP(w, r)
		if w.Code != http.StatusNotFound {
			t.Errorf("path %q: %d, want 404", p, w.Code)
		}
	}
}

func TestMethods(t *testing.T) {
	srv := newServer(t)
	res, body := get(t, http.MethodHead, srv.URL+"/demo/app.js")
	if res.StatusCode != http.StatusOK || body != "" || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD app.js: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	res, _ = get(t, http.MethodPost, srv.URL+"/demo/app.js")
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST app.js: %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
}

func TestCSPHost(t *testing.T) {
	for host, want := range map[string]string{
		"example.org":       "connect-src 'self' ws://example.org wss://example.org;",
		"127.0.0.1:8080":    "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;",
		"[::1]:8080":        "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080;",
		"evil;script-src *": "connect-src 'self';",
		"a b":               "connect-src 'self';",
		"":                  "connect-src 'self';",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		if got := csp(r); !strings.Contains(got, want) {
			t.Errorf("Host %q: %q lacks %q", host, got, want)
		}
	}
}

// The app page (sealfeed demo -browser) is served with the same headers; its
// policy lets it connect to its own origin and to the node's WebSocket
// origin, nothing else.
func TestAppHandler(t *testing.T) {
	srv := httptest.NewServer(AppHandler("ws://127.0.0.1:4242/v1/ws"))
	defer srv.Close()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `id="device-laptop"`},
		{"/user.js", "text/javascript; charset=utf-8", "from './sealfeed-client.js'"},
		{"/user.css", "text/css; charset=utf-8", ".devices"},
		{"/sealfeed-client.js", "text/javascript; charset=utf-8", "GENERATED FILE - DO NOT EDIT"},
		{"/style.css", "text/css; charset=utf-8", ".card"},
	} {
		res, body := get(t, http.MethodGet, srv.URL+tc.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		if !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "connect-src 'self' ws://127.0.0.1:4242;") || strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", tc.path, res.Header)
		}
	}
	_, html := get(t, http.MethodGet, srv.URL+"/")
	for _, bad := range []string{"<script>", "<style", " style=", " onclick="} {
		if strings.Contains(html, bad) {
			t.Errorf("app index.html contains %q, which the Content-Security-Policy blocks", bad)
		}
	}
	for _, p := range []string{"/index.html", "/app.js", "/app/user.js", "/static/style.css", "/../demopage.go", "/nope"} {
		if res, _ := get(t, http.MethodGet, srv.URL+p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	if res, _ := get(t, http.MethodPost, srv.URL+"/"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", res.StatusCode)
	}
	// the node's page does not serve the app's files
	node := newServer(t)
	if res, _ := get(t, http.MethodGet, node.URL+"/demo/user.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("the node's /demo/ serves user.js: %d", res.StatusCode)
	}
	// a node URL that could smuggle a directive is left out
	for _, u := range []string{"ws://evil;script-src */v1/ws", "ws://a;script-src:1/v1/ws", "ws://x'unsafe-eval'/v1/ws", "http://127.0.0.1:1/v1/ws", "javascript:alert(1)"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		AppHandler(u).ServeHTTP(w, r)
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") {
			t.Errorf("node URL %q: %q", u, csp)
		}
	}
}
