package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PackUsage is one blob pack's file size and the bytes of it the index
// references; the rest (a crash's or a failed transaction's blobs) is
// reclaimable.
type PackUsage struct {
	Name      string
	FileBytes int64
	LiveBytes int64
	Blobs     int
}

// Reclaimable is what compacting the pack would free.
func (p PackUsage) Reclaimable() int64 { return max(0, p.FileBytes-p.LiveBytes) }

// BlobUsage reports every pack of the blob directory with the bytes the
// index references in it. It only reads; a pack a running process is
// appending to counts its not yet indexed blobs as reclaimable for a
// moment.
func (s *Store) BlobUsage(ctx context.Context) ([]PackUsage, error) {
	live := map[string]PackUsage{}
	rows, err := s.r.QueryContext(ctx, `SELECT pack, COUNT(*), COALESCE(SUM(size), 0) FROM blob_index GROUP BY pack`)
	if err != nil {
		return nil, fmt.Errorf("store: blob usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u PackUsage
		if err := rows.Scan(&u.Name, &u.Blobs, &u.LiveBytes); err != nil {
			return nil, fmt.Errorf("store: blob usage: %w", err)
		}
		live[u.Name] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: blob usage: %w", err)
	}
	entries, err := os.ReadDir(s.blobs.packDir)
	if err != nil {
		return nil, fmt.Errorf("store: blob usage: %w", err)
	}
	var out []PackUsage
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.blobs.packDir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		u := live[e.Name()]
		u.Name, u.FileBytes = e.Name(), fi.Size()
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b PackUsage) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
