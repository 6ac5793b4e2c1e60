// Command sealfeed is the SealFeed command line: serve runs a server node,
// publish and listen are a publisher and a client, keygen and credential
// manage keys and credentials, demo runs the whole flow in one process.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage: sealfeed <command> [flags]

commands:
  serve   run a server node on the embedded store (creates its key on first
          start and prints the fingerprint clients pin)
  publish sign and send a message (or a status / presence query) as a publisher
  sign    print the header fields that sign a publisher request, for curl
  listen  connect as a client and print verified, decrypted messages
  loadtest
          many clients and publishers against a server on loopback: memory per
          connection, handshakes/s, messages/s, latency p50/p99, CPU per message
  conformance
          run the conformance suite against an implementation's shim
  demo    run handshakes and a signed batch between an in-process server and
          three clients, and print a timeline of every step
  keygen  generate an Ed25519 key file, or show a key's fingerprint
  credential
          issue a server credential or a revocation list signed by an
          authority key, or show one
  store   back up a node's embedded store while it serves, or restore one
          (a restore starts a new store epoch)
  token   issue an access token for a client key with a publisher key
  seal-key
          make a client's sealing key and its signed record, for end-to-end
          sealed payloads (publish -seal-to, listen -seal-key)
  version print the version, VCS revision, Go, protocol and data format
          versions (also --version)

Run 'sealfeed <command> --help' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = demoCommand(args[1:], stdout, stderr)
	case "serve":
		err = serveCommand(args[1:], stdout, stderr)
	case "publish":
		err = publishCommand(args[1:], os.Stdin, stdout, stderr)
	case "sign":
		err = signCommand(args[1:], os.Stdin, stdout, stderr)
	case "listen":
		err = listenCommand(args[1:], stdout, stderr)
	case "loadtest":
		err = loadtestCommand(args[1:], stdout, stderr)
	case "conformance":
		err = conformanceCommand(args[1:], stdout, stderr)
	case "keygen":
		err = keygenCommand(args[1:], stdout, stderr)
	case "credential":
		err = credentialCommand(args[1:], stdout, stderr)
	case "store":
		err = storeCommand(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		err = versionCommand(args[1:], stdout, stderr)
	case "token":
		err = tokenCommand(args[1:], stdout, stderr)
	case "seal-key":
		err = sealKeyCommand(args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sealfeed: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.As(err, new(loggedError)) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "sealfeed %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
