package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/sealfeed/sealfeed/protocol/suite"
	"github.com/sealfeed/sealfeed/server/store/sqlitestore"
)

// versionInfo describes this build (OPS-012): the module version, the
// VCS revision it was built from, the Go version, the protocol versions it
// speaks and the data format of its embedded store.
func versionInfo() string {
	mod, rev := buildVersion()
	var protos []string
	for _, v := range suite.SupportedVersions {
		protos = append(protos, fmt.Sprintf("%d (0x%04x)", v, v))
	}
	return fmt.Sprintf("sealfeed %s\nrevision: %s\ngo: %s %s/%s\nprotocol: %s\ndata format: %d\n",
		mod, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, strings.Join(protos, ", "), sqlitestore.DataFormat)
}

// buildVersion returns the module version and the VCS revision of this
// build, "(unknown)" where the build does not say.
func buildVersion() (mod, rev string) {
	mod, rev = "(unknown)", "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		mod = bi.Main.Version
		var r, tm, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				r = s.Value
			case "vcs.time":
				tm = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+modified"
				}
			}
		}
		if r != "" {
			rev = r + dirty
			if tm != "" {
				rev += " (" + tm + ")"
			}
		}
	}
	return mod, rev
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
