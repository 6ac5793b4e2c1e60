package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/restapi"
)

// DLV-022: a draining node refuses publishes with 503 and Retry-After
// before it checks their signature, and reports 503 on /healthz so that a
// load balancer stops sending; status queries keep working. The publisher
// library retries a 503; a publish answered 503 stored nothing.
func TestDrainingNodeRefusesPublishes(t *testing.T) {
	tn := startNode(t, t.TempDir(), 1, nil)
	p := tn.pubs[0]
	p.Retries = -1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var to [32]byte
	to[0] = 1
	before, err := p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("before")}, "")
	if err != nil {
		t.Fatal(err)
	}
	tn.API.Drain()
	_, err = p.Publish(ctx, publisher.Message{To: [][32]byte{to}, Payload: []byte("during")}, "")
	var pr *publisher.Problem
	if !errors.As(err, &pr) || pr.Status != 503 {
		t.Fatalf("publish while draining: %v, want a 503 problem", err)
	}
	req, _ := http.NewRequest("POST", tn.base+"/v1/messages/bulk", nil) // unsigned: refused before the signature check
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != restapi.RetryAfterDraining {
		t.Fatalf("publish while draining: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, err = http.Get(tn.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/healthz while draining: %d, want 503", resp.StatusCode)
	}
	st, err := p.Status(ctx, before.Messages[0].ID)
	if err != nil || st.State != "pending" {
		t.Fatalf("status while draining: %v, %+v", err, st)
	}
	pr2, err := p.Presence(ctx, to)
	if err != nil || pr2.Pending != 1 {
		t.Fatalf("presence while draining: %v, %+v; want 1 pending (the refused publish stored nothing)", err, pr2)
	}
}
