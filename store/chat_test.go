package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// openChatStore opens and migrates a store in a temp dir (kept independent
// of the other test files' helpers).
func openChatStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Path: filepath.Join(dir, "db", "sd.db"), BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func chatTicket(t *testing.T, s *Store, tenant string) ticket.Ticket {
	t.Helper()
	tk := ticket.Ticket{Tenant: tenant, Subject: "s", Status: ticket.StatusNew, Priority: ticket.PriorityUrgent}
	err := s.WithTx(context.Background(), func(tx ticket.Tx) error {
		if err := tx.CreateTicket(context.Background(), &tk); err != nil {
			return err
		}
		return tx.AppendEvent(context.Background(), &ticket.Event{Tenant: tenant, Type: ticket.EventTicketCreated, TicketID: tk.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestConsumerCursor(t *testing.T) {
	ctx := context.Background()
	s := openChatStore(t)
	if _, err := s.ConsumerCursor(ctx, "slack:default"); !errors.Is(err, ticket.ErrNotFound) {
		t.Fatalf("new consumer: err = %v, want ErrNotFound", err)
	}
	if id, err := s.LastEventID(ctx); err != nil || id != 0 {
		t.Fatalf("LastEventID on empty outbox = %d, %v", id, err)
	}
	chatTicket(t, s, "a")
	chatTicket(t, s, "b")
	last, err := s.LastEventID(ctx)
	if err != nil || last < 2 {
		t.Fatalf("LastEventID = %d, %v", last, err)
	}
	for _, v := range []int64{last, 1, 0} { // moves either way: a replay is an admin's choice
		if err := s.SetConsumerCursor(ctx, "slack:default", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ConsumerCursor(ctx, "slack:default"); err != nil || got != v {
			t.Errorf("cursor = %d, %v; want %d", got, err, v)
		}
	}
	if got, _ := s.ConsumerCursor(ctx, "other"); got != 0 {
		t.Errorf("other consumer sees %d", got)
	}
	if err := s.SetConsumerCursor(ctx, "", 1); err == nil {
		t.Error("empty consumer accepted")
	}
}

func TestTicketByNumberReadSide(t *testing.T) {
	ctx := context.Background()
	s := openChatStore(t)
	a := chatTicket(t, s, "a")
	got, err := s.TicketByNumber(ctx, "a", a.Number)
	if err != nil || got.ID != a.ID {
		t.Fatalf("TicketByNumber = %+v, %v", got, err)
	}
	if _, err := s.TicketByNumber(ctx, "b", a.Number); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("other tenant: err = %v, want ErrNotFound", err)
	}
}

func TestSlackMessages(t *testing.T) {
	ctx := context.Background()
	s := openChatStore(t)
	tk := chatTicket(t, s, "a")
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := &struct{ t time.Time }{start}
	s.now = func() time.Time { return clk.t }

	alert := ticket.SlackMessage{Tenant: "a", Kind: ticket.SlackAlert, Ref: tk.ID, TicketID: tk.ID, Channel: "C1"}
	m, err := s.BeginSlackMessage(ctx, alert)
	if err != nil {
		t.Fatal(err)
	}
	if m.Posted() || !m.StartedAt.Equal(start) || m.TicketID != tk.ID {
		t.Fatalf("begun %+v", m)
	}
	// Beginning again returns the same row, not a new one.
	clk.t = start.Add(time.Minute)
	if again, err := s.BeginSlackMessage(ctx, alert); err != nil || again != m {
		t.Fatalf("second begin = %+v, %v; want %+v", again, err, m)
	}
	if err := s.FinishSlackMessage(ctx, "a", ticket.SlackAlert, tk.ID, "C1", "C0123", "1700000000.000100"); err != nil {
		t.Fatal(err)
	}
	done, err := s.SlackMessageFor(ctx, "a", ticket.SlackAlert, tk.ID, "C1")
	if err != nil || !done.Posted() || done.ChannelID != "C0123" || done.TS != "1700000000.000100" || !done.PostedAt.Equal(clk.t) {
		t.Fatalf("finished row = %+v, %v", done, err)
	}
	if again, _ := s.BeginSlackMessage(ctx, alert); again != done {
		t.Errorf("begin after finish = %+v, want the posted row", again)
	}

	// A second channel and a reply in the thread.
	if _, err := s.BeginSlackMessage(ctx, ticket.SlackMessage{Tenant: "a", Kind: ticket.SlackAlert, Ref: tk.ID, TicketID: tk.ID, Channel: "C0"}); err != nil {
		t.Fatal(err)
	}
	reply := ticket.SlackMessage{Tenant: "a", Kind: ticket.SlackReply, Ref: 77, TicketID: tk.ID, Channel: "C1", ThreadTS: done.TS}
	r, err := s.BeginSlackMessage(ctx, reply)
	if err != nil || r.ThreadTS != done.TS || r.Kind != ticket.SlackReply {
		t.Fatalf("reply row = %+v, %v", r, err)
	}
	alerts, err := s.SlackAlerts(ctx, "a", tk.ID)
	if err != nil || len(alerts) != 2 || alerts[0].Channel != "C0" || alerts[1].Channel != "C1" {
		t.Fatalf("SlackAlerts = %+v, %v", alerts, err)
	}

	// Tenant scoping and not-found.
	if got, err := s.SlackAlerts(ctx, "b", tk.ID); err != nil || len(got) != 0 {
		t.Errorf("tenant b alerts = %+v, %v", got, err)
	}
	if _, err := s.SlackMessageFor(ctx, "b", ticket.SlackAlert, tk.ID, "C1"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("tenant b row: err = %v", err)
	}
	if err := s.FinishSlackMessage(ctx, "b", ticket.SlackAlert, tk.ID, "C1", "C", "1.2"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("finish of another tenant's row: err = %v", err)
	}

	// Bad keys.
	for name, m := range map[string]ticket.SlackMessage{
		"kind":    {Tenant: "a", Kind: "dm", Ref: 1, Channel: "C"},
		"channel": {Tenant: "a", Kind: ticket.SlackAlert, Ref: 1},
		"ref":     {Tenant: "a", Kind: ticket.SlackAlert, Channel: "C"},
	} {
		if _, err := s.BeginSlackMessage(ctx, m); !errors.Is(err, ticket.ErrInvalid) {
			t.Errorf("bad %s: err = %v", name, err)
		}
	}
	if err := s.FinishSlackMessage(ctx, "a", ticket.SlackAlert, tk.ID, "C1", "C", ""); !errors.Is(err, ticket.ErrInvalid) {
		t.Errorf("empty ts: err = %v", err)
	}
}
