package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// listFlag is a repeatable flag; each use may also hold a comma-separated
// list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// envName is the environment variable of a flag: SEALFEED_ and the flag
// name in upper case with dashes as underscores.
func envName(flagName string) string {
	return "SEALFEED_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// settle gives every flag that was not set on the command line its value
// from the environment, else from the config file (a JSON object keyed by
// flag name; strings, numbers, booleans, or arrays for repeatable flags).
// Precedence: command line, environment, config file, default.
func settle(fs *flag.FlagSet, configPath string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string]any{}
	if configPath != "" {
		b, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := json.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config %s: %w", configPath, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config %s: unknown setting %q", configPath, k)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", envName(f.Name), e)
			}
			return
		}
		v, ok := file[f.Name]
		if !ok {
			return
		}
		var vals []string
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				vals = append(vals, fmt.Sprint(e))
			}
		case float64:
			vals = []string{strings.TrimSuffix(fmt.Sprintf("%f", x), ".000000")}
		default:
			vals = []string{fmt.Sprint(x)}
		}
		for _, s := range vals {
			if e := f.Value.Set(s); e != nil {
				err = fmt.Errorf("config %s: %s: %w", configPath, f.Name, e)
				return
			}
		}
	})
	return err
}

// newFlagSet returns a flag set with the usage text of a command; every
// command documents the environment and config-file fallbacks.
// parseFlags parses args into fs and refuses positional arguments. For a
// command with a -config flag (config non-nil) it then settles every flag:
// the command line, then SEALFEED_<FLAG>, then the config file named by
// -config or else SEALFEED_CONFIG, then the default.
func parseFlags(fs *flag.FlagSet, args []string, config *string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if config == nil {
		return nil
	}
	if *config == "" {
		*config = os.Getenv(envName("config"))
	}
	return settle(fs, *config)
}

func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sealfeed %s %s\n\n%s\n\nflags (each also read from SEALFEED_<FLAG>, e.g. %s, or from -config):\n", name, synopsis, about, envName("listen"))
		fs.PrintDefaults()
	}
	return fs
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// joinArgs joins arguments for SEALFEED_TEST_MAIN (see crash_test.go).
func joinArgs(args []string) string { return strings.Join(args, "\x1f") }

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
