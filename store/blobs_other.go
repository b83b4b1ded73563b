//go:build !linux

package store

// markTopDir is a no-op where the file system has no such hint.
func markTopDir(string) {}
