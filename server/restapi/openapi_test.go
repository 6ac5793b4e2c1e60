package restapi

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The OpenAPI document of this API (spec/api/openapi.yaml) must describe
// every route New registers and every problem the handlers send. These
// tests read the document as text (openapi_yaml_test.go parses it): the path items
// are the keys one level under the top-level "paths:", their operations the
// HTTP-method keys one level further in; each problem is an example object
// whose value — type and status — sits on one line (the document says so in
// a comment above components/examples).

const (
	openAPIFile = "../../spec/api/openapi.yaml"
	sourceFile  = "restapi.go"
)

// apiRoutes are the routes New registers, as "METHOD path" patterns of
// net/http.ServeMux. TestOpenAPIRouteTableMatchesNew keeps the table in step
// with restapi.go.
var apiRoutes = []struct{ method, path string }{
	{"POST", "/v1/messages"},
	{"POST", "/v1/messages/bulk"},
	{"GET", "/v1/messages/{id}"},
	{"GET", "/v1/clients/{id}"},
	{"GET", "/v1/server"},
	{"GET", "/v1/server/credential"},
	{"GET", "/v1/server/revocation-list"},
	{"GET", "/healthz"},
	{"GET", "/readyz"},
	{"GET", "/metrics"},
}

// otherRoutes are served next to the API on the node's mux (server.New):
// the WebSocket endpoint of server/wsapi at server.WebSocketPath.
var otherRoutes = []struct{ method, path string }{
	{"GET", "/v1/ws"},
}

var (
	handleFuncRE = regexp.MustCompile(`a\.mux\.HandleFunc\("([A-Z]+) ([^"]+)"`)
	// problemCallRE matches writeProblem(w, <status>, "<name>", … calls.
	problemCallRE = regexp.MustCompile(`writeProblem\(w, ([0-9]{3}), "([a-z0-9-]+)"`)
	httpMethods   = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true,
		"head": true, "patch": true, "trace": true}
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// yamlKey returns the key of a line "key:" with nothing after the colon,
// unquoted.
func yamlKey(line string) (string, bool) {
	s := strings.TrimSpace(line)
	if !strings.HasSuffix(s, ":") || strings.HasPrefix(s, "- ") {
		return "", false
	}
	s = strings.TrimSuffix(s, ":")
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		s = s[1 : len(s)-1]
	}
	return s, s != ""
}

// openAPIOperations returns, per path item under the top-level "paths:",
// the set of its operations' methods in upper case.
func openAPIOperations(doc string) map[string]map[string]bool {
	ops := map[string]map[string]bool{}
	inPaths := false
	pathIndent, opIndent := -1, -1
	cur := ""
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if trimmed := strings.TrimSpace(line); trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		ind := indentOf(line)
		if ind == 0 {
			inPaths = line == "paths:"
			cur = ""
			continue
		}
		if !inPaths {
			continue
		}
		if pathIndent < 0 {
			pathIndent = ind
		}
		switch {
		case ind == pathIndent:
			cur = ""
			if k, ok := yamlKey(line); ok && strings.HasPrefix(k, "/") {
				cur = k
				ops[cur] = map[string]bool{}
			}
		case cur != "" && ind > pathIndent:
			if opIndent < 0 {
				opIndent = ind
			}
			if k, ok := yamlKey(line); ok && ind == opIndent && httpMethods[k] {
				ops[cur][strings.ToUpper(k)] = true
			}
		}
	}
	return ops
}

// missingRoutes lists the routes that doc does not document as an
// operation of a path item.
func missingRoutes(doc string, routes []struct{ method, path string }) []string {
	ops := openAPIOperations(doc)
	var out []string
	for _, r := range routes {
		if m, ok := ops[r.path]; !ok {
			out = append(out, fmt.Sprintf("%s %s: no path item %q under paths", r.method, r.path, r.path))
		} else if !m[r.method] {
			out = append(out, fmt.Sprintf("%s %s: path item has no %s operation", r.method, r.path, strings.ToLower(r.method)))
		}
	}
	return out
}

type problemUse struct {
	status, name string
}

// problemsUsed returns the distinct (status, name) pairs of the
// writeProblem calls in src, and how many writeProblem calls it holds.
func problemsUsed(src string) (uses []problemUse, calls int) {
	seen := map[problemUse]bool{}
	for _, m := range problemCallRE.FindAllStringSubmatch(src, -1) {
		u := problemUse{m[1], m[2]}
		if !seen[u] {
			seen[u] = true
			uses = append(uses, u)
		}
	}
	calls = strings.Count(src, "writeProblem(") - strings.Count(src, "func (a *API) writeProblem(")
	return uses, calls
}

// missingProblems lists the problems that doc does not document: each
// needs a line holding its quoted type URI with "status: <status>", and
// its status as a response code somewhere.
func missingProblems(doc string, uses []problemUse) []string {
	lines := strings.Split(doc, "\n")
	var out []string
	for _, u := range uses {
		uri := `"` + ProblemBase + u.name + `"`
		statusRE := regexp.MustCompile(`\bstatus: ` + u.status + `\b`)
		found, paired := false, false
		for _, l := range lines {
			if strings.Contains(l, uri) {
				found = true
				paired = paired || statusRE.MatchString(l)
			}
		}
		switch {
		case !found:
			out = append(out, fmt.Sprintf("problem %s (%s): type %s not in the document", u.name, u.status, uri))
		case !paired:
			out = append(out, fmt.Sprintf("problem %s (%s): no line with type %s and status: %s", u.name, u.status, uri, u.status))
		}
		if !strings.Contains(doc, "'"+u.status+"':") {
			out = append(out, fmt.Sprintf("problem %s (%s): no response with status '%s'", u.name, u.status, u.status))
		}
	}
	return out
}

// TestOpenAPIRouteTableMatchesNew checks that apiRoutes lists exactly the
// routes New registers in restapi.go.
func TestOpenAPIRouteTableMatchesNew(t *testing.T) {
	src := readFile(t, sourceFile)
	inSource := map[string]bool{}
	for _, m := range handleFuncRE.FindAllStringSubmatch(src, -1) {
		inSource[m[1]+" "+m[2]] = true
	}
	if n := strings.Count(src, "a.mux.Handle"); n != len(inSource) {
		t.Errorf("restapi.go has %d a.mux.Handle… calls but %d distinct \"METHOD path\" patterns were recognised", n, len(inSource))
	}
	inTable := map[string]bool{}
	for _, r := range apiRoutes {
		inTable[r.method+" "+r.path] = true
		if !inSource[r.method+" "+r.path] {
			t.Errorf("apiRoutes lists %s %s, which New does not register", r.method, r.path)
		}
	}
	for r := range inSource {
		if !inTable[r] {
			t.Errorf("New registers %s, which apiRoutes does not list", r)
		}
	}
}

// TestOpenAPIDocumentsEveryRoute checks that every route of New, and the
// WebSocket endpoint, is an operation in openapi.yaml.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := readFile(t, openAPIFile)
	if !strings.HasPrefix(doc, "openapi: 3.1.") {
		t.Errorf("%s does not start with \"openapi: 3.1.x\"", openAPIFile)
	}
	if len(openAPIOperations(doc)) == 0 {
		t.Fatalf("%s: no path items found under paths:", openAPIFile)
	}
	for _, m := range missingRoutes(doc, append(apiRoutes[:len(apiRoutes):len(apiRoutes)], otherRoutes...)) {
		t.Errorf("%s: %s", openAPIFile, m)
	}
}

// TestOpenAPIDocumentsEveryProblem checks that every problem restapi.go
// sends is documented in openapi.yaml with its status.
func TestOpenAPIDocumentsEveryProblem(t *testing.T) {
	uses, calls := problemsUsed(readFile(t, sourceFile))
	if len(uses) < 15 {
		t.Fatalf("found only %d distinct problems in %s; has the writeProblem call shape changed?", len(uses), sourceFile)
	}
	if n := len(problemCallRE.FindAllString(readFile(t, sourceFile), -1)); n != calls {
		t.Errorf("%s has %d writeProblem calls but %d match %v", sourceFile, calls, n, problemCallRE)
	}
	doc := readFile(t, openAPIFile)
	for _, m := range missingProblems(doc, uses) {
		t.Errorf("%s: %s", openAPIFile, m)
	}
	// users.go: user addressing (API-090 … API-093).
	uses, calls = problemsUsed(readFile(t, "users.go"))
	if len(uses) != 2 || len(problemCallRE.FindAllString(readFile(t, "users.go"), -1)) != calls {
		t.Errorf("users.go: %d distinct problems, %d calls; has the writeProblem call shape changed?", len(uses), calls)
	}
	for _, m := range missingProblems(doc, uses) {
		t.Errorf("%s: %s", openAPIFile, m)
	}
}

// TestOpenAPICheckersDetectOmissions deletes lines from an in-memory copy
// of openapi.yaml and expects the checks above to notice.
func TestOpenAPICheckersDetectOmissions(t *testing.T) {
	doc := readFile(t, openAPIFile)
	uses, _ := problemsUsed(readFile(t, sourceFile))
	routes := append(apiRoutes[:len(apiRoutes):len(apiRoutes)], otherRoutes...)
	if len(missingRoutes(doc, routes)) != 0 || len(missingProblems(doc, uses)) != 0 {
		t.Skip("the document misses routes or problems already; the tests above report them")
	}
	lines := strings.Split(doc, "\n")
	without := func(pred func(i int, l string) bool) string {
		var keep []string
		removed := 0
		for i, l := range lines {
			if pred(i, l) {
				removed++
				continue
			}
			keep = append(keep, l)
		}
		if removed == 0 {
			t.Fatal("test setup: no line removed")
		}
		return strings.Join(keep, "\n")
	}
	// The operation line under /v1/messages/bulk.
	bulk := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "/v1/messages/bulk:" {
			bulk = i
			break
		}
	}
	if bulk < 0 {
		t.Fatal("no /v1/messages/bulk path item")
	}
	noBulkPost := without(func(i int, l string) bool { return i == bulk+1 && strings.TrimSpace(l) == "post:" })
	if m := missingRoutes(noBulkPost, routes); len(m) != 1 || !strings.Contains(m[0], "POST /v1/messages/bulk") {
		t.Errorf("without the bulk post line: got %q, want one complaint about POST /v1/messages/bulk", m)
	}
	noHealth := without(func(_ int, l string) bool { return strings.TrimSpace(l) == "/healthz:" })
	if m := missingRoutes(noHealth, routes); len(m) == 0 {
		t.Error("without the /healthz line: no complaint")
	}
	// The example of one problem.
	uri := `"` + ProblemBase + "too-many-pending" + `"`
	noTooMany := without(func(_ int, l string) bool { return strings.Contains(l, uri) })
	if m := missingProblems(noTooMany, uses); len(m) != 1 || !strings.Contains(m[0], "too-many-pending") {
		t.Errorf("without the too-many-pending example: got %q, want one complaint about it", m)
	}
	// A wrong status for a problem.
	wrong := strings.Replace(doc, uri+`, title: "A recipient has too many unacknowledged messages", status: 429`,
		uri+`, title: "A recipient has too many unacknowledged messages", status: 503`, 1)
	if wrong == doc {
		t.Fatal("test setup: too-many-pending example not found")
	}
	if m := missingProblems(wrong, uses); len(m) != 1 || !strings.Contains(m[0], "status: 429") {
		t.Errorf("with status 503 for too-many-pending: got %q, want one complaint about it", m)
	}
}
