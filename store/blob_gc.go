package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Blob pack compaction (`sidedesk store gc`). A pack is written only by
// the process that created it (its name carries that process's PID), so a
// pack whose process is gone never changes again and can be compacted
// while another sidedesk serves: its referenced blobs are copied into a
// new pack (each checked against its SHA-256), the new pack is made
// durable, the index rows move to it in one transaction, and only then is
// the old pack removed. A crash at any step leaves every referenced blob
// readable: before the commit the new pack is unreferenced, after it the
// old one is; either is removed by the next run.

// GCResult says what a compaction did.
type GCResult struct {
	Packs     int   // packs looked at (of gone processes)
	Compacted int   // rewritten without their unreferenced bytes
	Removed   int   // removed whole (nothing referenced them)
	Freed     int64 // bytes given back
	Skipped   int   // packs of live processes, left alone
}

// gcPackAlive reports whether the process that writes a pack may still be
// running (a seam for tests).
var gcPackAlive = func(name string) bool {
	pid, ok := packPID(name)
	if !ok {
		return true // not a name of ours: leave it
	}
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// packPID reads the PID out of a pack name "TIME-PID-SEQ.pack".
func packPID(name string) (int, bool) {
	base, ok := strings.CutSuffix(name, ".pack")
	if !ok {
		return 0, false
	}
	parts := strings.Split(base, "-")
	if len(parts) != 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	return pid, err == nil && pid > 0
}

// gcAfterCopy is called after a pack's blobs were copied and made durable,
// before the index moves (a seam for crash tests).
var gcAfterCopy = func() error { return nil }

// CompactBlobs compacts the packs of gone processes whose unreferenced
// bytes are at least minReclaim (0: any); dryRun only counts.
func (s *Store) CompactBlobs(ctx context.Context, minReclaim int64, dryRun bool) (GCResult, error) {
	packs, err := s.BlobUsage(ctx)
	if err != nil {
		return GCResult{}, err
	}
	return s.CompactPacks(ctx, packs, minReclaim, dryRun)
}

// CompactPacks is CompactBlobs over a BlobUsage the caller has read.
func (s *Store) CompactPacks(ctx context.Context, packs []PackUsage, minReclaim int64, dryRun bool) (GCResult, error) {
	var res GCResult
	for _, p := range packs {
		if gcPackAlive(p.Name) {
			res.Skipped++
			continue
		}
		res.Packs++
		if p.Reclaimable() == 0 || p.Reclaimable() < minReclaim {
			continue
		}
		if dryRun {
			if p.LiveBytes == 0 {
				res.Removed++
			} else {
				res.Compacted++
			}
			res.Freed += p.Reclaimable()
			continue
		}
		if p.LiveBytes == 0 {
			if err := s.removePack(p.Name); err != nil {
				return res, err
			}
			res.Removed++
			res.Freed += p.FileBytes
			continue
		}
		if err := s.compactPack(ctx, p.Name); err != nil {
			return res, fmt.Errorf("store: compact pack %s: %w", p.Name, err)
		}
		res.Compacted++
		res.Freed += p.Reclaimable()
	}
	return res, nil
}

func (s *Store) removePack(name string) error {
	if err := os.Remove(filepath.Join(s.blobs.packDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: remove pack %s: %w", name, err)
	}
	return syncDir(s.blobs.packDir)
}

type gcBlob struct {
	sha            string
	off, size, new int64
	cuts           []byte
}

func (s *Store) compactPack(ctx context.Context, name string) (err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT sha256, pack_offset, size, cuts FROM blob_index WHERE pack = ? ORDER BY pack_offset`, name)
	if err != nil {
		return err
	}
	var blobs []gcBlob
	for rows.Next() {
		var b gcBlob
		if err := rows.Scan(&b.sha, &b.off, &b.size, &b.cuts); err != nil {
			rows.Close()
			return err
		}
		blobs = append(blobs, b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	src, err := os.Open(filepath.Join(s.blobs.packDir, name))
	if err != nil {
		return err
	}
	defer src.Close()
	// A new pack of its own, never one the Put path writes to.
	dst, err := s.blobs.newPackFile()
	if err != nil {
		return err
	}
	dstName := dst.name
	moved := false
	defer func() {
		dst.f.Close()
		if !moved {
			// Nothing references the half-made copy: it goes now, not
			// at a later run.
			os.Remove(filepath.Join(s.blobs.packDir, dstName))
		}
	}()
	var at int64
	for i := range blobs {
		b := &blobs[i]
		h := sha256.New()
		var w io.Writer = io.NewOffsetWriter(dst.f, at)
		if b.cuts == nil {
			w = io.MultiWriter(w, h) // a skeleton is checked rebuilt, below
		}
		if _, err := io.Copy(w, io.NewSectionReader(src, b.off, b.size)); err != nil {
			return err
		}
		if b.cuts != nil {
			if err := s.hashRebuilt(h, src, b); err != nil {
				return err
			}
		}
		if hex.EncodeToString(h.Sum(nil)) != b.sha {
			return fmt.Errorf("blob %s at %d does not match its SHA-256: the pack is damaged; left as it is", b.sha, b.off)
		}
		b.new = at
		at += b.size
	}
	if err := dst.f.Sync(); err != nil {
		return err
	}
	if err := syncDir(s.blobs.packDir); err != nil {
		return err
	}
	if err := gcAfterCopy(); err != nil {
		return err
	}
	err = s.write(ctx, func(q querier) error {
		for _, b := range blobs {
			if _, err := q.ExecContext(ctx, `UPDATE blob_index SET pack = ?, pack_offset = ? WHERE sha256 = ? AND pack = ? AND pack_offset = ?`,
				dstName, b.new, b.sha, name, b.off); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	moved = true
	return s.removePack(name)
}

// hashRebuilt hashes the raw message a skeleton in src rebuilds.
func (s *Store) hashRebuilt(h io.Writer, src io.ReaderAt, b *gcBlob) error {
	cuts, err := decodeCuts(b.cuts)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.sha, err)
	}
	v, err := newRawView(src, b.off, b.size, cuts, s.blobs.openDecoded)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.sha, err)
	}
	defer v.Close()
	_, err = io.Copy(h, io.NewSectionReader(v, 0, v.size))
	return err
}
