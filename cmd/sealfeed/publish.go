package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/publisher"
	"github.com/sealfeed/sealfeed/server/restapi"
)

func publishCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", "-key FILE (-to ID[,ID…] | -to-user USER …) [-text T | -file F | -] | -status MSGID | -presence ID)",
		"Signs a request with a publisher key (RFC 9421, spec/api.md) and sends it: publish one\n"+
			"message to one client or a broadcast to several, or to every known device of users\n"+
			"(-to-user, API-090), or ask for a message's status or a\n"+
			"client's presence. Prints the server's JSON answer.", stderr)
	var to listFlag
	var toUser userFlag
	var server, key, text, file, status, presence, idem, config, sealTo string
	var ttl, timeout time.Duration
	fs.StringVar(&server, "server", "http://127.0.0.1:8080", "server base URL")
	fs.StringVar(&key, "key", "", "publisher private key file (PEM)")
	fs.Var(&to, "to", "recipient client ID (64 hex digits); repeatable or comma-separated; several = broadcast")
	fs.Var(&toUser, "to-user", "recipient user (an access token's subject): every device of the user the server knows; repeatable (API-090)")
	fs.StringVar(&text, "text", "", "message text")
	fs.StringVar(&file, "file", "", "read the payload from a file ('-' for standard input)")
	fs.DurationVar(&ttl, "ttl", 0, "time to live (default: the server's, 24h)")
	fs.StringVar(&idem, "idempotency-key", "", "Idempotency-Key (default: a random one, reused for retries)")
	fs.StringVar(&status, "status", "", "print the status of this message ID instead of publishing")
	fs.StringVar(&presence, "presence", "", "print the presence of this client ID instead of publishing")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "overall time limit")
	fs.StringVar(&config, "config", "", "JSON config file keyed by flag name")
	fs.StringVar(&sealTo, "seal-to", "", "seal the payload end to end to the client's key record `FILE` (from 'sealfeed seal-key'; checked against -to, one client)")
	// A lone "-" asks for the payload from standard input; flags may come
	// before and after it. The flag package stops at it, so parse on.
	fromStdin := false
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 || fs.Arg(0) != "-" {
			break
		}
		fromStdin = true
		rest = fs.Args()[1:]
	}
	if err := parseFlags(fs, fs.Args(), &config); err != nil {
		return err
	}
	if fromStdin {
		if file != "" && file != "-" || text != "" {
			return errors.New("use one of -text, -file and -")
		}
		file = "-"
	}
	if key == "" {
		return errors.New("-key is required")
	}
	k, err := keyfile.LoadPrivate(key)
	if err != nil {
		return err
	}
	p := publisher.New(server, k)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out any
	switch {
	case status != "":
		out, err = p.Status(ctx, status)
	case presence != "":
		id, perr := restapi.ParseClientID(presence)
		if perr != nil {
			return fmt.Errorf("-presence: %w", perr)
		}
		out, err = p.Presence(ctx, id)
	default:
		if (len(to) == 0) == (len(toUser) == 0) {
			return errors.New("give one of -to and -to-user (or -status / -presence)")
		}
		m := publisher.Message{TTL: ttl, ToUser: toUser}
		for _, s := range to {
			id, err := restapi.ParseClientID(s)
			if err != nil {
				return fmt.Errorf("-to %s: %w", s, err)
			}
			m.To = append(m.To, id)
		}
		switch {
		case text != "" && file != "":
			return errors.New("use one of -text and -file")
		case text != "":
			m.Payload = []byte(text)
		case file == "-":
			if m.Payload, err = io.ReadAll(io.LimitReader(stdin, 1<<20)); err != nil {
				return err
			}
		case file != "":
			if m.Payload, err = os.ReadFile(file); err != nil {
				return err
			}
		default:
			return errors.New("give the payload with -text or -file")
		}
		if sealTo != "" {
			if m.Payload, err = sealPayload(sealTo, m.To, p, m.Payload); err != nil {
				return err
			}
		}
		out, err = p.Publish(ctx, m, idem)
	}
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return nil
}

// wsURL turns a server base URL into its WebSocket endpoint URL.
func wsURL(base string) string {
	switch {
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case !strings.HasPrefix(base, "ws://") && !strings.HasPrefix(base, "wss://"):
		base = "ws://" + base
	}
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "/v1/ws") {
		base += "/v1/ws"
	}
	return base
}

// userFlag collects -to-user values, one user each: a user name may hold
// a comma.
type userFlag []string

func (u *userFlag) String() string     { return strings.Join(*u, " ") }
func (u *userFlag) Set(v string) error { *u = append(*u, v); return nil }
