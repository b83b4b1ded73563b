package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	u, err := s.CreateUser(ctx, "a", "agent@a.example", "A", ticket.RoleAgent, "hash")
	if err != nil {
		t.Fatal(err)
	}
	h1, h2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	if _, err := s.CreateSession(ctx, "b", u.ID, h1, "csrf", now.Add(time.Hour)); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("session for another tenant's user: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateSession(ctx, "a", u.ID, "not-hex", "csrf", now.Add(time.Hour)); err == nil {
		t.Error("session with a malformed hash was stored")
	}
	if _, err := s.CreateSession(ctx, "a", u.ID, h1, "csrf1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSession(ctx, "a", u.ID, h2, "csrf2", now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	reads := s.NewPanelReads()
	defer reads.Close()
	for name, get := range map[string]func(string) (ticket.Session, error){
		"Store":      func(h string) (ticket.Session, error) { return s.SessionByHash(ctx, h) },
		"PanelReads": func(h string) (ticket.Session, error) { return reads.SessionByHash(ctx, h) },
	} {
		got, err := get(h1)
		if err != nil || got.Tenant != "a" || got.UserID != u.ID || got.CSRFToken != "csrf1" || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("%s.SessionByHash = %+v, %v", name, got, err)
		}
		if _, err := get(strings.Repeat("3", 64)); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("%s: unknown session: %v", name, err)
		}
	}
	now = now.Add(time.Hour) // h1 expires now
	if _, err := reads.SessionByHash(ctx, h1); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	if got, err := reads.UserByID(ctx, "a", u.ID); err != nil || got.Email != "agent@a.example" {
		t.Errorf("UserByID = %+v, %v", got, err)
	}
	if _, err := s.UserByID(ctx, "b", u.ID); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("UserByID of another tenant: %v", err)
	}
	// A new password ends every session of the user.
	if err := s.SetPassword(ctx, "a", "AGENT@a.example", "newhash"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByHash(ctx, h2); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("session after password change: %v, want ErrNotFound", err)
	}
	if got, _ := s.UserByEmail(ctx, "a", "agent@a.example"); got.PasswordHash != "newhash" {
		t.Errorf("password hash = %q", got.PasswordHash)
	}
	if err := s.SetPassword(ctx, "b", "agent@a.example", "x"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("SetPassword in another tenant: %v", err)
	}
	if err := s.DeleteSession(ctx, h2); err != nil {
		t.Errorf("DeleteSession of a gone session: %v", err)
	}
}

func TestPanelLookups(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	reads := s.NewPanelReads()
	defer reads.Close()
	var tk ticket.Ticket
	err := s.WithTx(ctx, func(tx ticket.Tx) error {
		tk = ticket.Ticket{Tenant: "a", Subject: "s", Status: ticket.StatusOpen, Priority: ticket.PriorityNormal,
			Requester: ticket.Address{Email: "c@x.example"}}
		if err := tx.CreateTicket(ctx, &tk); err != nil {
			return err
		}
		held := ticket.Message{Tenant: "a", MessageID: "m1@x", Direction: ticket.DirectionInbound, Held: true, Text: "held copy"}
		if err := tx.InsertMessage(ctx, &held); err != nil {
			return err
		}
		for i, id := range []string{"m1@x", "m2@x", "m3@x", "m4@x"} {
			m := ticket.Message{Tenant: "a", TicketID: tk.ID, MessageID: id, Direction: ticket.DirectionInbound, Text: "t" + string(rune('1'+i))}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type reader interface {
		MessageByMessageID(ctx context.Context, tenant, rfcID string) (ticket.Message, error)
		RecentMessages(ctx context.Context, tenant string, ticketID int64, n int) ([]ticket.Message, error)
		TicketsByRequester(ctx context.Context, tenant, email string, limit int) ([]ticket.Ticket, error)
		TicketByNumber(ctx context.Context, tenant string, number int64) (ticket.Ticket, error)
	}
	for name, r := range map[string]reader{"Store": s, "PanelReads": reads} {
		m, err := r.MessageByMessageID(ctx, "a", " <m1@x> ")
		if err != nil || m.TicketID != tk.ID || m.Held {
			t.Errorf("%s: MessageByMessageID = %+v, %v; want the ticketed copy", name, m, err)
		}
		if _, err := r.MessageByMessageID(ctx, "b", "m1@x"); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("%s: other tenant's message: %v", name, err)
		}
		if _, err := r.MessageByMessageID(ctx, "a", "<>"); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("%s: empty id: %v", name, err)
		}
		rec, err := r.RecentMessages(ctx, "a", tk.ID, 3)
		if err != nil || len(rec) != 3 || rec[0].MessageID != "m2@x" || rec[2].MessageID != "m4@x" {
			t.Errorf("%s: RecentMessages = %d %v", name, len(rec), err)
		}
		ts, err := r.TicketsByRequester(ctx, "a", "C@x.example", 5)
		if err != nil || len(ts) != 1 || ts[0].ID != tk.ID {
			t.Errorf("%s: TicketsByRequester = %v, %v", name, ts, err)
		}
		if got, err := r.TicketByNumber(ctx, "a", tk.Number); err != nil || got.ID != tk.ID {
			t.Errorf("%s: TicketByNumber = %v, %v", name, got, err)
		}
	}
}
