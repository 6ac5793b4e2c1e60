// Package buildinfo describes this build (OPS-012): the module version, the
// VCS revision, the Go version and the protocol versions it speaks. The
// version command prints it and the metrics export it as
// sealfeed_build_info (OPS-041).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/sealfeed/sealfeed/protocol/suite"
)

// Info is what one build says about itself; a field it cannot know is
// "(unknown)".
type Info struct {
	Version  string // module version, e.g. v1.2.0 or (devel)
	Revision string // VCS revision, "+modified" for a dirty tree, and commit time
	Go       string // runtime.Version()
}

// Read returns this build's Info.
func Read() Info {
	in := Info{Version: "(unknown)", Revision: "(unknown)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	in.Version = bi.Main.Version
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
		in.Revision = r + dirty
		if tm != "" {
			in.Revision += " (" + tm + ")"
		}
	}
	return in
}

// Protocols lists the protocol versions this build speaks, most preferred
// first, as "1 (0x0001)".
func Protocols() []string {
	var out []string
	for _, v := range suite.SupportedVersions {
		out = append(out, fmt.Sprintf("%d (0x%04x)", v, v))
	}
	return out
}

// ProtocolList is Protocols as one comma-separated line.
func ProtocolList() string { return strings.Join(Protocols(), ", ") }
