//go:build race

package restapi

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
