package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// BenchmarkInsertMessage measures one capture-like transaction: look up the
// source key and Message-ID, insert a message with two attachments on an
// existing ticket, record the source, append an event.
func BenchmarkInsertMessage(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	tk := mustCreateTicket(b, s, ticket.Ticket{Tenant: "default", Requester: ticket.Address{Email: "ann@globex.example"}})
	tmpl := fullMessage("default", tk.ID)
	tmpl.Text = string(make([]byte, 2000))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := tmpl
		m.MessageID = fmt.Sprintf("bench-%d@x", i)
		m.Attachments = append([]ticket.Attachment(nil), tmpl.Attachments...)
		key := fmt.Sprintf("imap:1:%d", i)
		err := s.WithTx(ctx, func(tx ticket.Tx) error {
			if _, err := tx.SourceMessage(ctx, "default", "support", key); err == nil {
				return fmt.Errorf("unexpected duplicate")
			}
			if _, err := tx.TicketIDsByMessageIDs(ctx, "default", m.References); err != nil {
				return err
			}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			if err := tx.AddSource(ctx, "default", "support", key, m.ID); err != nil {
				return err
			}
			return tx.AppendEvent(ctx, &ticket.Event{Tenant: "default", Type: ticket.EventMessageReceived, TicketID: tk.ID, MessageID: m.ID})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListTickets pages through 2,000 tickets, 50 at a time.
func BenchmarkListTickets(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	seedTickets(b, s, 2000, func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) })
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cursor := ""
		for {
			ts, next, err := s.ListTickets(ctx, "a", ticket.TicketFilter{Cursor: cursor})
			if err != nil || len(ts) == 0 {
				b.Fatal(len(ts), err)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
}

// BenchmarkBlobPut stores distinct 20 KB blobs (a typical small mail):
// without fsync, and with a transaction (which makes them durable and
// indexes them) after every Put (one Ingest per message) or after every
// 100 (a capture's commit group).
func BenchmarkBlobPut(b *testing.B) {
	for _, bc := range []struct {
		fsync     bool
		syncEvery int
	}{{true, 1}, {true, 100}, {false, 1}} {
		b.Run(fmt.Sprintf("fsync=%v/sync-every=%d", bc.fsync, bc.syncEvery), func(b *testing.B) {
			dir := b.TempDir()
			ctx := context.Background()
			s, err := Open(ctx, Options{Path: filepath.Join(dir, "db"), BlobDir: filepath.Join(dir, "blobs"), SkipBlobFsync: !bc.fsync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			commit := func() {
				if err := s.WithTx(ctx, func(ticket.Tx) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			content := make([]byte, 20<<10)
			b.SetBytes(int64(len(content)))
			for i := 0; b.Loop(); i++ {
				content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16)
				if _, err := s.Blobs().Put(ctx, bytes.NewReader(content)); err != nil {
					b.Fatal(err)
				}
				if (i+1)%bc.syncEvery == 0 {
					commit()
				}
			}
			commit()
		})
	}
}
