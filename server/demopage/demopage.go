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
package demopage

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
)

//go:embed static
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
	return "default-src 'self'; connect-src " + connect + "; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
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
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", csp(r))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
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
