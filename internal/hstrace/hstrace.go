// Package hstrace lets this module's test tooling observe a handshake's
// messages and secrets by name: the vector generator and runner (vectors/),
// which print and check them, and the conformance suite's adversarial
// server (conformance/), which reseals the flights it alters. It is not part
// of protocol/handshake's public API, because a tracer sees every secret of
// the key schedule.
package hstrace

// Func observes one handshake message (by its name in spec §6, with its
// 4-byte header) or one secret of the key schedule (by its name in spec §7,
// such as "s_hs_traffic" or "resumption_psk"). The value is a copy.
type Func func(name string, value []byte)

// Set makes every handshake run with cfg, a *handshake.ClientConfig or a
// *handshake.ServerConfig, call f; it panics on any other cfg.
// protocol/handshake installs it when it is initialised.
var Set func(cfg any, f Func)
