package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// cmdStore runs `sidedesk store usage` (each blob pack's size, the bytes
// the index references and what is reclaimable: bytes of blobs a crash or
// a failed transaction left behind) and `sidedesk store gc` (compacts the
// packs of processes that are gone; safe while serve runs).
func cmdStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "usage" && args[0] != "gc") {
		return usageError{"store: want `sidedesk store usage` or `sidedesk store gc [--dry-run] [--min-bytes N]`"}
	}
	fs := flags("store "+args[0], stderr)
	cfgPath := configFlag(fs)
	dry := fs.Bool("dry-run", false, "gc: say what would be freed, change nothing")
	minBytes := fs.Int64("min-bytes", 0, "gc: compact only packs with at least this many reclaimable bytes")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	if args[0] == "gc" {
		res, err := a.store.CompactBlobs(ctx, *minBytes, *dry)
		verb := "freed"
		if *dry {
			verb = "would free"
		}
		fmt.Fprintf(stdout, "%s %d bytes: %d pack(s) compacted, %d removed; %d pack(s) of running processes left alone\n",
			verb, res.Freed, res.Compacted, res.Removed, res.Skipped)
		return err
	}
	packs, err := a.store.BlobUsage(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "pack\tblobs\tfile bytes\treferenced\treclaimable\t")
	var file, live, recl int64
	for _, p := range packs {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t\n", p.Name, p.Blobs, p.FileBytes, p.LiveBytes, p.Reclaimable())
		file, live, recl = file+p.FileBytes, live+p.LiveBytes, recl+p.Reclaimable()
	}
	fmt.Fprintf(w, "total (%d packs)\t\t%d\t%d\t%d\t\n", len(packs), file, live, recl)
	return w.Flush()
}

// autoCompact: serve compacts on its own (hourly) once the packs of gone
// processes hold this much unreferenced data in packs with at least
// autoCompactPack of it each.
const (
	autoCompact     = 64 << 20
	autoCompactPack = 8 << 20
)

// reclaimableGauge is sidedesk_blob_reclaimable_bytes, recomputed every
// hour while serve runs (a read of the index and a stat per pack); past
// autoCompact it compacts the packs of gone processes (as `store gc`).
func (a *app) reclaimableGauge(ctx context.Context) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sidedesk_blob_reclaimable_bytes",
		Help: "Bytes in blob packs that no stored message references (left by crashes or failed writes)."})
	if err := a.registry.Register(g); err != nil {
		return
	}
	update := func() {
		packs, err := a.store.BlobUsage(ctx)
		if err != nil {
			a.log.Warn("store: blob usage", "err", err)
			return
		}
		var n int64
		for _, p := range packs {
			n += p.Reclaimable()
		}
		g.Set(float64(n))
		// What compaction would free: only the packs of gone processes.
		if dry, _ := a.store.CompactPacks(ctx, packs, autoCompactPack, true); dry.Freed < autoCompact {
			return
		}
		res, err := a.store.CompactPacks(ctx, packs, autoCompactPack, false)
		if err != nil {
			a.log.Warn("store: automatic blob compaction", "err", err)
		}
		if res.Freed > 0 {
			a.log.Info("store: compacted blob packs of gone processes", "freed_bytes", res.Freed,
				"compacted", res.Compacted, "removed", res.Removed)
		}
	}
	update()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			update()
		}
	}
}
