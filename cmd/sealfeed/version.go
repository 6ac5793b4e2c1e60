package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/sealfeed/sealfeed/internal/buildinfo"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
)

// versionInfo describes this build (OPS-012): the module version, the
// VCS revision it was built from, the Go version, the protocol versions it
// speaks and the data format of its embedded store.
func versionInfo() string {
	bi := buildinfo.Read()
	return fmt.Sprintf("sealfeed %s\nrevision: %s\ngo: %s %s/%s\nprotocol: %s\ndata format: %d\n",
		bi.Version, bi.Revision, bi.Go, runtime.GOOS, runtime.GOARCH, buildinfo.ProtocolList(), sqlitestore.DataFormat)
}

func versionCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Prints the build's module version, VCS revision, Go version, the protocol versions it\n"+
		"speaks and the data format of its embedded store (OPS-012).", stderr)
	if err := parseFlags(fs, args, nil); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, versionInfo())
	return err
}
