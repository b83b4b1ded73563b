package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

const messageColumns = `id, tenant_id, ticket_id, mailbox, message_id, in_reply_to, refs,
    conversation_id, direction, classification, from_name, from_email, to_addrs, cc_addrs,
    reply_to_addrs, subject, date, text_body, html_body, raw_sha256, raw_size, body_hash,
    parse_error, held, created_at, parse_flags`

func scanMessage(sc scanner) (ticket.Message, error) {
	var (
		m                 ticket.Message
		ticketID          sql.NullInt64
		refs, to, cc, rto string
		dir, class        string
		date, created     sql.NullString
		flags             string
	)
	err := sc.Scan(&m.ID, &m.Tenant, &ticketID, &m.Mailbox, &m.MessageID, &m.InReplyTo, &refs,
		&m.ConversationID, &dir, &class, &m.From.Name, &m.From.Email, &to, &cc, &rto,
		&m.Subject, &date, &m.Text, &m.HTML, &m.Raw.SHA256, &m.Raw.Size, &m.BodyHash,
		&m.ParseError, &m.Held, &created, &flags)
	if err != nil {
		return ticket.Message{}, err
	}
	if flags != "" {
		m.ParseFlags = strings.Fields(flags)
	}
	m.TicketID = ticketID.Int64
	m.Direction, m.Classification = ticket.Direction(dir), ticket.Classification(class)
	if m.References, err = decodeList[string](refs); err != nil {
		return ticket.Message{}, fmt.Errorf("store: message %d references: %w", m.ID, err)
	}
	if m.To, err = decodeList[ticket.Address](to); err != nil {
		return ticket.Message{}, fmt.Errorf("store: message %d to: %w", m.ID, err)
	}
	if m.Cc, err = decodeList[ticket.Address](cc); err != nil {
		return ticket.Message{}, fmt.Errorf("store: message %d cc: %w", m.ID, err)
	}
	if m.ReplyTo, err = decodeList[ticket.Address](rto); err != nil {
		return ticket.Message{}, fmt.Errorf("store: message %d reply-to: %w", m.ID, err)
	}
	if m.Date, err = parseTime(date); err != nil {
		return ticket.Message{}, err
	}
	if m.CreatedAt, err = parseTime(created); err != nil {
		return ticket.Message{}, err
	}
	return m, nil
}

// encodeList stores a list as a JSON array ("[]" when empty).
func encodeList[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// decodeList reads a JSON array; empty is nil, as it was before storing.
func decodeList[T any](s string) ([]T, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return v, nil
}

func normAddrs(as []ticket.Address) []ticket.Address {
	if len(as) == 0 {
		return nil
	}
	out := make([]ticket.Address, len(as))
	for i, a := range as {
		out[i] = ticket.Address{Name: a.Name, Email: ticket.NormEmail(a.Email)}
	}
	return out
}

func validDirection(d ticket.Direction) bool {
	switch d {
	case ticket.DirectionInbound, ticket.DirectionOutgoing, ticket.DirectionNote:
		return true
	}
	return false
}

// insertMessage inserts m and its attachments, and makes its From/To/Cc
// addresses participants of its ticket. Emails are stored normalised; an
// empty Classification is "normal"; a zero CreatedAt is now. m is updated to
// what was stored.
// requester, when set, is the new ticket's requester, made a participant
// with the message's addresses.
func insertMessage(ctx context.Context, q querier, now time.Time, m *ticket.Message, ticketKnown bool, requester string) error {
	if m.Tenant == "" {
		return errors.New("store: message has no tenant")
	}
	if !validDirection(m.Direction) {
		return fmt.Errorf("store: message direction %q is not valid", m.Direction)
	}
	if m.Classification == "" {
		m.Classification = ticket.ClassNormal
	}
	if m.TicketID != 0 && !ticketKnown { // a ticket created in this transaction exists
		if err := ticketExists(ctx, q, m.Tenant, m.TicketID); err != nil {
			return fmt.Errorf("store: insert message: %w", err)
		}
	}
	m.From.Email = ticket.NormEmail(m.From.Email)
	m.To, m.Cc, m.ReplyTo = normAddrs(m.To), normAddrs(m.Cc), normAddrs(m.ReplyTo)
	if len(m.References) == 0 {
		m.References = nil
	}
	created, err := requiredTime(m.CreatedAt, now, "created_at")
	if err != nil {
		return err
	}
	refs, err := encodeList(m.References)
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	to, err := encodeList(m.To)
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	cc, err := encodeList(m.Cc)
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	rto, err := encodeList(m.ReplyTo)
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	date := nullTime(m.Date)
	id, err := insertID(ctx, q, `INSERT INTO messages (tenant_id, ticket_id, mailbox, message_id,
        in_reply_to, refs, conversation_id, direction, classification, from_name, from_email,
        to_addrs, cc_addrs, reply_to_addrs, subject, date, text_body, html_body, raw_sha256,
        raw_size, body_hash, parse_error, held, created_at, parse_flags)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Tenant, nullID(m.TicketID), m.Mailbox, m.MessageID, m.InReplyTo, refs, m.ConversationID,
		string(m.Direction), string(m.Classification), m.From.Name, m.From.Email, to, cc, rto,
		m.Subject, date, m.Text, m.HTML, m.Raw.SHA256, m.Raw.Size, m.BodyHash, m.ParseError,
		m.Held, created, strings.Join(m.ParseFlags, " "))
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	m.ID = id
	m.Date, _ = parseTime(date)
	m.CreatedAt, _ = parseTime(sql.NullString{String: created, Valid: true})
	for _, ref := range messageRefs(*m) {
		if _, err := q.ExecContext(ctx, `INSERT OR IGNORE INTO message_refs (tenant_id, ref, message_id) VALUES (?, ?, ?)`,
			m.Tenant, ref, m.ID); err != nil {
			return fmt.Errorf("store: insert message references: %w", err)
		}
	}
	for i := range m.Attachments {
		a := &m.Attachments[i]
		a.ContentID = strings.Trim(a.ContentID, "<>")
		var err error
		a.ID, err = insertID(ctx, q, `INSERT INTO attachments (tenant_id, message_id, position,
            filename, content_type, size, sha256, is_inline, content_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Tenant, m.ID, i, a.Filename, a.ContentType, a.Size, a.SHA256, a.Inline, a.ContentID)
		if err != nil {
			return fmt.Errorf("store: insert attachment %d of message %d: %w", i, m.ID, err)
		}
	}
	if m.TicketID != 0 {
		emails := messageEmails(*m)
		if requester != "" {
			emails = append(emails, requester)
		}
		if err := addParticipants(ctx, q, m.Tenant, m.TicketID, emails); err != nil {
			return err
		}
	}
	return nil
}

// messageEmails are the addresses that make someone a ticket participant.
// messageRefs are the Message-IDs m names (In-Reply-To, then References)
// as message_refs keeps them: each once, never m's own.
func messageRefs(m ticket.Message) []string {
	var out []string
	for _, ref := range append([]string{m.InReplyTo}, m.References...) {
		if ref != "" && ref != m.MessageID && !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	return out
}

func messageEmails(m ticket.Message) []string {
	es := []string{m.From.Email}
	for _, l := range [][]ticket.Address{m.To, m.Cc} {
		for _, a := range l {
			es = append(es, a.Email)
		}
	}
	return es
}

// oneMessage loads a message by a query selecting messageColumns, with its
// attachments.
func oneMessage(ctx context.Context, q querier, what, query string, args ...any) (ticket.Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Message{}, fmt.Errorf("store: message %s: %w", what, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.Message{}, fmt.Errorf("store: message %s: %w", what, err)
	}
	atts, err := attachmentsOf(ctx, q, m.Tenant, `message_id = ?`, m.ID)
	if err != nil {
		return ticket.Message{}, err
	}
	m.Attachments = atts[m.ID]
	one := []ticket.Message{m}
	if err := attachDeliveries(ctx, q, m.Tenant, one); err != nil {
		return ticket.Message{}, err
	}
	return one[0], nil
}

func getMessage(ctx context.Context, q querier, tenant string, id int64) (ticket.Message, error) {
	return oneMessage(ctx, q, fmt.Sprintf("id %d", id),
		`SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND id = ?`, tenant, id)
}

const attachmentColumns = `id, message_id, filename, content_type, size, sha256, is_inline, content_id`

func scanAttachment(sc scanner) (a ticket.Attachment, messageID int64, err error) {
	err = sc.Scan(&a.ID, &messageID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Inline, &a.ContentID)
	return a, messageID, err
}

// attachmentsOf loads the tenant's attachments matching cond (a condition on
// the attachments table), grouped by message id, in their order on the
// message.
func attachmentsOf(ctx context.Context, q querier, tenant, cond string, args ...any) (map[int64][]ticket.Attachment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+attachmentColumns+` FROM attachments
        WHERE tenant_id = ? AND `+cond+` ORDER BY message_id, position`, append([]any{tenant}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: load attachments: %w", err)
	}
	defer rows.Close()
	out := map[int64][]ticket.Attachment{}
	for rows.Next() {
		a, mid, err := scanAttachment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: load attachments: %w", err)
		}
		out[mid] = append(out[mid], a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load attachments: %w", err)
	}
	return out, nil
}
