package ticket

import (
	"context"
	"encoding/json"
	"testing"
)

// TestIngestSetsPriority: a new ticket takes the priority the rules give
// its first mail (keyword, header, tier), and ticket.created says why; a
// reply does not re-prioritise the ticket.
func TestIngestSetsPriority(t *testing.T) {
	ctx := context.Background()
	rules, err := NewPrioritizer(PriorityRules{Keywords: map[string]Priority{"outage": PriorityUrgent}, Tiers: map[string]Priority{"gold": PriorityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	m := newMemStore()
	svc, err := NewService(Options{Store: m, Priority: rules, Tier: func(_ context.Context, tenant, email string) string {
		if email == "vip@gold.example" {
			return "gold"
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   Inbound
		want Priority
	}{
		{"keyword", Inbound{MessageID: "a@x", BodyHash: "a", From: Address{Email: "a@x.example"}, Subject: "Total OUTAGE in eu-west"}, PriorityUrgent},
		{"importance header", Inbound{MessageID: "b@x", BodyHash: "b", From: Address{Email: "b@x.example"}, Subject: "hello", Header: Header{"Importance": {"high"}}}, PriorityHigh},
		{"tier", Inbound{MessageID: "c@x", BodyHash: "c", From: Address{Email: "vip@gold.example"}, Subject: "hello"}, PriorityHigh},
		{"nothing", Inbound{MessageID: "d@x", BodyHash: "d", From: Address{Email: "d@x.example"}, Subject: "down the road"}, PriorityNormal},
		{"reply keeps priority", Inbound{MessageID: "e@x", BodyHash: "e", InReplyTo: "d@x", From: Address{Email: "d@x.example"}, Subject: "Re: outage now"}, PriorityNormal},
	} {
		tc.in.Mailbox, tc.in.SourceKey = "support", "k:"+tc.in.MessageID
		res, err := svc.Ingest(ctx, tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got Ticket
		m.WithTx(ctx, func(tx Tx) error { got, err = tx.Ticket(ctx, DefaultTenant, res.TicketID); return err })
		if got.Priority != tc.want {
			t.Errorf("%s: priority %q, want %q", tc.name, got.Priority, tc.want)
		}
	}
	var created []EventPayload
	for _, e := range m.Events() {
		if e.Type == EventTicketCreated {
			var p EventPayload
			json.Unmarshal(e.Payload, &p)
			created = append(created, p)
		}
	}
	if len(created) != 4 || created[0].Priority != PriorityUrgent || len(created[0].PriorityReasons) == 0 {
		t.Fatalf("ticket.created payloads %+v: want 4, the first urgent with reasons", created)
	}
}
