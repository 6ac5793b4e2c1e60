package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// webhookVectorDriver runs the guide's verify_webhook over every test of a
// webhook vector file: a valid one must return, an invalid one raise
// ValueError.
const webhookVectorDriver = `import base64, json, sys
from verify_webhook import verify_webhook

f = json.load(open(sys.argv[1]))
bad = 0
for g in f["testGroups"]:
    pub = base64.b64encode(bytes.fromhex(g["publicKey"])).decode()
    for t in g["tests"]:
        headers = [(h["name"], h["value"]) for h in t["headers"]]
        try:
            verify_webhook(t["method"], t["targetUri"], headers, bytes.fromhex(t["body"]), g["keyId"], pub, int(g["now"]))
            ok, why = True, ""
        except ValueError as e:
            ok, why = False, e
        if ok != (t["result"] == "valid"):
            bad += 1
            print("tcId %d (%s): %s" % (t["tcId"], t["comment"], "accepted" if ok else why))
print("%d wrong" % bad)
sys.exit(1 if bad else 0)
`

// TestWebhookGuideSnippet: API-104, API-105. The Python receiver of
// docs/publishing.md ("Receiving webhooks"), unchanged, accepts every
// valid test of vectors/v1/webhook.json and refuses every invalid one
// (body or digest changed, another key, tag, missing components, stale,
// duplicate labels, the publisher profile).
func TestWebhookGuideSnippet(t *testing.T) {
	py := "python3"
	if err := exec.Command(py, "-c", "import cryptography").Run(); err != nil {
		if _, serr := os.Stat("/usr/bin/python3"); serr == nil {
			py = "/usr/bin/python3"
		}
	}
	py = needTool(t, py, "python3-cryptography", "-c", "import cryptography")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "verify_webhook.py"), []byte(guideSnippet(t, "python-webhook")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.py"), []byte(webhookVectorDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	vectors, err := filepath.Abs(filepath.Join("..", "..", "vectors", "v1", "webhook.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "run.py", vectors)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Python webhook snippet against the vectors: %v\n%s", err, out)
	}
}
