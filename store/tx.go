package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// tx is the ticket.Tx of one WithTx call.
type tx struct {
	s *Store
	q querier
	// events: AppendEvent wrote an event (the commit wakes outbox runners).
	events bool
	// newTerms are the search words this transaction added (the term
	// cache learns them when it commits).
	newTerms []string
	// search are the search index rows to write before it commits.
	search []pendingSearch
	// Known within this transaction: the tickets it created (a message
	// inserted onto one needs no existence check) and each tenant's last
	// ticket number (the next ticket needs no read of the counter).
	created map[int64]bool
	numbers map[string]int64
	// counters are the tenants whose ticket counter row is behind
	// numbers: written by flushCounters before the commit.
	counters map[string]bool
	// requesters are the tickets created here whose requester is not a
	// participant row yet: it is written with the ticket's first message
	// (one INSERT for both; the first message's sender is the requester
	// anyway) or when the transaction's work is done (flushRequesters).
	// Until then the ticket row itself makes the requester a participant
	// (isParticipant reads both).
	requesters map[int64]pendingRequester
	// Filled by Prefetch: whether a source key and a Message-ID are
	// stored, for the keys of a batch, so that the dedupe look-ups of a
	// new message need no query. Rows this transaction inserts are added.
	// A key not in the map is looked up.
	sources map[string]bool
	mids    map[string]bool
	// refd: whether a stored message names a Message-ID of the batch in
	// its In-Reply-To or References (message_refs), so that the look-up
	// of a parent's replies (TicketIDsReferencing) needs no query for
	// the many mails nobody has answered yet. References this
	// transaction inserts are added.
	refd     map[string]bool
	inserted map[int64]bool // messages inserted by this transaction
}

// Prefetch implements ticket.Tx: two queries per chunk of a batch
// instead of two per message.
func (t *tx) Prefetch(ctx context.Context, ins []ticket.Inbound) error {
	if t.sources == nil {
		t.sources, t.mids, t.refd = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	type group struct{ tenant, mailbox string }
	srcKeys := map[group][]string{}
	midKeys := map[string][]string{}
	for _, in := range ins {
		if in.SourceKey != "" {
			g := group{in.Tenant, in.Mailbox}
			srcKeys[g] = append(srcKeys[g], in.SourceKey)
			t.sources[sourceKey(in.Tenant, in.Mailbox, in.SourceKey)] = false
		}
		if in.MessageID != "" {
			midKeys[in.Tenant] = append(midKeys[in.Tenant], in.MessageID)
			k := midKey(in.Tenant, in.MessageID)
			t.mids[k] = false
			if _, known := t.refd[k]; !known { // a reference inserted before stays true
				t.refd[k] = false
			}
		}
	}
	for g, keys := range srcKeys {
		err := t.inChunks(ctx, keys, `SELECT source_key FROM message_sources
            WHERE tenant_id = ? AND mailbox = ? AND source_key IN `, []any{g.tenant, g.mailbox},
			func(key string) { t.sources[sourceKey(g.tenant, g.mailbox, key)] = true })
		if err != nil {
			return fmt.Errorf("store: prefetch sources: %w", err)
		}
	}
	for tenant, mids := range midKeys {
		err := t.inChunks(ctx, mids, `SELECT message_id FROM messages
            WHERE tenant_id = ? AND message_id IN `, []any{tenant},
			func(mid string) { t.mids[midKey(tenant, mid)] = true })
		if err != nil {
			return fmt.Errorf("store: prefetch message ids: %w", err)
		}
		err = t.inChunks(ctx, mids, `SELECT DISTINCT ref FROM message_refs
            WHERE tenant_id = ? AND ref IN `, []any{tenant},
			func(ref string) { t.refd[midKey(tenant, ref)] = true })
		if err != nil {
			return fmt.Errorf("store: prefetch references: %w", err)
		}
	}
	return nil
}

// inChunks runs query (ending in "IN ") with args and each chunk of keys,
// and calls fn with the one text column of every row.
func (t *tx) inChunks(ctx context.Context, keys []string, query string, args []any, fn func(key string)) error {
	return inChunks(ctx, t.q, keys, query, args, fn)
}

// inChunks runs query (ending in "IN ") on q with args and each chunk of
// keys, and calls fn with the one text column of every row.
func inChunks(ctx context.Context, q querier, keys []string, query string, args []any, fn func(key string)) error {
	keys = dedupe(keys)
	for len(keys) > 0 {
		n := min(len(keys), idChunk)
		all := append(append(make([]any, 0, len(args)+n), args...), anys(keys[:n])...)
		keys = keys[n:]
		rows, err := q.QueryContext(ctx, query+"("+placeholders(n)+")", all...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var key string
			if err := rows.Scan(&key); err != nil {
				rows.Close()
				return err
			}
			fn(key)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func sourceKey(tenant, mailbox, key string) string { return tenant + "\x00" + mailbox + "\x00" + key }

func midKey(tenant, messageID string) string { return tenant + "\x00" + messageID }

var _ ticket.Tx = (*tx)(nil)

// SourceMessage implements ticket.Tx.
func (t *tx) SourceMessage(ctx context.Context, tenant, mailbox, key string) (int64, error) {
	if stored, known := t.sources[sourceKey(tenant, mailbox, key)]; known && !stored {
		return 0, fmt.Errorf("store: source %s/%s: %w", mailbox, key, ticket.ErrNotFound)
	}
	var id int64
	err := t.q.QueryRowContext(ctx, `SELECT message_id FROM message_sources
        WHERE tenant_id = ? AND mailbox = ? AND source_key = ?`, tenant, mailbox, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: source %s/%s: %w", mailbox, key, ticket.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: source %s/%s: %w", mailbox, key, err)
	}
	return id, nil
}

// AddSource implements ticket.Tx. A triple already recorded keeps the
// message it was first recorded with.
func (t *tx) AddSource(ctx context.Context, tenant, mailbox, key string, messageID int64) error {
	if !t.inserted[messageID] { // inserted by this transaction: it exists
		var one int
		err := t.q.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE tenant_id = ? AND id = ?`,
			tenant, messageID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: add source: message %d: %w", messageID, ticket.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: add source: %w", err)
		}
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO message_sources (tenant_id, mailbox, source_key,
        message_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		tenant, mailbox, key, messageID, fmtTime(t.s.nowUTC()))
	if err != nil {
		return fmt.Errorf("store: add source %s/%s: %w", mailbox, key, err)
	}
	if t.sources != nil {
		t.sources[sourceKey(tenant, mailbox, key)] = true
	}
	return nil
}

// MessageByBody implements ticket.Tx: indexed look-ups
// (messages_by_message_id). Body hashes are worked out only when a stored
// message has the Message-ID: capture stores none (BodyKey), so the
// stored messages with this Message-ID whose hash is not known yet get it
// here, from their raw blobs, and keep it; the new message's is worked out
// from body.Raw. An outgoing message of ours matches its Message-ID
// whatever the body.
func (t *tx) MessageByBody(ctx context.Context, tenant, messageID string, body ticket.BodyKey) (ticket.Message, error) {
	notFound := fmt.Errorf("store: message <%s> with the same body: %w", messageID, ticket.ErrNotFound)
	if messageID == "" {
		return ticket.Message{}, notFound
	}
	stored, known := t.mids[midKey(tenant, messageID)]
	if known && !stored {
		return ticket.Message{}, notFound
	}
	if body == (ticket.BodyKey{}) {
		return oneMessage(ctx, t.q, fmt.Sprintf("<%s> of ours", messageID), `SELECT `+messageColumns+` FROM messages
            WHERE tenant_id = ? AND message_id = ? AND direction = 'outgoing' ORDER BY id LIMIT 1`, tenant, messageID)
	}
	if !known { // the prefetch did not ask: is anything there to compare?
		var one int
		err := t.q.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE tenant_id = ? AND message_id = ? LIMIT 1`,
			tenant, messageID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ticket.Message{}, notFound // nothing to compare: no hash is worked out
		}
		if err != nil {
			return ticket.Message{}, fmt.Errorf("store: message <%s>: %w", messageID, err)
		}
	}
	if err := t.hashStoredBodies(ctx, tenant, messageID); err != nil {
		return ticket.Message{}, err
	}
	hash := body.Hash
	if hash == "" {
		var err error
		if hash, err = t.s.rawBodyHash(ctx, body.Raw); err != nil {
			return ticket.Message{}, err
		}
	}
	// Our own outgoing mail coming back (a BCC copy, a list's echo with
	// its footer added) matches by Message-ID alone: we made that id.
	m, err := oneMessage(ctx, t.q, fmt.Sprintf("<%s> with body hash %.12s", messageID, hash),
		`SELECT `+messageColumns+` FROM messages
        WHERE tenant_id = ? AND message_id = ? AND (body_hash = ? OR direction = 'outgoing')
        ORDER BY id LIMIT 1`,
		tenant, messageID, hash)
	if errors.Is(err, ticket.ErrNotFound) {
		return ticket.Message{}, notFound
	}
	return m, err
}

// hashStoredBodies gives the tenant's stored messages with this
// Message-ID whose body hash is not known yet theirs, from their raw
// blobs (noBodyHash when the blob is gone: it equals no hash).
func (t *tx) hashStoredBodies(ctx context.Context, tenant, messageID string) error {
	type row struct {
		id  int64
		raw string
	}
	rs, err := t.q.QueryContext(ctx, `SELECT id, raw_sha256 FROM messages
        WHERE tenant_id = ? AND message_id = ? AND body_hash = '' AND raw_sha256 <> ''`, tenant, messageID)
	if err != nil {
		return fmt.Errorf("store: body hashes of <%s>: %w", messageID, err)
	}
	rows, err := collect(rs, func(sc rowScanner) (r row, err error) { return r, sc.Scan(&r.id, &r.raw) })
	if err != nil {
		return fmt.Errorf("store: body hashes of <%s>: %w", messageID, err)
	}
	for _, r := range rows {
		h, err := t.s.blobBodyHash(ctx, r.raw)
		if err != nil {
			return err
		}
		if _, err := t.q.ExecContext(ctx, `UPDATE messages SET body_hash = ? WHERE id = ?`, h, r.id); err != nil {
			return fmt.Errorf("store: save body hash of message %d: %w", r.id, err)
		}
	}
	return nil
}

// TicketIDsReferencing implements ticket.Tx.
func (t *tx) TicketIDsReferencing(ctx context.Context, tenant string, messageIDs []string) ([]int64, error) {
	ids := dedupe(messageIDs)
	if len(ids) == 0 {
		return nil, nil
	}
	ids = ids[:min(len(ids), idChunk)]
	mayBeNamed := func(id string) bool { refd, known := t.refd[midKey(tenant, id)]; return !known || refd }
	if !slices.ContainsFunc(ids, mayBeNamed) {
		return nil, nil // the prefetch found none of them named, nor was one since
	}
	args := append([]any{tenant}, anys(ids)...)
	rows, err := t.q.QueryContext(ctx, `SELECT m.ticket_id FROM message_refs r JOIN messages m ON m.id = r.message_id
        WHERE r.tenant_id = ? AND r.ref IN (`+placeholders(len(ids))+`) AND m.ticket_id IS NOT NULL
        ORDER BY m.id DESC LIMIT 50`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: tickets referencing: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: tickets referencing: %w", err)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// MessageByRaw implements ticket.Tx.
func (t *tx) MessageByRaw(ctx context.Context, tenant, rawSHA256 string) (ticket.Message, error) {
	return oneMessage(ctx, t.q, "without Message-ID, raw "+rawSHA256, `SELECT `+messageColumns+` FROM messages
        WHERE tenant_id = ? AND message_id = '' AND raw_sha256 = ? ORDER BY id LIMIT 1`, tenant, rawSHA256)
}

// idChunk bounds the number of bound parameters of one IN (...) list.
const idChunk = 500

// TicketIDsByMessageIDs implements ticket.Tx.
func (t *tx) TicketIDsByMessageIDs(ctx context.Context, tenant string, messageIDs []string) ([]int64, error) {
	ids := dedupe(messageIDs)
	type hit struct{ row, ticket int64 }
	var hits []hit
	for len(ids) > 0 {
		n := min(len(ids), idChunk)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, 0, n+1)
		args = append(args, tenant)
		for _, id := range chunk {
			args = append(args, id)
		}
		// Held messages (ticket_id NULL) are skipped below, not in SQL:
		// "ticket_id IS NOT NULL" lured SQLite's planner onto the ticket
		// index, a scan of every ticketed message of the tenant.
		rows, err := t.q.QueryContext(ctx, `SELECT id, ticket_id FROM messages
            WHERE tenant_id = ? AND message_id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: tickets by message ids: %w", err)
		}
		for rows.Next() {
			var (
				row      int64
				ticketID sql.NullInt64
			)
			if err := rows.Scan(&row, &ticketID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: tickets by message ids: %w", err)
			}
			if ticketID.Valid {
				hits = append(hits, hit{row, ticketID.Int64})
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: tickets by message ids: %w", err)
		}
	}
	// Most recently stored message first.
	sort.Slice(hits, func(i, j int) bool { return hits[i].row > hits[j].row })
	var out []int64
	seen := map[int64]bool{}
	for _, h := range hits {
		if !seen[h.ticket] {
			seen[h.ticket] = true
			out = append(out, h.ticket)
		}
	}
	return out, nil
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Ticket implements ticket.Tx.
func (t *tx) Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error) {
	return getTicket(ctx, t.q, tenant, id)
}

// TicketByNumber implements ticket.Tx.
func (t *tx) TicketByNumber(ctx context.Context, tenant string, number int64) (ticket.Ticket, error) {
	return oneTicket(ctx, t.q, fmt.Sprintf("number %d", number),
		`SELECT `+ticketColumns+` FROM tickets WHERE tenant_id = ? AND number = ?`, tenant, number)
}

// TicketByConversation implements ticket.Tx.
func (t *tx) TicketByConversation(ctx context.Context, tenant, conversationID string) (ticket.Ticket, error) {
	if conversationID == "" {
		return ticket.Ticket{}, fmt.Errorf("store: ticket by empty conversation id: %w", ticket.ErrNotFound)
	}
	return oneTicket(ctx, t.q, "conversation "+conversationID,
		`SELECT `+ticketColumns+` FROM tickets WHERE tenant_id = ? AND conversation_id = ?
        ORDER BY updated_at DESC, id DESC LIMIT 1`, tenant, conversationID)
}

// IsParticipant implements ticket.Tx.
func (t *tx) IsParticipant(ctx context.Context, tenant string, ticketID int64, email string) (bool, error) {
	return isParticipant(ctx, t.q, tenant, ticketID, email)
}

// CountFromSender implements ticket.Tx.
func (t *tx) CountFromSender(ctx context.Context, tenant, email string, from, to time.Time, limit int) (int, error) {
	var n int
	err := t.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM messages
        WHERE tenant_id = ? AND from_email = ? AND date >= ? AND date <= ? AND direction = ? LIMIT ?)`,
		tenant, ticket.NormEmail(email), fmtTime(clampTime(from)), fmtTime(clampTime(to)), string(ticket.DirectionInbound), limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count from sender: %w", err)
	}
	return n, nil
}

// clampTime keeps a bound inside what the fixed-width time form holds.
func clampTime(t time.Time) time.Time {
	switch y := t.UTC().Year(); {
	case y < 1:
		return time.Time{}
	case y > 9999:
		return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	}
	return t
}

// CreateTicket implements ticket.Tx. Empty Status and Priority become new
// and normal, zero CreatedAt/UpdatedAt the store's now; the requester
// becomes a participant.
func (t *tx) CreateTicket(ctx context.Context, tk *ticket.Ticket) error {
	if t.numbers == nil {
		t.numbers, t.created, t.counters = map[string]int64{}, map[int64]bool{}, map[string]bool{}
	}
	if err := createTicket(ctx, t.q, t.s.nowUTC(), tk, t.numbers, t.counters); err != nil {
		return err
	}
	t.created[tk.ID] = true
	if tk.Requester.Email != "" {
		if t.requesters == nil {
			t.requesters = map[int64]pendingRequester{}
		}
		t.requesters[tk.ID] = pendingRequester{tk.Tenant, tk.Requester.Email}
	}
	return nil
}

type pendingRequester struct{ tenant, email string }

// flushCounters writes each ticket counter row that is behind the
// numbers this transaction handed out: one UPDATE per tenant instead of
// one per ticket.
func (t *tx) flushCounters(ctx context.Context) error {
	for tenant := range t.counters {
		if _, err := t.q.ExecContext(ctx, `UPDATE ticket_counters SET last_number = ? WHERE tenant_id = ?`,
			t.numbers[tenant], tenant); err != nil {
			return fmt.Errorf("store: ticket counter of %s: %w", tenant, err)
		}
	}
	clear(t.counters)
	return nil
}

// flushRequesters writes the participant rows of the requesters still
// pending (tickets created without a message in this transaction).
func (t *tx) flushRequesters(ctx context.Context) error {
	for id, r := range t.requesters {
		if err := addParticipants(ctx, t.q, r.tenant, id, []string{r.email}); err != nil {
			return err
		}
	}
	clear(t.requesters)
	return nil
}

// UpdateTicket implements ticket.Tx. A zero UpdatedAt is the store's now.
func (t *tx) UpdateTicket(ctx context.Context, tk ticket.Ticket) error {
	return updateTicket(ctx, t.q, t.s.nowUTC(), tk)
}

// InsertMessage implements ticket.Tx.
func (t *tx) InsertMessage(ctx context.Context, m *ticket.Message) error {
	var requester string
	if r, ok := t.requesters[m.TicketID]; ok && r.tenant == m.Tenant { // keys are created tickets, never 0
		requester = r.email
		delete(t.requesters, m.TicketID)
	}
	if err := insertMessage(ctx, t.q, t.s.nowUTC(), m, t.created[m.TicketID], requester); err != nil {
		return err
	}
	if t.refd != nil { // the references insertMessage wrote to message_refs
		for _, ref := range messageRefs(*m) {
			t.refd[midKey(m.Tenant, ref)] = true
		}
	}
	// The search index takes the distinct words of the subject, text and
	// sender (worked out before the transaction when the Service prepared
	// it; migration 3300).
	words := m.SearchWords
	if words == nil {
		words = searchWords(m.Subject, m.Text, m.From.Email, m.From.Name)
	}
	if err := t.indexSearch(ctx, m.ID, words); err != nil {
		return err
	}
	if t.inserted == nil {
		t.inserted = map[int64]bool{}
	}
	t.inserted[m.ID] = true
	if t.mids != nil && m.MessageID != "" {
		t.mids[midKey(m.Tenant, m.MessageID)] = true
	}
	return nil
}

// AttachMessage implements ticket.Tx.
func (t *tx) AttachMessage(ctx context.Context, tenant string, messageID, ticketID int64) error {
	if err := ticketExists(ctx, t.q, tenant, ticketID); err != nil {
		return fmt.Errorf("store: attach message %d: %w", messageID, err)
	}
	m, err := getMessage(ctx, t.q, tenant, messageID)
	if err != nil {
		return fmt.Errorf("store: attach message: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `UPDATE messages SET ticket_id = ?, held = ?
        WHERE tenant_id = ? AND id = ?`, ticketID, false, tenant, messageID); err != nil {
		return fmt.Errorf("store: attach message %d: %w", messageID, err)
	}
	return addParticipants(ctx, t.q, tenant, ticketID, messageEmails(m))
}

// AppendEvent implements ticket.Tx. A zero CreatedAt is the store's now.
func (t *tx) AppendEvent(ctx context.Context, e *ticket.Event) error {
	if err := appendEvent(ctx, t.q, t.s.nowUTC(), e); err != nil {
		return err
	}
	t.events = true
	return nil
}

// Message implements ticket.Tx.
func (t *tx) Message(ctx context.Context, tenant string, id int64) (ticket.Message, error) {
	return getMessage(ctx, t.q, tenant, id)
}

// OpenTicketsByRequester implements ticket.Tx.
func (t *tx) OpenTicketsByRequester(ctx context.Context, tenant, email string, limit int) ([]ticket.Ticket, error) {
	out := []ticket.Ticket{}
	if limit <= 0 {
		return out, nil
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets
        WHERE tenant_id = ? AND requester_email = ? AND status IN (?, ?, ?)
        ORDER BY updated_at DESC, id DESC LIMIT ?`,
		tenant, ticket.NormEmail(email), string(ticket.StatusNew), string(ticket.StatusOpen),
		string(ticket.StatusPending), limit)
	if err != nil {
		return nil, fmt.Errorf("store: open tickets by requester: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		tk, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("store: open tickets by requester: %w", err)
		}
		out = append(out, tk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: open tickets by requester: %w", err)
	}
	return out, nil
}

// IdempotencyKey implements ticket.Tx.
func (t *tx) IdempotencyKey(ctx context.Context, tenant, key string) (int64, string, error) {
	var (
		id   int64
		hash string
	)
	err := t.q.QueryRowContext(ctx, `SELECT ticket_id, request_hash FROM idempotency_keys
        WHERE tenant_id = ? AND key = ?`, tenant, key).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("store: idempotency key: %w", ticket.ErrNotFound)
	}
	if err != nil {
		return 0, "", fmt.Errorf("store: idempotency key: %w", err)
	}
	return id, hash, nil
}

// PutIdempotencyKey implements ticket.Tx.
func (t *tx) PutIdempotencyKey(ctx context.Context, tenant, key, hash string, ticketID int64) error {
	if _, err := t.q.ExecContext(ctx, `INSERT INTO idempotency_keys (tenant_id, key, request_hash, ticket_id, created_at)
        VALUES (?, ?, ?, ?, ?)`, tenant, key, hash, ticketID, fmtTime(t.s.nowUTC())); err != nil {
		return fmt.Errorf("store: idempotency key: %w", err)
	}
	return nil
}
