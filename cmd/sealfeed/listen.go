package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sealfeed/sealfeed/client"
	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/credential"
)

func listenCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("listen", "(-pin FINGERPRINT | -authority KEY -realm R) [flags]",
		"Connects as a client, prints its client ID, then every verified, decrypted message as\n"+
			"'<message id> <unicast|broadcast> <payload>', and acknowledges it. Reconnects on its own.\n"+
			"With -out it also appends '<message id> <unicast|broadcast> <redelivery|first> <payload>'\n"+
			"to a file and syncs it before the message is acknowledged.", stderr)
	var server, pin, authority, realm, identity, state, config, out string
	var count int
	var timeout time.Duration
	var anonymous, manualAck bool
	fs.StringVar(&server, "server", "http://127.0.0.1:8080", "server URL (http(s):// or ws(s)://)")
	fs.StringVar(&pin, "pin", "", "fingerprint of the server key to pin (printed by 'sealfeed serve')")
	fs.StringVar(&authority, "authority", "", "authority public key (file, hex or base64), with -realm")
	fs.StringVar(&realm, "realm", "", "realm the server's credential must name")
	fs.StringVar(&identity, "identity", "", "client identity key file, created if missing (stable client ID)")
	fs.BoolVar(&anonymous, "anonymous", false, "connect without an identity key (client ID kept by resumption tickets)")
	fs.StringVar(&state, "state", "", "replay state file (default: next to -identity, else memory only)")
	fs.IntVar(&count, "count", 0, "exit after this many messages (0: run until interrupted)")
	fs.DurationVar(&timeout, "timeout", 0, "exit with an error if -count messages have not arrived by then")
	fs.StringVar(&out, "out", "", "append every message to this file, synced before it is acknowledged")
	fs.BoolVar(&manualAck, "manual-ack", false, "acknowledge each message with Message.Ack after it is written (ManualAck)")
	fs.StringVar(&config, "config", "", "JSON config file keyed by flag name")
	if err := parseFlags(fs, args, &config); err != nil {
		return err
	}
	cfg := client.Config{URL: wsURL(server), StatePath: state, ManualAck: manualAck}
	var outFile *os.File
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		outFile = f
	}
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	id := c.ClientID()
	fmt.Fprintf(stdout, "client-id %s\n", hex.EncodeToString(id[:]))
	n := 0
	for {
		select {
		case <-ctx.Done():
			if count > 0 && timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("received %d of %d messages before the timeout", n, count)
			}
			return nil
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			kind := "unicast"
			if m.Broadcast {
				kind = "broadcast"
			}
			fmt.Fprintf(stdout, "%d %s %s\n", m.ID, kind, printable(m.Payload))
			if outFile != nil {
				mark := "first"
				if m.PossibleRedelivery {
					mark = "redelivery"
				}
				// One write per line, synced before the acknowledgement.
				line := fmt.Appendf(nil, "%d %s %s %s\n", m.ID, kind, mark, printable(m.Payload))
				if _, err := outFile.Write(line); err != nil {
					return err
				}
				if err := outFile.Sync(); err != nil {
					return err
				}
			}
			if manualAck {
				// A failed Ack only means a redelivery, which the client
				// recognises.
				if err := m.Ack(); err != nil {
					fmt.Fprintf(stderr, "ack %d: %v\n", m.ID, err)
				}
			}
			if n++; count > 0 && n >= count {
				return nil
			}
		}
	}
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
