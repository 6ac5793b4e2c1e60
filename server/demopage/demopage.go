// Package demopage is the browser demo of a SealFeed node: a static page
// that connects to the node's own WebSocket endpoint with the TypeScript
// client (interop/ts, bundled into static/sealfeed-client.js by
// `npm run bundle` there) and shows every verified, decrypted message.
//
// The page learns the server key to pin from GET /v1/server on its own
// origin. That is only acceptable for a demo served by the same server it
// connects to: whoever controls the origin controls the pin, so the pin
// adds nothing over the transport. Real clients get the key fingerprint
// out of band.
//
// AppHandler is the page of an app with logged-in users (`sealfeed demo
// -browser`): one user with two devices, each a key-identified client that
// gets a connect token from the app's back end. It is served by the app,
// not by the node: the app logs its users in and ships the pin with its
// code, as a real web app does, and the node is another origin that the
// page reaches only by WebSocket.
package demopage

import (
	"embed"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed static app
var static embed.FS

// contentTypes are the types of the embedded files, independent of the
// system's MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// hostRE is what a Host header must look like to be named in the
// Content-Security-Policy (host name, IPv4 or bracketed IPv6, optional port).
var hostRE = regexp.MustCompile(`^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// csp is the policy of every answer. connect-src names the WebSocket URLs
// of the page's own host explicitly: 'self' covers ws(s) of the same host
// only in browsers implementing CSP Level 3.
func csp(r *http.Request) string {
	connect := "'self'"
	if hostRE.MatchString(r.Host) {
		connect += " ws://" + r.Host + " wss://" + r.Host
	}
	return policy(connect)
}

func policy(connect string) string {
	return "default-src 'self'; connect-src " + connect + "; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// setHeaders sets the headers of every answer and refuses methods other
// than GET and HEAD; false when it answered.
func setHeaders(w http.ResponseWriter, r *http.Request, csp string) bool {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

// appFiles are the files of the app page: its own, and the bundle, style
// sheet and icon it shares with the node's page.
var appFiles = map[string]string{
	"/":                   "app/index.html",
	"/user.js":            "app/user.js",
	"/user.css":           "app/user.css",
	"/style.css":          "static/style.css",
	"/sealfeed-client.js": "static/sealfeed-client.js",
	"/favicon.svg":        "static/favicon.svg",
}

// AppHandler serves the app page for a node whose WebSocket endpoint is
// nodeWS (ws:// or wss://); the page's Content-Security-Policy lets it
// connect to its own origin (the app's API) and to that endpoint's origin
// only. The app's API (/api/login, /api/notify, /api/config, /api/events,
// examples/slowbusiness) is mounted beside it by the caller. Same headers
// and methods as Handler; paths other than the page's files are 404.
func AppHandler(nodeWS string) http.Handler {
	connect := "'self'"
	if u, err := url.Parse(nodeWS); err == nil && (u.Scheme == "ws" || u.Scheme == "wss") && hostRE.MatchString(u.Host) {
		connect += " " + u.Scheme + "://" + u.Host
	}
	p := policy(connect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !setHeaders(w, r, p) {
			return
		}
		name, ok := appFiles[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := static.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", contentTypes[path.Ext(name)])
		http.ServeContent(w, r, name, time.Time{}, f.(io.ReadSeeker))
	})
}

// Handler serves the page's files from the root of the path it is mounted
// at, e.g. http.StripPrefix("/demo/", demopage.Handler()) on "/demo/".
// Only GET and HEAD; unknown paths are 404. Every answer has
// Cache-Control: no-store, a strict Content-Security-Policy and
// X-Content-Type-Options: nosniff.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !setHeaders(w, r, csp(r)) {
			return
		}
		h := w.Header()
		p := r.URL.Path
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		name := path.Clean(p)
		if strings.HasSuffix(p, "/") {
			name = path.Join(name, "index.html")
		}
		// 404 here rather than from the FileServer, which drops Cache-Control on errors
		if st, err := fs.Stat(sub, strings.TrimPrefix(name, "/")); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		if ct, ok := contentTypes[path.Ext(name)]; ok {
			h.Set("Content-Type", ct)
		}
		files.ServeHTTP(w, r)
	})
}
