package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// TestOutboxCommands: an admin lists a consumer's dead letters, queues one
// for another delivery and drops another.
func TestOutboxCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	db := filepath.Join(dir, "d.db")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n", db, filepath.Join(dir, "blobs"))), 0o600)
	cmd := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append(args, "--config", cfg), nil, &out, &errb)
		return out.String(), err
	}
	if out, err := cmd("outbox", "dead-letters"); err != nil || !strings.Contains(out, "no dead letters") {
		t.Fatalf("empty list: %q, %v", out, err)
	}
	st, err := store.Open(ctx, store.Options{Path: db, BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	err = st.WithTx(ctx, func(tx ticket.Tx) error {
		for i := range 2 {
			e := ticket.Event{Tenant: "default", Type: ticket.EventTicketCreated, TicketID: int64(i + 1)}
			if err := tx.AppendEvent(ctx, &e); err != nil {
				return err
			}
			ids = append(ids, e.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := st.AddDeadLetter(ctx, ticket.DeadLetter{Consumer: "slack:default", Event: ticket.Event{ID: id, Tenant: "default"},
			Attempts: 3, LastError: "chat.postMessage: channel_not_found\nsecond line"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	out, err := cmd("outbox", "dead-letters", "--consumer", "slack:default")
	if err != nil || strings.Count(out, "slack:default") != 2 || !strings.Contains(out, "channel_not_found second line") {
		t.Fatalf("list: %q, %v; want both, each error on one line", out, err)
	}
	if out, err := cmd("outbox", "retry", "--consumer", "slack:default", "--event", fmt.Sprint(ids[0])); err != nil || !strings.Contains(out, "1 dead letter") {
		t.Fatalf("retry: %q, %v", out, err)
	}
	if out, err := cmd("outbox", "drop", "--consumer", "slack:default", "--event", fmt.Sprint(ids[1])); err != nil || !strings.Contains(out, "dropped") {
		t.Fatalf("drop: %q, %v", out, err)
	}
	out, _ = cmd("outbox", "dead-letters")
	if !strings.Contains(out, "retry queued") || strings.Count(out, "slack:default") != 1 {
		t.Errorf("after retry and drop: %q; want one, queued", out)
	}
	if _, err := cmd("outbox", "retry", "--consumer", "slack:default", "--event", "424242"); err == nil || !strings.Contains(err.Error(), "no dead letter of event 424242") {
		t.Errorf("retry of an unknown event: %v", err)
	}
	var ue usageError
	if _, err := cmd("outbox", "retry", "--consumer", "slack:default"); !errors.As(err, &ue) {
		t.Errorf("retry with neither --event nor --all: %v, want a usage error", err)
	}
	if _, err := cmd("outbox", "drop", "--event", "1"); !errors.As(err, &ue) {
		t.Errorf("drop without --consumer: %v, want a usage error", err)
	}
}

// TestSubcommandHelpAndCronFriendlyCalendar: `sidedesk token --help` and
// the like print the command's usage and succeed; calendar sync with
// calendars off succeeds with its message.
func TestSubcommandHelpAndCronFriendlyCalendar(t *testing.T) {
	ctx := context.Background()
	for _, cmd := range []string{"token", "user", "crm", "calendar", "outbox", "store"} {
		var out, errb bytes.Buffer
		if err := run(ctx, []string{cmd, "--help"}, nil, &out, &errb); err != nil {
			t.Errorf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(out.String(), "sidedesk "+cmd+" ") || strings.Contains(out.String(), "sidedesk serve") {
			t.Errorf("%s --help printed %q; want its own usage lines only", cmd, out.String())
		}
	}
	// A mistake is one line naming the fix, not the whole usage.
	var eout, eerr bytes.Buffer
	err := run(ctx, []string{"token", "create", "--bogus"}, nil, &eout, &eerr)
	if err == nil || !strings.Contains(err.Error(), "-bogus") || !strings.Contains(err.Error(), "sidedesk token create --help") ||
		eerr.Len() != 0 || eout.Len() != 0 {
		t.Errorf("an unknown flag: %v, printed %q / %q; want one error naming it and --help, nothing printed", err, eout.String(), eerr.String())
	}
	var hout, herr bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--help"}, nil, &hout, &herr); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(herr.String()+hout.String(), "-name") {
		t.Errorf("token create --help: %v, %q", err, herr.String()+hout.String())
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n", filepath.Join(dir, "d.db"))), 0o600)
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"calendar", "sync", "--once", "--config", cfg}, nil, &out, &errb); err != nil ||
		!strings.Contains(out.String(), "nothing to sync") {
		t.Errorf("calendar sync with calendars off: %v, %q; want success with its message", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"store", "usage", "--config", cfg}, nil, &out, &errb); err != nil ||
		!strings.Contains(out.String(), "reclaimable") || !strings.Contains(out.String(), "total (") {
		t.Errorf("store usage: %v, %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"store", "gc", "--dry-run", "--config", cfg}, nil, &out, &errb); err != nil ||
		!strings.Contains(out.String(), "would free 0 bytes") {
		t.Errorf("store gc --dry-run: %v, %q", err, out.String())
	}
}
