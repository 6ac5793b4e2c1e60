//go:build !unix

package conformance

import "os/exec"

func newGroup(*exec.Cmd) {}

// signalGroup kills cmd: without Unix signals there is no graceful stop,
// so a restart is always a crash here.
func signalGroup(cmd *exec.Cmd, kill bool) { cmd.Process.Kill() }
