//go:build race

package capture

// raceEnabled scales the large-message test down: the race detector makes
// byte loops ~15x slower.
const raceEnabled = true
