package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/sealed"
)

func listenCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("listen", "(-pin FINGERPRINT | -authority KEY -realm R) [flags]",
		"Connects as a client, prints its client ID, then every verified, decrypted message as\n"+
			"'<message id> <unicast|broadcast> <payload>', and acknowledges it once printed (with -out:\n"+
			"once appended to FILE and synced). Reconnects on its own. A message printed and not yet\n"+
			"acknowledged when listen is killed is printed again by the next listen on the same state.", stderr)
	var server, pin, authority, realm, identity, state, config, out, tokenFile, sealKey string
	var sealFrom listFlag
	var count int
	var timeout time.Duration
	var anonymous, manualAck bool
	fs.StringVar(&server, "server", "http://127.0.0.1:8080", "server URL (http(s):// or ws(s)://)")
	fs.StringVar(&pin, "pin", "", "fingerprint of the server key to pin (printed by 'sealfeed serve')")
	fs.StringVar(&authority, "authority", "", "authority public key (file, hex or base64), with -realm")
	fs.StringVar(&realm, "realm", "", "realm the server's credential must name")
	fs.StringVar(&identity, "identity", "", "client identity key file, created if missing (stable client ID)")
	fs.BoolVar(&anonymous, "anonymous", false, "connect without an identity key (client ID kept by resumption tickets)")
	fs.StringVar(&tokenFile, "token", "", "access token `FILE` from 'sealfeed token' (binary or base64), read for every handshake and refresh; needs -identity")
	fs.StringVar(&state, "state", "", "replay state file (default: next to -identity, else memory only)")
	fs.IntVar(&count, "count", 0, "exit after this many messages (0: run until interrupted)")
	fs.DurationVar(&timeout, "timeout", 0, "exit with an error if -count messages have not arrived by then")
	fs.StringVar(&out, "out", "", "also append each message to this file as '<id> <unicast|broadcast> <redelivery|first> <payload>'\n"+
		"and fsync it before acknowledging the message")
	fs.BoolVar(&manualAck, "manual-ack", false, "read messages from the channel and acknowledge each with Message.Ack once written\n"+
		"(default: a Handler that returns once the message is written, DLV-016)")
	fs.StringVar(&config, "config", "", "JSON config file keyed by flag name")
	fs.StringVar(&sealKey, "seal-key", "", "open end-to-end sealed payloads with the sealing key `FILE` from 'sealfeed seal-key'; needs -seal-from")
	fs.Var(&sealFrom, "seal-from", "a publisher key (file, hex or base64) whose sealed payloads to trust; repeatable")
	if err := parseFlags(fs, args, &config); err != nil {
		return err
	}
	// OPS-055: reconnects, with their reason and backoff, go to stderr;
	// stdout holds only the client ID and the messages.
	cfg := client.Config{URL: wsURL(server), StatePath: state,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	switch {
	case pin != "" && authority != "":
		return errors.New("use one of -pin and -authority")
	case pin != "":
		b, err := hex.DecodeString(pin)
		if err != nil || len(b) != 32 {
			return errors.New("-pin: want the 64-hex-digit fingerprint")
		}
		var id [32]byte
		copy(id[:], b)
		cfg.PinnedKeyID = &id
	case authority != "":
		if realm == "" {
			return errors.New("-authority needs -realm")
		}
		k, err := loadPublicKeyArg(authority)
		if err != nil {
			return fmt.Errorf("-authority: %w", err)
		}
		pk, err := keyfile.ParsePublic([]byte(hex.EncodeToString(k)))
		if err != nil {
			return err
		}
		cfg.Trust = &credential.Trust{Authority: pk, Realm: realm}
	default:
		return errors.New("-pin or -authority is required: the client must know whom to trust")
	}
	if identity != "" && anonymous {
		return errors.New("use one of -identity and -anonymous")
	}
	if identity != "" {
		k, created, err := keyfile.LoadOrCreatePrivate(identity)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stderr, "created identity key %s\n", identity)
		}
		cfg.Identity = k
		if cfg.StatePath == "" {
			cfg.StatePath = identity + ".state"
		}
	}
	if tokenFile != "" {
		if cfg.Identity == nil {
			return errors.New("-token needs -identity, the key the token binds")
		}
		cfg.TokenSource = func(context.Context) ([]byte, error) { return readTokenFile(tokenFile) }
	}
	if sealKey != "" {
		o, err := sealOpener(sealKey, sealFrom)
		if err != nil {
			return err
		}
		cfg.Sealing = o
	} else if len(sealFrom) > 0 {
		return errors.New("-seal-from needs -seal-key")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var outFile *os.File
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		outFile = f
	}
	// take prints and appends one message; an error leaves it
	// unacknowledged, to be handed over again after a restart.
	var mu sync.Mutex
	n := 0
	enough := make(chan struct{})
	take := func(m client.Message) error {
		mu.Lock()
		defer mu.Unlock()
		kind := "unicast"
		if m.Broadcast {
			kind = "broadcast"
		}
		switch {
		case m.Sealed:
			fmt.Fprintf(stdout, "%d %s sealed-by=%x %s\n", m.ID, kind, m.SealedBy, printable(m.Payload))
		case m.SealError != nil:
			fmt.Fprintf(stdout, "%d %s seal-error=%s\n", m.ID, kind, sealed.CodeOf(m.SealError))
		default:
			fmt.Fprintf(stdout, "%d %s %s\n", m.ID, kind, printable(m.Payload))
		}
		if outFile != nil {
			if err := appendMessage(outFile, m, kind); err != nil {
				return fmt.Errorf("-out: %w", err)
			}
		}
		if n++; count > 0 && n == count {
			close(enough)
		}
		return nil
	}
	if !manualAck {
		// DLV-016: acknowledged when the Handler returns nil, after the
		// line is written.
		cfg.Handler = func(_ context.Context, m client.Message) error { return take(m) }
	}
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	id := c.ClientID()
	mu.Lock() // the Handler may be writing already
	fmt.Fprintf(stdout, "client-id %s\n", hex.EncodeToString(id[:]))
	mu.Unlock()
	msgs := c.Messages()
	if !manualAck {
		msgs = nil
	}
	for {
		select {
		case <-ctx.Done():
			if count > 0 && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("received %d of %d messages before the timeout", n, count)
			}
			return nil
		case <-enough:
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			if err := take(m); err != nil {
				return err // not acknowledged: redelivered after a restart
			}
			// A crash before this Ack makes the next listen hand it
			// over again, marked.
			if err := m.Ack(); err != nil {
				fmt.Fprintf(stderr, "ack %d: %v\n", m.ID, err)
			}
		}
	}
}

// appendMessage appends one line '<id> <unicast|broadcast>
// <redelivery|first> <payload>' to f and syncs it, so that the line is on
// disk before the message is acknowledged.
func appendMessage(f *os.File, m client.Message, kind string) error {
	mark := "first"
	if m.PossibleRedelivery {
		mark = "redelivery"
	}
	if _, err := fmt.Fprintf(f, "%d %s %s %s\n", m.ID, kind, mark, printable(m.Payload)); err != nil {
		return err
	}
	return f.Sync()
}

// printable returns the payload as text when it is valid UTF-8 without
// control characters, else quoted.
func printable(b []byte) string {
	if utf8.Valid(b) {
		ok := true
		for _, r := range string(b) {
			if r < 0x20 || r == 0x7f {
				ok = false
				break
			}
		}
		if ok {
			return string(b)
		}
	}
	return strconv.Quote(string(b))
}
