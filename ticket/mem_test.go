package ticket

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// memStore is an in-memory Store for fast rule tests. WithTx serialises
// transactions and restores a snapshot when fn fails, so a failed Ingest
// leaves nothing behind, as a database would.
type memStore struct {
	mu sync.Mutex
	s  memState
}

type memState struct {
	lastID       int64
	numbers      map[string]int64 // tenant → last ticket number
	tickets      map[int64]Ticket
	messages     map[int64]Message
	sources      map[[3]string]int64
	participants map[int64]map[string]bool
	events       []Event
	deliveries   map[int64]Delivery // by message id
	idem         map[string]idemEntry
}

func newMemStore() *memStore {
	return &memStore{s: memState{
		numbers:      map[string]int64{},
		tickets:      map[int64]Ticket{},
		messages:     map[int64]Message{},
		sources:      map[[3]string]int64{},
		participants: map[int64]map[string]bool{},
		deliveries:   map[int64]Delivery{},
		idem:         map[string]idemEntry{},
	}}
}

func (s memState) clone() memState {
	c := s
	c.numbers = maps.Clone(s.numbers)
	c.tickets = maps.Clone(s.tickets)
	c.messages = maps.Clone(s.messages)
	c.sources = maps.Clone(s.sources)
	c.participants = map[int64]map[string]bool{}
	for k, v := range s.participants {
		c.participants[k] = maps.Clone(v)
	}
	c.events = slices.Clone(s.events)
	c.deliveries = maps.Clone(s.deliveries)
	c.idem = maps.Clone(s.idem)
	return c
}

func (m *memStore) WithTx(ctx context.Context, fn func(Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := m.s.clone()
	if err := fn(memTx{m}); err != nil {
		m.s = snap
		return err
	}
	return nil
}

// Events returns every event written so far, oldest first.
func (m *memStore) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.s.events)
}

type memTx struct{ m *memStore }

func notFound(what string, args ...any) error {
	return fmt.Errorf("mem: %s: %w", fmt.Sprintf(what, args...), ErrNotFound)
}

func (t memTx) next() int64 { t.m.s.lastID++; return t.m.s.lastID }

func (t memTx) SourceMessage(_ context.Context, tenant, mailbox, key string) (int64, error) {
	if id, ok := t.m.s.sources[[3]string{tenant, mailbox, key}]; ok {
		return id, nil
	}
	return 0, notFound("source %s/%s", mailbox, key)
}

func (t memTx) AddSource(_ context.Context, tenant, mailbox, key string, messageID int64) error {
	t.m.s.sources[[3]string{tenant, mailbox, key}] = messageID
	return nil
}

func (t memTx) InsertDelivery(_ context.Context, d Delivery) error {
	t.m.s.deliveries[d.MessageID] = d
	return nil
}

func (t memTx) DeliveryByKind(_ context.Context, tenant string, ticketID int64, kind OutgoingKind) (Delivery, error) {
	for _, id := range slices.Sorted(maps.Keys(t.m.s.deliveries)) {
		if d := t.m.s.deliveries[id]; d.Tenant == tenant && d.TicketID == ticketID && d.Kind == kind {
			return d, nil
		}
	}
	return Delivery{}, notFound("delivery of ticket %d", ticketID)
}

func (t memTx) Delivery(_ context.Context, tenant string, messageID int64) (Delivery, error) {
	if d, ok := t.m.s.deliveries[messageID]; ok && d.Tenant == tenant {
		return d, nil
	}
	return Delivery{}, notFound("delivery of message %d", messageID)
}

func (t memTx) UpdateDelivery(ctx context.Context, d Delivery) error {
	if _, err := t.Delivery(ctx, d.Tenant, d.MessageID); err != nil {
		return err
	}
	t.m.s.deliveries[d.MessageID] = d
	return nil
}

func (t memTx) IdempotencyKey(_ context.Context, tenant, key string) (int64, string, error) {
	if v, ok := t.m.s.idem[tenant+"\x00"+key]; ok {
		return v.id, v.hash, nil
	}
	return 0, "", notFound("idempotency key %s", key)
}

func (t memTx) PutIdempotencyKey(_ context.Context, tenant, key, hash string, id int64) error {
	t.m.s.idem[tenant+"\x00"+key] = idemEntry{id, hash}
	return nil
}

type idemEntry struct {
	id   int64
	hash string
}

// Prefetch does nothing: every look-up reads the maps.
func (memTx) Prefetch(context.Context, []Inbound) error { return nil }

// MessageByBody compares body hashes, as the store does. It has no blobs
// to work a hash out of: a body named by its raw message matches a stored
// message with the same raw bytes (the same bytes have the same body).
func (t memTx) MessageByBody(_ context.Context, tenant, messageID string, body BodyKey) (Message, error) {
	if messageID == "" {
		return Message{}, notFound("message %s", messageID)
	}
	for _, id := range slices.Sorted(maps.Keys(t.m.s.messages)) {
		if m := t.m.s.messages[id]; m.Tenant == tenant && m.MessageID == messageID &&
			(body.Hash != "" && m.BodyHash == body.Hash || body.Hash == "" && body.Raw != "" && m.Raw.SHA256 == body.Raw ||
				m.Direction == DirectionOutgoing) {
			return m, nil
		}
	}
	return Message{}, notFound("message %s", messageID)
}

func (t memTx) TicketIDsByMessageIDs(_ context.Context, tenant string, messageIDs []string) ([]int64, error) {
	var out []int64
	ids := slices.Sorted(maps.Keys(t.m.s.messages))
	slices.Reverse(ids)
	for _, id := range ids {
		m := t.m.s.messages[id]
		if m.Tenant == tenant && m.TicketID != 0 && slices.Contains(messageIDs, m.MessageID) && !slices.Contains(out, m.TicketID) {
			out = append(out, m.TicketID)
		}
	}
	return out, nil
}

func (t memTx) TicketIDsReferencing(_ context.Context, tenant string, messageIDs []string) ([]int64, error) {
	var out []int64
	ids := slices.Sorted(maps.Keys(t.m.s.messages))
	slices.Reverse(ids)
	for _, id := range ids {
		m := t.m.s.messages[id]
		if m.Tenant != tenant || m.TicketID == 0 || slices.Contains(out, m.TicketID) {
			continue
		}
		for _, r := range append([]string{m.InReplyTo}, m.References...) {
			if r != "" && r != m.MessageID && slices.Contains(messageIDs, r) {
				out = append(out, m.TicketID)
				break
			}
		}
	}
	return out, nil
}

func (t memTx) Ticket(_ context.Context, tenant string, id int64) (Ticket, error) {
	if tk, ok := t.m.s.tickets[id]; ok && tk.Tenant == tenant {
		return tk, nil
	}
	return Ticket{}, notFound("ticket %d", id)
}

func (t memTx) TicketByNumber(_ context.Context, tenant string, number int64) (Ticket, error) {
	for _, tk := range t.m.s.tickets {
		if tk.Tenant == tenant && tk.Number == number {
			return tk, nil
		}
	}
	return Ticket{}, notFound("ticket #%d", number)
}

// byRecentUpdate lists the tenant's tickets that keep, most recently
// updated first, higher id first on ties.
func (t memTx) byRecentUpdate(tenant string, keep func(Ticket) bool) []Ticket {
	var out []Ticket
	for _, tk := range t.m.s.tickets {
		if tk.Tenant == tenant && keep(tk) {
			out = append(out, tk)
		}
	}
	slices.SortFunc(out, func(a, b Ticket) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return int(b.ID - a.ID)
	})
	return out
}

func (t memTx) TicketByConversation(_ context.Context, tenant, conversationID string) (Ticket, error) {
	ts := t.byRecentUpdate(tenant, func(tk Ticket) bool { return tk.ConversationID == conversationID })
	if len(ts) == 0 {
		return Ticket{}, notFound("conversation %s", conversationID)
	}
	return ts[0], nil
}

func (t memTx) IsParticipant(_ context.Context, tenant string, ticketID int64, email string) (bool, error) {
	tk, ok := t.m.s.tickets[ticketID]
	if !ok || tk.Tenant != tenant {
		return false, nil
	}
	return tk.Requester.Email == email || t.m.s.participants[ticketID][email], nil
}

func (t memTx) CountFromSender(_ context.Context, tenant, email string, from, to time.Time, limit int) (int, error) {
	n := 0
	for _, m := range t.m.s.messages {
		if n < limit && m.Tenant == tenant && m.Direction == DirectionInbound && m.From.Email == email && !m.Date.Before(from) && !m.Date.After(to) {
			n++
		}
	}
	return n, nil
}

func (t memTx) CreateTicket(_ context.Context, tk *Ticket) error {
	tk.ID = t.next()
	t.m.s.numbers[tk.Tenant]++
	tk.Number = t.m.s.numbers[tk.Tenant]
	t.m.s.tickets[tk.ID] = *tk
	return nil
}

func (t memTx) UpdateTicket(_ context.Context, tk Ticket) error {
	old, ok := t.m.s.tickets[tk.ID]
	if !ok || old.Tenant != tk.Tenant {
		return notFound("ticket %d", tk.ID)
	}
	old.Status, old.Priority, old.Assignee, old.Subject = tk.Status, tk.Priority, tk.Assignee, tk.Subject
	old.UpdatedAt, old.ClosedAt = tk.UpdatedAt, tk.ClosedAt
	old.Tags, old.CustomFields = tk.Tags, tk.CustomFields
	t.m.s.tickets[tk.ID] = old
	return nil
}

func (t memTx) MessageByRaw(_ context.Context, tenant, sha string) (Message, error) {
	var best Message
	for _, m := range t.m.s.messages {
		if m.Tenant == tenant && m.MessageID == "" && m.Raw.SHA256 == sha && (best.ID == 0 || m.ID < best.ID) {
			best = m
		}
	}
	if best.ID == 0 {
		return Message{}, notFound("message with raw %s", sha)
	}
	return best, nil
}

func (t memTx) MergeTicket(_ context.Context, tenant string, from, into int64) error {
	src, ok := t.m.s.tickets[from]
	if _, ok2 := t.m.s.tickets[into]; !ok || !ok2 || src.Tenant != tenant {
		return notFound("ticket %d or %d", from, into)
	}
	for id, m := range t.m.s.messages {
		if m.TicketID == from {
			m.TicketID = into
			t.m.s.messages[id] = m
		}
	}
	if t.m.s.participants[into] == nil {
		t.m.s.participants[into] = map[string]bool{}
	}
	for e := range t.m.s.participants[from] {
		t.m.s.participants[into][e] = true
	}
	src.MergedInto = into
	t.m.s.tickets[from] = src
	return nil
}

func (t memTx) addParticipants(m Message) {
	if m.TicketID == 0 {
		return
	}
	p := t.m.s.participants[m.TicketID]
	if p == nil {
		p = map[string]bool{}
		t.m.s.participants[m.TicketID] = p
	}
	p[m.From.Email] = true
	for _, a := range append(slices.Clone(m.To), m.Cc...) {
		p[a.Email] = true
	}
}

func (t memTx) InsertMessage(_ context.Context, m *Message) error {
	if m.TicketID != 0 {
		if tk, ok := t.m.s.tickets[m.TicketID]; !ok || tk.Tenant != m.Tenant {
			return fmt.Errorf("mem: message on ticket %d of another tenant", m.TicketID)
		}
	}
	m.ID = t.next()
	for i := range m.Attachments {
		m.Attachments[i].ID = t.next()
	}
	t.m.s.messages[m.ID] = *m
	t.addParticipants(*m)
	return nil
}

func (t memTx) AttachMessage(_ context.Context, tenant string, messageID, ticketID int64) error {
	m, ok := t.m.s.messages[messageID]
	if !ok || m.Tenant != tenant {
		return notFound("message %d", messageID)
	}
	m.TicketID, m.Held = ticketID, false
	t.m.s.messages[messageID] = m
	t.addParticipants(m)
	return nil
}

func (t memTx) AppendEvent(_ context.Context, e *Event) error {
	e.ID = t.next()
	t.m.s.events = append(t.m.s.events, *e)
	return nil
}

func (t memTx) Message(_ context.Context, tenant string, id int64) (Message, error) {
	if m, ok := t.m.s.messages[id]; ok && m.Tenant == tenant {
		return m, nil
	}
	return Message{}, notFound("message %d", id)
}

func (t memTx) OpenTicketsByRequester(_ context.Context, tenant, email string, limit int) ([]Ticket, error) {
	ts := t.byRecentUpdate(tenant, func(tk Ticket) bool {
		return tk.Requester.Email == email && (tk.Status == StatusNew || tk.Status == StatusOpen || tk.Status == StatusPending)
	})
	if len(ts) > limit {
		ts = ts[:limit]
	}
	return ts, nil
}
