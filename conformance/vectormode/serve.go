package vectormode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// maxLine bounds one protocol line (requests and answers alike).
const maxLine = 64 << 20

// hello is the first line of each side.
type hello struct {
	Hello          *string `json:"hello"`
	Implementation *string `json:"implementation,omitempty"`
}

// request is one test sent to the shim.
type request struct {
	ID    string          `json:"id"`
	Area  string          `json:"area"`
	Group json.RawMessage `json:"group"`
	Test  json.RawMessage `json:"test"`
}

// answerLine is the shim's answer to one request.
type answerLine struct {
	ID      string         `json:"id"`
	Result  string         `json:"result"`
	Alert   string         `json:"alert"`
	Outputs map[string]any `json:"outputs"`
}

// readLine reads one line without its terminator; the last line may lack
// one. It returns io.EOF at the end and an error for a line over max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, fmt.Errorf("a line longer than %d bytes", max)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// Serve is the shim side of the protocol: it answers the hello line with
// name, then runs exec for every request it reads from r and writes each
// answer to w as soon as it is computed, until r ends. exec gets a request's
// area, group and stripped test and returns the result ("valid", "invalid"
// or "unimplemented"), the alert name of an invalid result, and the outputs
// (nil for none); vectors/run.Case is such a function. exec is called from
// several goroutines at once, so answers may come out of order, as the
// protocol allows.
//
// Serve returns nil when r ends, and an error for a first line that is not
// a hello, a hello of another protocol version (after answering it with
// this one), a malformed request line, outputs that do not encode as JSON,
// or a failed read or write.
func Serve(r io.Reader, w io.Writer, name string, exec func(area string, group, test json.RawMessage) (result, alert string, outputs map[string]any)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var first []byte
	for len(bytes.TrimSpace(first)) == 0 {
		var err error
		if first, err = readLine(br, maxLine); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the runner went away before saying hello
			}
			return fmt.Errorf("vectormode: reading the hello line: %w", err)
		}
	}
	var h hello
	if err := json.Unmarshal(first, &h); err != nil || h.Hello == nil {
		return fmt.Errorf("vectormode: the first line is not a hello: %.200q", first)
	}
	v, impl := Version, name
	b, _ := json.Marshal(hello{Hello: &v, Implementation: &impl})
	var wmu sync.Mutex
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("vectormode: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("vectormode: %w", err)
	}
	if *h.Hello != Version {
		return fmt.Errorf("vectormode: the runner speaks %q, this shim %q", *h.Hello, Version)
	}

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		werr    error
	)
	fail := func(err error) { errOnce.Do(func() { werr = err }) }
	reqs := make(chan request)
	for range max(runtime.GOMAXPROCS(0), 1) {
		wg.Go(func() {
			for req := range reqs {
				res, al, out := exec(req.Area, req.Group, req.Test)
				if out == nil {
					out = map[string]any{}
				}
				line, err := json.Marshal(answerLine{ID: req.ID, Result: res, Alert: al, Outputs: out})
				if err != nil {
					fail(fmt.Errorf("vectormode: the answer to %s does not encode: %w", req.ID, err))
					continue
				}
				wmu.Lock()
				_, err = bw.Write(append(line, '\n'))
				if err == nil {
					err = bw.Flush()
				}
				wmu.Unlock()
				if err != nil {
					fail(fmt.Errorf("vectormode: writing answers: %w", err))
				}
			}
		})
	}
	var rerr error
	for {
		line, err := readLine(br, maxLine)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = fmt.Errorf("vectormode: reading requests: %w", err)
			}
			break
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil || req.ID == "" {
			rerr = fmt.Errorf("vectormode: malformed request line %.200q", line)
			break
		}
		reqs <- req
	}
	close(reqs)
	wg.Wait()
	if rerr != nil {
		return rerr
	}
	return werr
}
