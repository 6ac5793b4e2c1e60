package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sealfeed/sealfeed/internal/keyfile"
	"github.com/sealfeed/sealfeed/protocol/alert"
	"github.com/sealfeed/sealfeed/protocol/credential"
	"github.com/sealfeed/sealfeed/protocol/sig"
)

// keygenCommand is "sealfeed keygen": it writes a new Ed25519 private key
// (PKCS #8 PEM, mode 0600, never over an existing file) and optionally its
// public key (PKIX PEM), or with -show prints the identity of an existing
// key file. It never prints private key material.
func keygenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the new private key (PKCS #8 PEM, mode 0600) to `FILE`; an existing file is never overwritten")
	pub := fs.String("pub", "", "also write the public key (PKIX PEM, mode 0644) to `FILE`")
	show := fs.String("show", "", "print the fingerprint and public key of the key in `FILE` (private or public, PEM, hex or base64) instead of generating one")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed keygen -out FILE [-pub FILE]\n       sealfeed keygen -show FILE\n\nGenerates an Ed25519 key and saves it, or shows an existing key. Prints\n  fingerprint <KeyID in hex>\n  public <base64 of the 32-byte public key>")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}

	if *show != "" {
		if *out != "" || *pub != "" {
			return errors.New("-show cannot be combined with -out or -pub")
		}
		k, err := keyfile.LoadPublic(*show)
		if err != nil {
			return fmt.Errorf("-show: %w", err)
		}
		printKey(stdout, k.Bytes())
		return nil
	}

	if *out == "" {
		return errors.New("-out is required (the private key is only ever written to a file)")
	}
	if *pub != "" && filepath.Clean(*pub) == filepath.Clean(*out) {
		return errors.New("-out and -pub name the same file")
	}
	// Check both destinations before writing either, so that a taken -pub
	// does not leave a private key behind with no public key file.
	for _, p := range []struct{ flag, path string }{{"-out", *out}, {"-pub", *pub}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Lstat(p.path); err == nil {
			return fmt.Errorf("%s %s: file exists; refusing to overwrite it", p.flag, p.path)
		}
	}

	k, err := keyfile.Generate()
	if err != nil {
		return err
	}
	if err := keyfile.SavePrivate(*out, k); err != nil {
		if errors.Is(err, keyfile.ErrExists) {
			return fmt.Errorf("-out %s: file exists; refusing to overwrite it", *out)
		}
		return fmt.Errorf("-out: writing private key: %w", err)
	}
	pk := k.Public().(ed25519.PublicKey)
	if *pub != "" {
		b, err := keyfile.MarshalPublic(pk)
		if err == nil {
			err = keyfile.WriteNew(*pub, b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("-pub: private key saved to %s, but writing the public key failed (run 'sealfeed keygen -show %s' to see it): %w", *out, *out, err)
		}
	}
	printKey(stdout, pk)
	return nil
}

func printKey(w io.Writer, pub []byte) {
	fmt.Fprintf(w, "fingerprint %s\npublic %s\n", sig.Fingerprint(pub), base64.StdEncoding.EncodeToString(pub))
}

const credentialUsage = `usage: sealfeed credential <issue|revoke|show> [flags]

  issue   sign a credential binding a server key to a realm (spec §5.1)
  revoke  sign a revocation list of credential serials (spec §5.2)
  show    print the fields of a credential or revocation list file

Run 'sealfeed credential <subcommand> --help' for its flags.
`

// credentialCommand is "sealfeed credential": the authority's tools.
func credentialCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, credentialUsage)
		return errors.New("missing subcommand: issue, revoke or show")
	}
	var err error
	switch args[0] {
	case "issue":
		err = credentialIssue(args[1:], stdout, stderr)
	case "revoke":
		err = credentialRevoke(args[1:], stdout, stderr)
	case "show":
		err = credentialShow(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, credentialUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, credentialUsage)
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return err
}

func credentialIssue(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credential issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	authority := fs.String("authority", "", "the authority's private key `FILE` (PKCS #8 PEM)")
	server := fs.String("server", "", "the server's public `KEY`: a key file (public or private PEM, hex or base64) or the key itself in hex or base64")
	realm := fs.String("realm", "", "the `REALM` the credential is valid for (1 to 255 bytes)")
	serial := fs.Uint64("serial", 0, "the credential's serial `NUMBER`, unique per authority (revocation names it)")
	notBefore := fs.String("not-before", "now", "start of validity: RFC 3339 `TIME` (2026-01-02T15:04:05Z) or \"now\"")
	valid := fs.Duration("valid", credential.MaxCredentialLifetime, "validity `DURATION`, at most 720h (30 days, CRED-004)")
	out := fs.String("out", "", "write the credential to `FILE` (mode 0644)")
	force := fs.Bool("force", false, "replace -out if it exists")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed credential issue -authority AUTHKEY.pem -server KEY -realm REALM -serial N\n                                [-not-before TIME|now] [-valid DURATION] -out FILE [-force]\n\nSigns a credential (spec §5.1) binding the server key to the realm for the\nvalidity period and writes its binary encoding to -out.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if err := requireFlags(fs, "authority", "server", "realm", "serial", "out"); err != nil {
		return err
	}
	if n := len(*realm); n < 1 || n > credential.MaxRealm {
		return fmt.Errorf("-realm is %d bytes, want 1 to %d", n, credential.MaxRealm)
	}
	if err := checkValid(*valid, credential.MaxCredentialLifetime, "credential lifetime", "30 days, CRED-004"); err != nil {
		return err
	}
	from, err := parseTimeFlag("-not-before", *notBefore)
	if err != nil {
		return err
	}
	authKey, err := keyfile.LoadPrivate(*authority)
	if err != nil {
		return fmt.Errorf("-authority: %w", err)
	}
	serverKey, serverFile, err := loadServerKey(*server)
	if err != nil {
		return err
	}
	c, err := credential.Issue(authKey, serverKey.Bytes(), *realm, *serial, from, from.Add(*valid))
	if err != nil {
		return err
	}
	if err := writeOutput(*out, c.Marshal(), *force, *authority, serverFile); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "issued credential realm=%q serial=%d not_before=%s not_after=%s server=%s authority=%s out=%s\n",
		c.Realm, c.Serial, fmtUnix(c.NotBefore), fmtUnix(c.NotAfter),
		sig.Fingerprint(c.ServerKey[:]), hex.EncodeToString(c.AuthorityID[:]), *out)
	return nil
}

func credentialRevoke(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credential revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	authority := fs.String("authority", "", "the authority's private key `FILE` (PKCS #8 PEM)")
	number := fs.Uint64("number", 0, "the list's `NUMBER`; must increase with every list (CRED-013)")
	serials := fs.String("serials", "", "comma-separated revoked credential `SERIALS`, e.g. 3,5,9 (sorted and deduplicated)")
	valid := fs.Duration("valid", credential.DefaultRevocationListLifetime, "validity `DURATION` from now, at most 168h (7 days, CRED-011); a revoked credential stays usable for up to this long")
	out := fs.String("out", "", "write the revocation list to `FILE` (mode 0644)")
	force := fs.Bool("force", false, "replace -out if it exists")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed credential revoke -authority AUTHKEY.pem -number N [-serials 3,5,9]\n                                 [-valid DURATION] -out FILE [-force]\n\nSigns a revocation list (spec §5.2), valid from now, and writes its binary\nencoding to -out. Servers staple it to their credential; issue a new one,\nwith a higher -number, before -valid runs out.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	if err := requireFlags(fs, "authority", "number", "out"); err != nil {
		return err
	}
	if err := checkValid(*valid, credential.MaxRevocationListLifetime, "revocation list lifetime", "7 days, CRED-011"); err != nil {
		return err
	}
	revoked, err := parseSerials(*serials)
	if err != nil {
		return err
	}
	authKey, err := keyfile.LoadPrivate(*authority)
	if err != nil {
		return fmt.Errorf("-authority: %w", err)
	}
	now := time.Now().Truncate(time.Second)
	l, err := credential.IssueRevocationList(authKey, *number, now, now.Add(*valid), revoked)
	if err != nil {
		return err
	}
	if err := writeOutput(*out, l.Marshal(), *force, *authority, ""); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "issued revocation list number=%d this_update=%s next_update=%s revoked=%s authority=%s out=%s\n",
		l.Number, fmtUnix(l.ThisUpdate), fmtUnix(l.NextUpdate), fmtSerials(l.Revoked),
		hex.EncodeToString(l.AuthorityID[:]), *out)
	return nil
}

func credentialShow(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("credential show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sealfeed credential show FILE\n\nPrints the fields of a credential or revocation list file. It checks the\nencoding only, not the signature.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one FILE")
	}
	path := fs.Arg(0)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c, cerr := credential.ParseCredential(b)
	l, lerr := credential.ParseRevocationList(b)
	switch {
	case cerr == nil && lerr == nil:
		// Possible in principle: the two layouts can share a length.
		fmt.Fprintf(stdout, "%s decodes both as a credential and as a revocation list:\n", path)
		printCredential(stdout, c)
		printRevocationList(stdout, l)
	case cerr == nil:
		printCredential(stdout, c)
	case lerr == nil:
		printRevocationList(stdout, l)
	default:
		return fmt.Errorf("%s: neither a credential (%v) nor a revocation list (%v)", path, cerr, lerr)
	}
	return nil
}

func printCredential(w io.Writer, c *credential.Credential) {
	fmt.Fprintf(w, "credential\n  version      %d\n  realm        %q\n  serial       %d\n  not_before   %s\n  not_after    %s\n  server_key   %s\n  server       %s\n  authority_id %s\n",
		c.Version, c.Realm, c.Serial, fmtUnix(c.NotBefore), fmtUnix(c.NotAfter),
		base64.StdEncoding.EncodeToString(c.ServerKey[:]), sig.Fingerprint(c.ServerKey[:]),
		hex.EncodeToString(c.AuthorityID[:]))
}

func printRevocationList(w io.Writer, l *credential.RevocationList) {
	fmt.Fprintf(w, "revocation list\n  version      %d\n  number       %d\n  this_update  %s\n  next_update  %s\n  revoked      %s\n  authority_id %s\n",
		l.Version, l.Number, fmtUnix(l.ThisUpdate), fmtUnix(l.NextUpdate), fmtSerials(l.Revoked),
		hex.EncodeToString(l.AuthorityID[:]))
}

// requireFlags reports the first of names not set on the command line.
func requireFlags(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return fmt.Errorf("-%s is required", n)
		}
	}
	return nil
}

func checkValid(d, limit time.Duration, what, rule string) error {
	if d <= 0 {
		return fmt.Errorf("-valid %s: must be positive", fmtHours(d))
	}
	if d > limit {
		return fmt.Errorf("-valid %s: exceeds the maximum %s of %s (%s)", d, what, fmtHours(limit), rule)
	}
	return nil
}

func fmtHours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// parseTimeFlag reads "now" or an RFC 3339 time, truncated to the second
// (the credential's resolution).
func parseTimeFlag(name, s string) (time.Time, error) {
	if s == "now" {
		return time.Now().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z, or \"now\"", name, s)
	}
	return t.Truncate(time.Second), nil
}

// loadServerKey resolves -server: an existing file is read as a key file;
// anything else must be the key itself in hex or base64. It returns the
// file's path when the key came from one.
func loadServerKey(v string) (*sig.PublicKey, string, error) {
	if st, err := os.Stat(v); err == nil && !st.IsDir() {
		k, err := keyfile.LoadPublic(v)
		if err != nil {
			return nil, "", fmt.Errorf("-server: %w", err)
		}
		return k, v, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("-server: %w", err)
	}
	if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
		return nil, "", errors.New("-server: give PEM keys as a file name, not inline")
	}
	k, err := keyfile.ParsePublic([]byte(v))
	if err != nil {
		if code, _ := alert.CodeOf(err); code == alert.BadKey {
			return nil, "", fmt.Errorf("-server: %w", err) // decoded, but not a valid key
		}
		return nil, "", fmt.Errorf("-server %q: no such file, and not a public key in hex or base64: %w", v, err)
	}
	return k, "", nil
}

// parseSerials reads a comma-separated list of serials and returns it
// sorted and deduplicated, as the list requires (CRED-010).
func parseSerials(s string) ([]uint64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []uint64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-serials: %q is not a serial number (want unsigned decimal integers separated by commas)", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > credential.MaxRevoked {
		return nil, fmt.Errorf("-serials: %d distinct serials, at most %d", len(out), credential.MaxRevoked)
	}
	return out, nil
}

// writeOutput writes data to path with mode 0644. Without force it never
// replaces an existing file; with force it replaces it atomically (temporary
// file and rename), but never when path is one of the input files.
func writeOutput(path string, data []byte, force bool, inputs ...string) error {
	if !force {
		if err := keyfile.WriteNew(path, data, 0o644); err != nil {
			if errors.Is(err, keyfile.ErrExists) {
				return fmt.Errorf("-out %s: file exists; use -force to replace it", path)
			}
			return fmt.Errorf("-out: %w", err)
		}
		return nil
	}
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return fmt.Errorf("-out %s: is a directory", path)
		}
		for _, in := range inputs {
			if in == "" {
				continue
			}
			if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
				return fmt.Errorf("-out %s: is the input file %s; refusing to replace it", path, in)
			}
		}
	}
	if err := replaceFile(path, data, 0o644); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	return nil
}

func replaceFile(path string, data []byte, mode os.FileMode) error {
	return keyfile.WriteAtomic(path, data, mode)
}

// fmtUnix shows Unix seconds as RFC 3339 UTC, or as the number when beyond
// year 9999.
func fmtUnix(s uint64) string {
	const maxRFC3339 = 253402300799 // 9999-12-31T23:59:59Z
	if s > maxRFC3339 {
		return fmt.Sprintf("%d (Unix seconds)", s)
	}
	return time.Unix(int64(s), 0).UTC().Format(time.RFC3339)
}

func fmtSerials(s []uint64) string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(parts, ",")
}
