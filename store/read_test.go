package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestTenantIsolation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", ConversationID: "conv", Requester: ticket.Address{Email: "ann@globex.example"}})
	m := mustInsertMessage(t, s, fullMessage("a", tk.ID))
	tok, err := s.CreateToken(ctx, "a", "cli", strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSyncState(ctx, "a", "support", []byte("uidvalidity=1;uid=9")); err != nil {
		t.Fatal(err)
	}
	// Tenant a sees everything (so the checks below are not vacuous)...
	for _, tenant := range []string{"a", "b"} {
		visible := tenant == "a"
		checks := map[string]error{}
		_, checks["Ticket"] = s.Ticket(ctx, tenant, tk.ID)
		_, checks["TicketMessages"] = s.TicketMessages(ctx, tenant, tk.ID)
		_, checks["Message"] = s.Message(ctx, tenant, m.ID)
		_, checks["Attachment"] = s.Attachment(ctx, tenant, m.Attachments[0].ID)
		_, checks["SyncState"] = s.SyncState(ctx, tenant, "support")
		inTx(t, s, func(tx ticket.Tx) error {
			_, checks["Tx.Ticket"] = tx.Ticket(ctx, tenant, tk.ID)
			_, checks["Tx.TicketByNumber"] = tx.TicketByNumber(ctx, tenant, tk.Number)
			_, checks["Tx.TicketByConversation"] = tx.TicketByConversation(ctx, tenant, "conv")
			_, checks["Tx.Message"] = tx.Message(ctx, tenant, m.ID)
			_, checks["Tx.MessageByBody"] = tx.MessageByBody(ctx, tenant, m.MessageID, ticket.BodyKey{Hash: m.BodyHash})
			return nil
		})
		for name, err := range checks {
			if visible && err != nil {
				t.Errorf("tenant %s: %s: %v", tenant, name, err)
			}
			if !visible && !errors.Is(err, ticket.ErrNotFound) {
				t.Errorf("tenant %s: %s of tenant a's data = %v, want ErrNotFound", tenant, name, err)
			}
		}
		ts, _, err := s.ListTickets(ctx, tenant, ticket.TicketFilter{})
		n, err2 := s.CountMessages(ctx, tenant)
		want := 0
		if visible {
			want = 1
		}
		if err != nil || err2 != nil || len(ts) != want || n != want {
			t.Errorf("tenant %s: ListTickets %d (%v), CountMessages %d (%v); want %d", tenant, len(ts), err, n, err2, want)
		}
		inTx(t, s, func(tx ticket.Tx) error {
			ids, err := tx.TicketIDsByMessageIDs(ctx, tenant, []string{m.MessageID})
			ok, err2 := tx.IsParticipant(ctx, tenant, tk.ID, "ann@globex.example")
			c, err3 := tx.CountFromSender(ctx, tenant, "ann@globex.example", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 100)
			open, err4 := tx.OpenTicketsByRequester(ctx, tenant, "ann@globex.example", 5)
			if err != nil || err2 != nil || err3 != nil || err4 != nil || (len(ids) == 1) != visible ||
				ok != visible || (c == 1) != visible || (len(open) == 1) != visible {
				t.Errorf("tenant %s: ids %v, participant %v, count %d, open %d (%v %v %v %v)", tenant, ids, ok, c, len(open), err, err2, err3, err4)
			}
			return nil
		})
	}
	// A token always answers with its own tenant.
	got, err := s.TokenByHash(ctx, strings.Repeat("ab", 32))
	if err != nil || got.Tenant != "a" || got.ID != tok.ID {
		t.Errorf("TokenByHash = %+v, %v; want tenant a", got, err)
	}
}

// seedTickets creates n tickets of tenant a, ticket i updated at t0+i
// seconds, alternating mailboxes, statuses and requesters.
func seedTickets(t testing.TB, s *Store, n int, at func(i int) time.Time) []ticket.Ticket {
	t.Helper()
	ctx := context.Background()
	var out []ticket.Ticket
	inTx(t, s, func(tx ticket.Tx) error {
		for i := 0; i < n; i++ {
			tk := ticket.Ticket{
				Tenant: "a", Subject: fmt.Sprintf("t%d", i),
				Status:    []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusClosed}[i%3],
				Mailbox:   []string{"support", "sales"}[i%2],
				Requester: ticket.Address{Email: fmt.Sprintf("c%d@x.example", i%5)},
				CreatedAt: at(i), UpdatedAt: at(i),
			}
			if err := tx.CreateTicket(ctx, &tk); err != nil {
				return err
			}
			out = append(out, tk)
		}
		return nil
	})
	return out
}

func TestListTicketsPaginationStableUnderInserts(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// Every 10 tickets share one updated_at, so ties are broken by id.
	orig := seedTickets(t, s, 120, func(i int) time.Time { return t0.Add(time.Duration(i/10) * time.Second) })
	seen := map[int64]int{}
	var order []ticket.Ticket
	cursor, pages := "", 0
	for {
		page, next, err := s.ListTickets(ctx, "a", ticket.TicketFilter{Limit: 25, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tk := range page {
			seen[tk.ID]++
			order = append(order, tk)
		}
		// New tickets arrive between pages (newer than everything).
		seedTickets(t, s, 3, func(int) time.Time { return t0.Add(time.Hour * time.Duration(pages)) })
		if next == "" {
			break
		}
		cursor = next
		if pages > 20 {
			t.Fatal("pagination does not end")
		}
	}
	for _, tk := range orig {
		if seen[tk.ID] != 1 {
			t.Errorf("ticket %d seen %d times, want once", tk.ID, seen[tk.ID])
		}
	}
	if len(order) != 120 || pages != 5 {
		t.Errorf("got %d tickets in %d pages, want 120 in 5", len(order), pages)
	}
	for i := 1; i < len(order); i++ {
		a, b := order[i-1], order[i]
		if a.UpdatedAt.Before(b.UpdatedAt) || a.UpdatedAt.Equal(b.UpdatedAt) && a.ID < b.ID {
			t.Fatalf("order broken at %d: (%v,%d) before (%v,%d)", i, a.UpdatedAt, a.ID, b.UpdatedAt, b.ID)
		}
	}
}

func TestListTicketsFilters(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	seedTickets(t, s, 30, func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) })
	mustCreateTicket(t, s, ticket.Ticket{Tenant: "b", Mailbox: "support"})
	for _, tc := range []struct {
		name  string
		f     ticket.TicketFilter
		want  int
		check func(ticket.Ticket) bool
	}{
		{"default limit", ticket.TicketFilter{}, 30, func(ticket.Ticket) bool { return true }},
		{"status", ticket.TicketFilter{Status: ticket.StatusOpen}, 10, func(tk ticket.Ticket) bool { return tk.Status == ticket.StatusOpen }},
		{"mailbox", ticket.TicketFilter{Mailbox: "sales"}, 15, func(tk ticket.Ticket) bool { return tk.Mailbox == "sales" }},
		{"requester normalised", ticket.TicketFilter{Requester: " C1@X.example"}, 6, func(tk ticket.Ticket) bool { return tk.Requester.Email == "c1@x.example" }},
		{"combined", ticket.TicketFilter{Status: ticket.StatusNew, Mailbox: "support"}, 5, func(tk ticket.Ticket) bool {
			return tk.Status == ticket.StatusNew && tk.Mailbox == "support"
		}},
		{"limit", ticket.TicketFilter{Limit: 7}, 7, func(ticket.Ticket) bool { return true }},
		{"nothing", ticket.TicketFilter{Mailbox: "nope"}, 0, func(ticket.Ticket) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, next, err := s.ListTickets(ctx, "a", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != tc.want {
				t.Errorf("got %d tickets, want %d", len(ts), tc.want)
			}
			if (next != "") != (tc.f.Limit > 0 && tc.f.Limit < 30) {
				t.Errorf("next cursor %q unexpected", next)
			}
			for _, tk := range ts {
				if !tc.check(tk) || tk.Tenant != "a" {
					t.Errorf("ticket %+v does not match the filter", tk)
				}
			}
		})
	}
	// Limits are clamped.
	seedTickets(t, s, 250, func(i int) time.Time { return t0 })
	if ts, _, _ := s.ListTickets(ctx, "a", ticket.TicketFilter{}); len(ts) != ticket.DefaultListLimit {
		t.Errorf("default page = %d, want %d", len(ts), ticket.DefaultListLimit)
	}
	if ts, _, _ := s.ListTickets(ctx, "a", ticket.TicketFilter{Limit: 10000}); len(ts) != ticket.MaxListLimit {
		t.Errorf("huge limit page = %d, want %d", len(ts), ticket.MaxListLimit)
	}
	// Bad input.
	for _, c := range []string{"garbage!", encodeCursor("2026", 1), "djF8eHx5", encodeCursor(fmtTime(t0), 0)} {
		if _, _, err := s.ListTickets(ctx, "a", ticket.TicketFilter{Cursor: c}); !errors.Is(err, ticket.ErrInvalidCursor) {
			t.Errorf("cursor %q: %v, want ticket.ErrInvalidCursor", c, err)
		}
	}
	if _, _, err := s.ListTickets(ctx, "a", ticket.TicketFilter{Status: "deleted"}); !errors.Is(err, ticket.ErrInvalidFilter) {
		t.Errorf("bad status: %v, want ticket.ErrInvalidFilter", err)
	}
}

func TestTicketMessagesOrder(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	other := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	ins := func(date, created time.Time, atts int) int64 {
		m := ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound, Date: date, CreatedAt: created}
		for i := 0; i < atts; i++ {
			m.Attachments = append(m.Attachments, ticket.Attachment{Filename: fmt.Sprintf("f%d", i)})
		}
		return mustInsertMessage(t, s, m).ID
	}
	third := ins(t0.Add(2*time.Hour), t0, 2)                // stored first, dated last
	first := ins(t0, t0.Add(time.Minute), 0)                // dated first
	second := ins(time.Time{}, t0.Add(time.Hour), 1)        // no Date: its storage time
	secondB := ins(t0.Add(time.Hour), t0.Add(time.Hour), 0) // same instant: storage order
	mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: other.ID, Direction: ticket.DirectionInbound})
	msgs, err := s.TicketMessages(ctx, "a", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, m := range msgs {
		got = append(got, m.ID)
	}
	if want := []int64{first, second, secondB, third}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if len(msgs) == 4 && (len(msgs[1].Attachments) != 1 || len(msgs[3].Attachments) != 2 || msgs[3].Attachments[1].Filename != "f1") {
		t.Errorf("attachments not filled in order: %+v / %+v", msgs[1].Attachments, msgs[3].Attachments)
	}
	if _, err := s.TicketMessages(ctx, "a", 99999); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("TicketMessages of a missing ticket = %v, want ErrNotFound", err)
	}
	if msgs, err := s.TicketMessages(ctx, "a", other.ID); err != nil || len(msgs) != 1 {
		t.Errorf("other ticket: %d messages, %v", len(msgs), err)
	}
}
