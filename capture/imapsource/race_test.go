//go:build race

package imapsource

// raceEnabled: the race detector slows byte-heavy tests about 20-fold.
const raceEnabled = true
