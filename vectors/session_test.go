package vectors_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/record"
	"github.com/sealfeed/sealfeed/protocol/session"
	"github.com/sealfeed/sealfeed/protocol/wire"
	"github.com/sealfeed/sealfeed/vectors"
)

func init() { runners["session"] = runSession }

func runSession(t *testing.T, file string) {
	f := load[vectors.SessionGroup](t, file)
	for _, g := range f.TestGroups {
		role := session.Client
		if g.Role == "server" {
			role = session.Server
		}
		for _, tc := range g.Tests {
			sealer, err := record.NewSealer(g.AEAD, g.SendSecret)
			if err != nil {
				t.Fatal(err)
			}
			opener, err := record.NewOpener(g.AEAD, g.ReceiveSecret)
			if err != nil {
				t.Fatal(err)
			}
			s := session.New(role, sealer, opener)
			if role == session.Client {
				s.MarkWelcomed() // the handshake consumed Welcome
			}
			var last error
			for i, st := range tc.Steps {
				msgs, err := s.Open(bytes.Clone(st.Frame))
				last = err
				got := "accept"
				if err != nil {
					c, _ := alert.CodeOf(err)
					got = c.String()
				}
				if got != st.Result {
					t.Errorf("tcId %d (%s): step %d: %s (%v), want %s", tc.TcID, tc.Comment, i, got, err, st.Result)
				}
				if err != nil {
					continue
				}
				if len(msgs) != len(st.Messages) {
					t.Errorf("tcId %d: step %d: %d messages, want %d", tc.TcID, i, len(msgs), len(st.Messages))
				} else {
					for j, m := range msgs {
						equal(t, &tc.Test, fmt.Sprintf("step %d message %d", i, j), wire.AppendMessage(nil, m.Type, m.Body), st.Messages[j])
					}
				}
				ans := s.Pending()
				if len(ans) != len(st.Answers) {
					t.Errorf("tcId %d: step %d: %d answers, want %d", tc.TcID, i, len(ans), len(st.Answers))
				} else {
					for j := range ans {
						equal(t, &tc.Test, fmt.Sprintf("step %d answer %d", i, j), ans[j], st.Answers[j])
					}
				}
			}
			outcome(t, &tc.Test, last)
		}
	}
}
