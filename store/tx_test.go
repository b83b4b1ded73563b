package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 123456789, time.UTC)

func mustCreateTicket(t testing.TB, s *Store, tk ticket.Ticket) ticket.Ticket {
	t.Helper()
	inTx(t, s, func(tx ticket.Tx) error { return tx.CreateTicket(context.Background(), &tk) })
	return tk
}

func mustInsertMessage(t testing.TB, s *Store, m ticket.Message) ticket.Message {
	t.Helper()
	inTx(t, s, func(tx ticket.Tx) error { return tx.InsertMessage(context.Background(), &m) })
	return m
}

func TestTicketNumberingPerTenant(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		tenant string
		want   int64
	}{{"a", 1}, {"a", 2}, {"b", 1}, {"a", 3}, {"b", 2}} {
		tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: tc.tenant, Subject: "s"})
		if tk.Number != tc.want || tk.ID == 0 {
			t.Errorf("tenant %s: got number %d id %d, want number %d", tc.tenant, tk.Number, tk.ID, tc.want)
		}
	}
}

func TestTicketRoundTripAndUpdate(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	zone := time.FixedZone("CET", 3600)
	first := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Subject: "first"})
	in := ticket.Ticket{
		Tenant: "a", Subject: "Production is down", Status: ticket.StatusOpen,
		Priority: ticket.PriorityUrgent, Requester: ticket.Address{Name: "Ann", Email: " Ann@Globex.Example "},
		Mailbox: "support", Assignee: "bob@acme.example", ConversationID: "01d2e3f4",
		LinkedTicketID: first.ID, CreatedAt: t0.In(zone), UpdatedAt: t0.Add(time.Hour).In(zone),
	}
	got := mustCreateTicket(t, s, in)
	want := in
	want.ID, want.Number = got.ID, 2
	want.Requester.Email = "ann@globex.example"
	want.CreatedAt, want.UpdatedAt = t0, t0.Add(time.Hour)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CreateTicket set\n %+v\nwant\n %+v", got, want)
	}
	inTx(t, s, func(tx ticket.Tx) error {
		for name, load := range map[string]func() (ticket.Ticket, error){
			"Ticket":               func() (ticket.Ticket, error) { return tx.Ticket(ctx, "a", got.ID) },
			"TicketByNumber":       func() (ticket.Ticket, error) { return tx.TicketByNumber(ctx, "a", 2) },
			"TicketByConversation": func() (ticket.Ticket, error) { return tx.TicketByConversation(ctx, "a", "01d2e3f4") },
		} {
			l, err := load()
			if err != nil || !reflect.DeepEqual(l, want) {
				t.Errorf("%s = %+v, %v; want %+v", name, l, err, want)
			}
		}
		return nil
	})

	upd := want
	upd.Status, upd.Priority, upd.Assignee, upd.Subject = ticket.StatusClosed, ticket.PriorityLow, "", "Resolved"
	upd.UpdatedAt, upd.ClosedAt = t0.Add(2*time.Hour), t0.Add(2*time.Hour)
	upd.Requester = ticket.Address{Email: "not-updated@x.example"} // not a mutable field
	inTx(t, s, func(tx ticket.Tx) error { return tx.UpdateTicket(ctx, upd) })
	l, err := s.Ticket(ctx, "a", got.ID)
	wantUpd := upd
	wantUpd.Requester = want.Requester
	if err != nil || !reflect.DeepEqual(l, wantUpd) {
		t.Errorf("after UpdateTicket: %+v, %v; want %+v", l, err, wantUpd)
	}

	// Errors.
	err = s.WithTx(ctx, func(tx ticket.Tx) error {
		other := upd
		other.Tenant = "b"
		return tx.UpdateTicket(ctx, other)
	})
	if !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("UpdateTicket of another tenant's ticket = %v, want ErrNotFound", err)
	}
	for _, bad := range []ticket.Ticket{
		{Subject: "no tenant"},
		{Tenant: "a", Status: "bogus"},
		{Tenant: "a", Priority: "meh"},
		{Tenant: "a", LinkedTicketID: 999999},
		{Tenant: "b", LinkedTicketID: first.ID}, // another tenant's ticket
	} {
		err := s.WithTx(ctx, func(tx ticket.Tx) error { return tx.CreateTicket(ctx, &bad) })
		if err == nil {
			t.Errorf("CreateTicket(%+v) succeeded, want error", bad)
		}
	}
}

func TestTicketByConversationMostRecent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	old := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", ConversationID: "c1", UpdatedAt: t0})
	recent := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", ConversationID: "c1", UpdatedAt: t0.Add(time.Minute)})
	mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", ConversationID: "c2", UpdatedAt: t0.Add(time.Hour)})
	inTx(t, s, func(tx ticket.Tx) error {
		got, err := tx.TicketByConversation(ctx, "a", "c1")
		if err != nil || got.ID != recent.ID {
			t.Errorf("TicketByConversation = %d, %v; want %d (not %d)", got.ID, err, recent.ID, old.ID)
		}
		for _, conv := range []string{"", "c3"} {
			if _, err := tx.TicketByConversation(ctx, "a", conv); !errors.Is(err, ticket.ErrNotFound) {
				t.Errorf("TicketByConversation(%q) = %v, want ErrNotFound", conv, err)
			}
		}
		return nil
	})
}

func fullMessage(tenant string, ticketID int64) ticket.Message {
	return ticket.Message{
		Tenant: tenant, TicketID: ticketID, Mailbox: "support",
		MessageID: "CAF=abc@mail.gmail.com", InReplyTo: "orig@globex.example",
		References:     []string{"root@globex.example", "orig@globex.example"},
		ConversationID: "01d2e3f4a5", Direction: ticket.DirectionInbound, Classification: ticket.ClassNormal,
		From:    ticket.Address{Name: "Ann Smith", Email: "Ann@Globex.Example"},
		To:      []ticket.Address{{Name: "Acme Support", Email: "support@acme.example"}},
		Cc:      []ticket.Address{{Email: "cto@globex.example"}, {Name: "Ops", Email: "ops@globex.example"}},
		ReplyTo: []ticket.Address{{Email: "ann.private@example.com"}},
		Subject: "Re: Production is down", Date: time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("", -5*3600)),
		Text: "It is still down.\n— Ann", HTML: "<p>It is still down.</p>",
		Raw:      ticket.BlobRef{SHA256: "ab" + fmt.Sprintf("%062x", 1), Size: 4242},
		BodyHash: fmt.Sprintf("%064x", 7), ParseError: "",
		Attachments: []ticket.Attachment{
			{Filename: "logo.png", ContentType: "image/png", Size: 10, SHA256: fmt.Sprintf("%064x", 2), Inline: true, ContentID: "logo@x"},
			{Filename: "Rechnung März.pdf", ContentType: "application/pdf", Size: 20, SHA256: fmt.Sprintf("%064x", 3)},
		},
		CreatedAt: t0,
	}
}

func TestInsertMessageRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: ticket.Address{Email: "ann@globex.example"}})
	in := fullMessage("a", tk.ID)
	got := mustInsertMessage(t, s, in)
	if got.ID == 0 || got.Attachments[0].ID == 0 || got.Attachments[1].ID == 0 || got.Attachments[0].ID == got.Attachments[1].ID {
		t.Fatalf("ids not assigned: message %d, attachments %+v", got.ID, got.Attachments)
	}
	want := in
	want.ID = got.ID
	want.From.Email = "ann@globex.example"
	want.Date = in.Date.UTC()
	want.Attachments = append([]ticket.Attachment(nil), in.Attachments...)
	want.Attachments[0].ID, want.Attachments[1].ID = got.Attachments[0].ID, got.Attachments[1].ID
	if !reflect.DeepEqual(got, want) {
		t.Errorf("InsertMessage left\n %+v\nwant\n %+v", got, want)
	}
	loaded, err := s.Message(ctx, "a", got.ID)
	if err != nil || !reflect.DeepEqual(loaded, want) {
		t.Errorf("Message = \n %+v, %v\nwant\n %+v", loaded, err, want)
	}
	inTx(t, s, func(tx ticket.Tx) error {
		m, err := tx.Message(ctx, "a", got.ID)
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Errorf("Tx.Message = %+v, %v", m, err)
		}
		for _, email := range []string{"ann@globex.example", "SUPPORT@acme.example", "cto@globex.example", "ops@globex.example"} {
			if ok, err := tx.IsParticipant(ctx, "a", tk.ID, email); !ok || err != nil {
				t.Errorf("IsParticipant(%s) = %v, %v; want true", email, ok, err)
			}
		}
		// Reply-To does not make a participant; neither does another ticket's address.
		for _, email := range []string{"ann.private@example.com", "stranger@evil.example", ""} {
			if ok, err := tx.IsParticipant(ctx, "a", tk.ID, email); ok || err != nil {
				t.Errorf("IsParticipant(%q) = %v, %v; want false", email, ok, err)
			}
		}
		return nil
	})
	for _, a := range want.Attachments {
		ga, err := s.Attachment(ctx, "a", a.ID)
		if err != nil || !reflect.DeepEqual(ga, a) {
			t.Errorf("Attachment(%d) = %+v, %v; want %+v", a.ID, ga, err, a)
		}
	}

	// A minimal message: empty lists read back as nil, zero date stays zero.
	min := mustInsertMessage(t, s, ticket.Message{Tenant: "a", Direction: ticket.DirectionNote, Text: "note"})
	lm, err := s.Message(ctx, "a", min.ID)
	if err != nil || lm.References != nil || lm.To != nil || !lm.Date.IsZero() || lm.Classification != ticket.ClassNormal ||
		lm.CreatedAt.IsZero() || lm.TicketID != 0 || lm.Attachments != nil {
		t.Errorf("minimal message read back as %+v, %v", lm, err)
	}

	for name, bad := range map[string]ticket.Message{
		"no tenant":            {Direction: ticket.DirectionInbound},
		"no direction":         {Tenant: "a"},
		"unknown ticket":       {Tenant: "a", Direction: ticket.DirectionInbound, TicketID: 99999},
		"other tenant ticket":  {Tenant: "b", Direction: ticket.DirectionInbound, TicketID: tk.ID},
		"created out of range": {Tenant: "a", Direction: ticket.DirectionInbound, CreatedAt: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := s.WithTx(ctx, func(tx ticket.Tx) error { return tx.InsertMessage(ctx, &bad) })
		if err == nil {
			t.Errorf("InsertMessage %s succeeded, want error", name)
		}
	}
}

// TestBodyHashOnDemand: capture stores messages without a body hash; the
// duplicate look-up works hashes out from the raw blobs only when a stored
// message has the Message-ID, keeps the stored ones' hashes, and so finds
// the same mail with other delivery headers and not another body with the
// same Message-ID. A message whose Message-ID nobody has is not hashed at
// all; a stored message whose blob is gone is marked so and matches
// nothing; a new message whose own blob is gone is an error, not a match.
func TestBodyHashOnDemand(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put := func(raw string) ticket.BlobRef {
		t.Helper()
		ref, err := s.Blobs().Put(ctx, strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	hash := func(raw string, ref ticket.BlobRef) string {
		t.Helper()
		h, err := ticket.BodyHash(strings.NewReader(raw), ref.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	body := "Message-ID: <same@x>\r\nSubject: hi\r\n\r\nThe body.\r\n"
	first := put("Delivered-To: support@x\r\n" + body)
	againRaw := "Delivered-To: sales@x\r\n" + body
	again := put(againRaw)
	otherRaw := "Delivered-To: sales@x\r\nMessage-ID: <same@x>\r\n\r\nAnother body.\r\n"
	other := put(otherRaw)
	missing := ticket.BlobRef{SHA256: strings.Repeat("ab", 32), Size: 10}
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	// A mailer that reuses its Message-ID: another body stored first.
	mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "same@x", Raw: put("Message-ID: <same@x>\r\n\r\nA third body.\r\n")})
	m1 := mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "same@x", Raw: first})
	gone := mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "gone@x", Raw: missing})
	lone := mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "lone@x", Raw: put("Message-ID: <lone@x>\r\n\r\nAlone.\r\n")})
	inTx(t, s, func(tx ticket.Tx) error {
		if m, err := tx.MessageByBody(ctx, "a", "same@x", ticket.BodyKey{Raw: again.SHA256}); err != nil || m.ID != m1.ID {
			t.Errorf("same mail, other headers: %d, %v; want message %d", m.ID, err, m1.ID)
		}
		if m, err := tx.MessageByBody(ctx, "a", "same@x", ticket.BodyKey{Hash: hash(againRaw, again)}); err != nil || m.ID != m1.ID {
			t.Errorf("same mail by its hash: %d, %v; want message %d", m.ID, err, m1.ID)
		}
		if _, err := tx.MessageByBody(ctx, "a", "same@x", ticket.BodyKey{Raw: other.SHA256}); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("same Message-ID, other body: %v, want ErrNotFound", err)
		}
		if _, err := tx.MessageByBody(ctx, "b", "same@x", ticket.BodyKey{Raw: again.SHA256}); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("another tenant: %v, want ErrNotFound", err)
		}
		if _, err := tx.MessageByBody(ctx, "a", "gone@x", ticket.BodyKey{Raw: again.SHA256}); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("stored message without its blob: %v, want ErrNotFound", err)
		}
		if _, err := tx.MessageByBody(ctx, "a", "new@x", ticket.BodyKey{Raw: missing.SHA256}); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("a Message-ID nobody has: %v, want ErrNotFound without reading the blob", err)
		}
		if _, err := tx.MessageByBody(ctx, "a", "same@x", ticket.BodyKey{Raw: missing.SHA256}); err == nil || errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("a new message without its blob: %v, want an error", err)
		}
		return nil
	})
	var unhashed int
	if err := s.w.QueryRow(`SELECT COUNT(*) FROM messages WHERE message_id = 'same@x' AND body_hash = ''`).Scan(&unhashed); err != nil || unhashed != 0 {
		t.Errorf("%d messages with the looked-up Message-ID left without a body hash (%v), want 0", unhashed, err)
	}
	if m, err := s.Message(ctx, "a", m1.ID); err != nil || m.BodyHash != hash(againRaw, again) {
		t.Errorf("message %d: body hash %q, %v; want the one worked out", m1.ID, m.BodyHash, err)
	}
	if m, err := s.Message(ctx, "a", gone.ID); err != nil || m.BodyHash != noBodyHash {
		t.Errorf("message without its blob: body hash %q, %v; want %q", m.BodyHash, err, noBodyHash)
	}
	if m, err := s.Message(ctx, "a", lone.ID); err != nil || m.BodyHash != "" {
		t.Errorf("message never compared: body hash %q, %v; want none worked out", m.BodyHash, err)
	}
}

func TestDedupe(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	m1 := mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "dup@x", BodyHash: "h1"})
	// Same Message-ID, different body: a broken mailer reusing ids. Both kept.
	m2 := mustInsertMessage(t, s, ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "dup@x", BodyHash: "h2"})
	inTx(t, s, func(tx ticket.Tx) error {
		if _, err := tx.SourceMessage(ctx, "a", "support", "imap:1:7"); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("SourceMessage before AddSource = %v, want ErrNotFound", err)
		}
		for i := 0; i < 2; i++ { // the same source twice is not an error
			if err := tx.AddSource(ctx, "a", "support", "imap:1:7", m1.ID); err != nil {
				t.Errorf("AddSource #%d: %v", i+1, err)
			}
		}
		// A second mailbox delivering the same mail maps to the same message.
		if err := tx.AddSource(ctx, "a", "sales", "imap:9:1", m1.ID); err != nil {
			t.Error(err)
		}
		if err := tx.AddSource(ctx, "a", "support", "imap:1:8", 999999); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("AddSource of a missing message = %v, want ErrNotFound", err)
		}
		for _, tc := range []struct {
			mailbox, key string
			want         int64
		}{{"support", "imap:1:7", m1.ID}, {"sales", "imap:9:1", m1.ID}} {
			if id, err := tx.SourceMessage(ctx, "a", tc.mailbox, tc.key); err != nil || id != tc.want {
				t.Errorf("SourceMessage(%s, %s) = %d, %v; want %d", tc.mailbox, tc.key, id, err, tc.want)
			}
		}
		if _, err := tx.SourceMessage(ctx, "b", "support", "imap:1:7"); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("SourceMessage of another tenant = %v, want ErrNotFound", err)
		}
		for _, tc := range []struct {
			hash string
			want int64
		}{{"h1", m1.ID}, {"h2", m2.ID}} {
			m, err := tx.MessageByBody(ctx, "a", "dup@x", ticket.BodyKey{Hash: tc.hash})
			if err != nil || m.ID != tc.want {
				t.Errorf("MessageByBody(%s) = %d, %v; want %d", tc.hash, m.ID, err, tc.want)
			}
		}
		for _, tc := range [][3]string{{"a", "dup@x", "h3"}, {"a", "other@x", "h1"}, {"b", "dup@x", "h1"}, {"a", "dup@x", ""}} {
			if _, err := tx.MessageByBody(ctx, tc[0], tc[1], ticket.BodyKey{Hash: tc[2]}); !errors.Is(err, ticket.ErrNotFound) {
				t.Errorf("MessageByBody%v = %v, want ErrNotFound", tc, err)
			}
		}
		return nil
	})
	if n, _ := s.CountMessages(ctx, "a"); n != 2 {
		t.Errorf("CountMessages = %d, want 2", n)
	}
}

func TestTicketIDsByMessageIDs(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	t1 := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	t2 := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	tb := mustCreateTicket(t, s, ticket.Ticket{Tenant: "b"})
	ins := func(tenant string, ticketID int64, mid string) {
		mustInsertMessage(t, s, ticket.Message{Tenant: tenant, TicketID: ticketID, MessageID: mid, Direction: ticket.DirectionInbound})
	}
	ins("a", t1.ID, "m1@x")
	ins("a", t2.ID, "m2@x")
	ins("a", t1.ID, "m3@x") // most recent, on t1
	ins("a", 0, "held@x")   // held: no ticket
	ins("b", tb.ID, "m1@x") // same id in another tenant
	many := make([]string, 1200)
	for i := range many {
		many[i] = fmt.Sprintf("filler-%d@x", i)
	}
	for _, tc := range []struct {
		ids  []string
		want []int64
	}{
		{[]string{"m1@x", "m2@x", "m3@x"}, []int64{t1.ID, t2.ID}},
		{[]string{"m1@x", "m2@x"}, []int64{t2.ID, t1.ID}},
		{[]string{"m1@x", "m1@x", ""}, []int64{t1.ID}},
		{[]string{"held@x", "nope@x"}, nil},
		{nil, nil},
		{append(append([]string{"m1@x"}, many...), "m2@x"), []int64{t2.ID, t1.ID}}, // across IN chunks
	} {
		inTx(t, s, func(tx ticket.Tx) error {
			got, err := tx.TicketIDsByMessageIDs(ctx, "a", tc.ids)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("TicketIDsByMessageIDs(%d ids) = %v, %v; want %v", len(tc.ids), got, err, tc.want)
			}
			return nil
		})
	}
}

func TestCountFromSender(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	for _, m := range []ticket.Message{
		{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound, From: ticket.Address{Email: "flood@x.example"}, Date: t0},
		{Tenant: "a", Direction: ticket.DirectionInbound, From: ticket.Address{Email: "FLOOD@x.example"}, Held: true, Date: t0.Add(time.Minute)},
		{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound, From: ticket.Address{Email: "flood@x.example"}, Date: t0.Add(-time.Nanosecond)},
		{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionOutgoing, From: ticket.Address{Email: "flood@x.example"}, Date: t0.Add(time.Minute)},
		{Tenant: "b", Direction: ticket.DirectionInbound, From: ticket.Address{Email: "flood@x.example"}, Date: t0.Add(time.Minute)},
		// Stored now but dated a year ago (backlog sync): outside a window around t0.
		{Tenant: "a", Direction: ticket.DirectionInbound, From: ticket.Address{Email: "flood@x.example"}, Date: t0.AddDate(-1, 0, 0), CreatedAt: t0},
	} {
		mustInsertMessage(t, s, m)
	}
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		email    string
		from, to time.Time
		limit    int
		want     int
	}{
		{"flood@x.example", t0, far, 100, 2}, // boundary included, held included, earlier/outbound/other tenant not
		{" Flood@X.example", t0.Add(-time.Hour), far, 100, 3},
		{"flood@x.example", t0.Add(-time.Hour), t0, 100, 2}, // upper bound included, later excluded
		{"flood@x.example", t0.Add(time.Hour), far, 100, 0},
		{"flood@x.example", time.Time{}, far, 100, 4},
		{"flood@x.example", time.Time{}, far, 2, 2}, // counting stops at the limit
		{"other@x.example", t0, far, 100, 0},
	} {
		inTx(t, s, func(tx ticket.Tx) error {
			n, err := tx.CountFromSender(ctx, "a", tc.email, tc.from, tc.to, tc.limit)
			if err != nil || n != tc.want {
				t.Errorf("CountFromSender(%q, %v, %v, %d) = %d, %v; want %d", tc.email, tc.from, tc.to, tc.limit, n, err, tc.want)
			}
			return nil
		})
	}
}

func TestAttachMessage(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a"})
	tb := mustCreateTicket(t, s, ticket.Ticket{Tenant: "b"})
	held := mustInsertMessage(t, s, ticket.Message{Tenant: "a", Direction: ticket.DirectionInbound, Held: true,
		From: ticket.Address{Email: "auto@x.example"}, Cc: []ticket.Address{{Email: "cc@x.example"}}})
	inTx(t, s, func(tx ticket.Tx) error {
		if ok, _ := tx.IsParticipant(ctx, "a", tk.ID, "auto@x.example"); ok {
			t.Error("held sender is a participant before attaching")
		}
		for name, err := range map[string]error{
			"other tenant's ticket":  tx.AttachMessage(ctx, "a", held.ID, tb.ID),
			"other tenant's message": tx.AttachMessage(ctx, "b", held.ID, tb.ID),
			"missing message":        tx.AttachMessage(ctx, "a", 99999, tk.ID),
		} {
			if !errors.Is(err, ticket.ErrNotFound) {
				t.Errorf("AttachMessage %s = %v, want ErrNotFound", name, err)
			}
		}
		if err := tx.AttachMessage(ctx, "a", held.ID, tk.ID); err != nil {
			t.Fatalf("AttachMessage: %v", err)
		}
		for _, e := range []string{"auto@x.example", "cc@x.example"} {
			if ok, err := tx.IsParticipant(ctx, "a", tk.ID, e); !ok || err != nil {
				t.Errorf("IsParticipant(%s) after attach = %v, %v", e, ok, err)
			}
		}
		return nil
	})
	m, err := s.Message(ctx, "a", held.ID)
	if err != nil || m.Held || m.TicketID != tk.ID {
		t.Errorf("after AttachMessage: held=%v ticket=%d err=%v; want false, %d", m.Held, m.TicketID, err, tk.ID)
	}
	msgs, err := s.TicketMessages(ctx, "a", tk.ID)
	if err != nil || len(msgs) != 1 || msgs[0].ID != held.ID {
		t.Errorf("TicketMessages after attach = %v, %v", msgs, err)
	}
}

func TestOpenTicketsByRequester(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	req := ticket.Address{Email: "ann@globex.example"}
	a := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: req, Status: ticket.StatusOpen, UpdatedAt: t0})
	b := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: req, Status: ticket.StatusPending, UpdatedAt: t0.Add(time.Hour)})
	c := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: req, Status: ticket.StatusNew, UpdatedAt: t0}) // ties with a: higher id first
	mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: req, Status: ticket.StatusClosed, UpdatedAt: t0.Add(2 * time.Hour)})
	mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: ticket.Address{Email: "bob@x.example"}, UpdatedAt: t0})
	mustCreateTicket(t, s, ticket.Ticket{Tenant: "b", Requester: req, UpdatedAt: t0.Add(3 * time.Hour)})
	for _, tc := range []struct {
		email string
		limit int
		want  []int64
	}{
		{"ANN@globex.example", 10, []int64{b.ID, c.ID, a.ID}},
		{"ann@globex.example", 2, []int64{b.ID, c.ID}},
		{"ann@globex.example", 0, []int64{}},
		{"nobody@x.example", 5, []int64{}},
	} {
		inTx(t, s, func(tx ticket.Tx) error {
			ts, err := tx.OpenTicketsByRequester(ctx, "a", tc.email, tc.limit)
			got := []int64{}
			for _, tk := range ts {
				got = append(got, tk.ID)
			}
			if err != nil || ts == nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("OpenTicketsByRequester(%s, %d) = %v (nil=%v), %v; want %v", tc.email, tc.limit, got, ts == nil, err, tc.want)
			}
			return nil
		})
	}
}

func TestEventsOutbox(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var written []ticket.Event
	inTx(t, s, func(tx ticket.Tx) error {
		for i := 0; i < 5; i++ {
			e := ticket.Event{Tenant: []string{"a", "b"}[i%2], Type: ticket.EventMessageReceived, TicketID: int64(i + 1),
				MessageID: int64(10 + i), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: t0.Add(time.Duration(i))}
			if err := tx.AppendEvent(ctx, &e); err != nil {
				return err
			}
			if e.ID == 0 {
				t.Error("AppendEvent assigned no id")
			}
			written = append(written, e)
		}
		e := ticket.Event{Tenant: "a", Type: ticket.EventTicketCreated} // no payload, no time
		if err := tx.AppendEvent(ctx, &e); err != nil {
			return err
		}
		written = append(written, e)
		if err := tx.AppendEvent(ctx, &ticket.Event{Tenant: "a"}); err == nil {
			t.Error("AppendEvent without a type succeeded")
		}
		return nil
	})
	// A rolled-back event never shows.
	s.WithTx(ctx, func(tx ticket.Tx) error {
		tx.AppendEvent(ctx, &ticket.Event{Tenant: "a", Type: "x"})
		return errors.New("abort")
	})
	var got []ticket.Event
	after := int64(0)
	for {
		page, err := s.PendingEvents(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(got, written) {
		t.Errorf("PendingEvents paged\n %+v\nwant\n %+v", got, written)
	}
	if got[5].Payload != nil || got[5].CreatedAt.IsZero() {
		t.Errorf("event without payload read back as %+v", got[5])
	}
}

// TestManyParticipants: a mail to more addresses than one INSERT carries
// makes every one of them a participant, once.
func TestManyParticipants(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "a", Requester: ticket.Address{Email: "ann@globex.example"}})
	in := fullMessage("a", tk.ID)
	in.Attachments = nil
	in.Cc = nil
	for i := range participantChunk + 11 {
		in.Cc = append(in.Cc, ticket.Address{Email: fmt.Sprintf("Person%d@Globex.example", i%(participantChunk+5))})
	}
	mustInsertMessage(t, s, in)
	var n int
	if err := s.r.QueryRow(`SELECT COUNT(*) FROM participants WHERE tenant_id = 'a' AND ticket_id = ?`, tk.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// ann (requester and From), the To address, and participantChunk+5 distinct Cc.
	if want := 2 + participantChunk + 5; n != want {
		t.Errorf("%d participants, want %d", n, want)
	}
	inTx(t, s, func(tx ticket.Tx) error {
		if ok, err := tx.IsParticipant(ctx, "a", tk.ID, "person54@globex.example"); !ok || err != nil {
			t.Errorf("IsParticipant = %v, %v; want true", ok, err)
		}
		return nil
	})
}

// TestRequesterIsAParticipant: a new ticket's requester becomes a
// participant row whether the ticket's first message comes in the same
// transaction (one INSERT with its addresses), no message does, or the
// ticket is merged away before its transaction ends; and is one at once
// for IsParticipant.
func TestRequesterIsAParticipant(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	participants := func(id int64) []string {
		t.Helper()
		rows, err := s.r.Query(`SELECT email FROM participants WHERE tenant_id = 'a' AND ticket_id = ? ORDER BY email`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	var withMsg, alone, merged, into ticket.Ticket
	inTx(t, s, func(tx ticket.Tx) error {
		withMsg = ticket.Ticket{Tenant: "a", Subject: "with a message", Requester: ticket.Address{Email: "Zoe@Initech.example"}}
		alone = ticket.Ticket{Tenant: "a", Subject: "no message", Requester: ticket.Address{Email: "bo@initech.example"}}
		merged = ticket.Ticket{Tenant: "a", Subject: "merged", Requester: ticket.Address{Email: "cy@initech.example"}}
		into = ticket.Ticket{Tenant: "a", Subject: "kept", Requester: ticket.Address{Email: "di@initech.example"}}
		for _, tk := range []*ticket.Ticket{&withMsg, &alone, &merged, &into} {
			if err := tx.CreateTicket(ctx, tk); err != nil {
				return err
			}
		}
		if ok, err := tx.IsParticipant(ctx, "a", alone.ID, "bo@initech.example"); !ok || err != nil {
			t.Errorf("IsParticipant(requester) in the creating transaction = %v, %v", ok, err)
		}
		m := fullMessage("a", withMsg.ID)
		m.From = ticket.Address{Email: "other@initech.example"} // not the requester
		m.To, m.Cc, m.Attachments = []ticket.Address{{Email: "support@acme.example"}}, nil, nil
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return err
		}
		return tx.MergeTicket(ctx, "a", merged.ID, into.ID)
	})
	for _, c := range []struct {
		id   int64
		want []string
	}{
		{withMsg.ID, []string{"other@initech.example", "support@acme.example", "zoe@initech.example"}},
		{alone.ID, []string{"bo@initech.example"}},
		{merged.ID, []string{"cy@initech.example"}},
		{into.ID, []string{"cy@initech.example", "di@initech.example"}},
	} {
		if got := participants(c.id); !slices.Equal(got, c.want) {
			t.Errorf("ticket %d participants = %q, want %q", c.id, got, c.want)
		}
	}
}
