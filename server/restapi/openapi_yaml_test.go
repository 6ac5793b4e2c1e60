package restapi

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The OpenAPI document must be a YAML document an OpenAPI tool can load:
// the text tests above read it line by line and cannot see, for example, a
// plain scalar whose ": " makes it an invalid mapping. Every local $ref must
// point at something in the document.
func TestOpenAPIIsValidYAMLAndRefsResolve(t *testing.T) {
	b, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not valid YAML: %v", openAPIFile, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi: %q, want 3.x", v)
	}
	for _, k := range []string{"info", "paths", "components"} {
		if _, ok := doc[k].(map[string]any); !ok {
			t.Fatalf("no %s object", k)
		}
	}
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}
	for _, r := range refs {
		p, ok := strings.CutPrefix(r, "#/")
		if !ok {
			t.Errorf("$ref %q is not local", r)
			continue
		}
		var cur any = doc
		for _, part := range strings.Split(p, "/") {
			part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		if cur == nil {
			t.Errorf("$ref %q points at nothing", r)
		}
	}
}
