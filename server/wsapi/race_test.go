//go:build race

package wsapi

// raceEnabled: the race detector changes stack sizes and allocations.
const raceEnabled = true
