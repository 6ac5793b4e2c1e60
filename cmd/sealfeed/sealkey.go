package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/sig"
	"github.com/sealfeed/sealfeed/sealed"
)

// sealKeyCommand is "sealfeed seal-key": it makes a client's sealing key
// and its record signed by the client's identity key (spec/sealed.md §4,
// §10). The private key and record go to -out (mode 0600, never over an
// existing file), the record alone to -record, for the application's back
// end. It never prints key material.
func sealKeyCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seal-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	identity := fs.String("identity", "", "the client's identity key `FILE` (as 'listen -identity'); it signs the record")
	out := fs.String("out", "", "write the sealing private key and its record to `FILE` (mode 0600, for 'listen -seal-key')")
	record := fs.String("record", "", "write the record alone to `FILE` (for 'publish -seal-to')")
	suite := fs.String("suite", "hybrid", "HPKE suite: hybrid (MLKEM768-X25519) or x25519")
	lifetime := fs.Duration("lifetime", 90*24*time.Hour, "validity period of the record (at most 400 days)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed seal-key -identity FILE -out FILE -record FILE [-suite hybrid|x25519] [-lifetime D]\n\n"+
			"Makes a sealing key for end-to-end sealed payloads (spec/sealed.md) and its record,\n"+
			"signed by the identity key. Prints the record ID and the client ID it belongs to.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if *identity == "" || *out == "" || *record == "" {
		return errors.New("-identity, -out and -record are required")
	}
	s := sealed.SuiteHybrid
	switch *suite {
	case "hybrid":
	case "x25519":
		s = sealed.SuiteX25519
	default:
		return fmt.Errorf("-suite %q: want hybrid or x25519", *suite)
	}
	id, err := keyfile.LoadPrivate(*identity)
	if err != nil {
		return fmt.Errorf("-identity: %w", err)
	}
	for _, p := range []string{*out, *record} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: file exists; refusing to overwrite it", p)
		}
	}
	k, err := sealed.NewKey(id, s, time.Time{}, *lifetime)
	if err != nil {
		return err
	}
	kb, err := sealed.MarshalKeyPEM(k)
	if err != nil {
		return err
	}
	if err := writeNew(*out, kb, 0o600); err != nil {
		return err
	}
	if err := writeNew(*record, sealed.MarshalRecordPEM(k.Record), 0o644); err != nil {
		return err
	}
	rid, cid := k.Record.ID(), k.Record.ClientID()
	fmt.Fprintf(stdout, "record %x\nclient %x\nnot_after %s\n", rid, cid, time.Unix(int64(k.Record.NotAfter), 0).UTC().Format(time.RFC3339))
	return nil
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sealPayload is "publish -seal-to": the record is checked against the one
// recipient (SEAL-006) and the payload sealed to it with the publisher key.
func sealPayload(recordFile string, to [][32]byte, p interface {
	Seal([]byte, [32]byte, []byte) ([]byte, error)
}, payload []byte) ([]byte, error) {
	if len(to) != 1 {
		return nil, errors.New("-seal-to seals to one client: give exactly one -to (SEAL-033)")
	}
	b, err := os.ReadFile(recordFile)
	if err != nil {
		return nil, err
	}
	raw, err := sealed.ParseRecordPEM(b)
	if err != nil {
		return nil, fmt.Errorf("-seal-to: %w", err)
	}
	return p.Seal(raw, to[0], payload)
}

// sealOpener is "listen -seal-key -seal-from": the client's sealing key
// and the publisher keys it trusts (SEAL-022).
func sealOpener(keyFile string, from []string) (*sealed.Opener, error) {
	if len(from) == 0 {
		return nil, errors.New("-seal-key needs -seal-from: the publisher keys whose sealed payloads to trust")
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	k, err := sealed.ParseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("-seal-key: %w", err)
	}
	o := &sealed.Opener{Keys: []*sealed.Key{k}}
	for _, f := range from {
		pk, err := loadPublicKeyArg(f)
		if err != nil {
			return nil, fmt.Errorf("-seal-from: %w", err)
		}
		p, err := sig.ParsePublicKey(pk)
		if err != nil {
			return nil, fmt.Errorf("-seal-from: %w", err)
		}
		o.Publishers = append(o.Publishers, p)
	}
	return o, nil
}
