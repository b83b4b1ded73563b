package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Deliveries: the sending state of outgoing messages (migration 1000).

const deliveryColumns = `tenant_id, message_id, ticket_id, mailbox, kind, state, env_from, recipients,
    attempts, last_error, queued_at, sent_at`

func scanDelivery(sc scanner) (ticket.Delivery, error) {
	var (
		d          ticket.Delivery
		rcpts      string
		queued     string
		sent       sql.NullString
		kind, stat string
	)
	err := sc.Scan(&d.Tenant, &d.MessageID, &d.TicketID, &d.Mailbox, &kind, &stat, &d.From, &rcpts,
		&d.Attempts, &d.LastError, &queued, &sent)
	if err != nil {
		return d, err
	}
	d.Kind, d.State = ticket.OutgoingKind(kind), ticket.DeliveryState(stat)
	if d.Recipients, err = decodeList[string](rcpts); err != nil {
		return d, fmt.Errorf("recipients: %w", err)
	}
	if d.QueuedAt, err = parseTime(sql.NullString{String: queued, Valid: true}); err != nil {
		return d, err
	}
	d.SentAt, err = parseTime(sent)
	return d, err
}

func oneDelivery(ctx context.Context, q querier, what, query string, args ...any) (ticket.Delivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Delivery{}, fmt.Errorf("store: delivery of %s: %w", what, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.Delivery{}, fmt.Errorf("store: delivery of %s: %w", what, err)
	}
	return d, nil
}

func getDelivery(ctx context.Context, q querier, tenant string, messageID int64) (ticket.Delivery, error) {
	return oneDelivery(ctx, q, fmt.Sprintf("message %d", messageID), `SELECT `+deliveryColumns+`
        FROM deliveries WHERE tenant_id = ? AND message_id = ?`, tenant, messageID)
}

// InsertDelivery implements ticket.Tx. An acknowledgement also records
// when its recipients last got one (LastAckTo).
func (t *tx) InsertDelivery(ctx context.Context, d ticket.Delivery) error {
	rcpts, err := encodeList(d.Recipients)
	if err != nil {
		return fmt.Errorf("store: insert delivery: %w", err)
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Tenant, d.MessageID, d.TicketID, d.Mailbox, string(d.Kind), string(d.State), d.From, rcpts,
		d.Attempts, d.LastError, fmtTime(d.QueuedAt), nullTime(d.SentAt)); err != nil {
		return fmt.Errorf("store: insert delivery of message %d: %w", d.MessageID, err)
	}
	if d.Kind == ticket.OutgoingAck {
		for _, r := range d.Recipients {
			if _, err := t.q.ExecContext(ctx, `INSERT INTO ack_recipients (tenant_id, email, acked_at)
                VALUES (?, ?, ?) ON CONFLICT (tenant_id, email) DO UPDATE SET acked_at = excluded.acked_at`,
				d.Tenant, ticket.NormEmail(r), fmtTime(d.QueuedAt)); err != nil {
				return fmt.Errorf("store: record acknowledgement to %s: %w", r, err)
			}
		}
	}
	return nil
}

// DeliveryByKind implements ticket.Tx.
func (t *tx) DeliveryByKind(ctx context.Context, tenant string, ticketID int64, kind ticket.OutgoingKind) (ticket.Delivery, error) {
	return oneDelivery(ctx, t.q, fmt.Sprintf("%s of ticket %d", kind, ticketID), `SELECT `+deliveryColumns+`
        FROM deliveries WHERE tenant_id = ? AND ticket_id = ? AND kind = ? ORDER BY message_id LIMIT 1`,
		tenant, ticketID, string(kind))
}

// Delivery implements ticket.Tx.
func (t *tx) Delivery(ctx context.Context, tenant string, messageID int64) (ticket.Delivery, error) {
	return getDelivery(ctx, t.q, tenant, messageID)
}

// UpdateDelivery implements ticket.Tx.
func (t *tx) UpdateDelivery(ctx context.Context, d ticket.Delivery) error {
	res, err := t.q.ExecContext(ctx, `UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, sent_at = ?
        WHERE tenant_id = ? AND message_id = ?`,
		string(d.State), d.Attempts, d.LastError, nullTime(d.SentAt), d.Tenant, d.MessageID)
	if err != nil {
		return fmt.Errorf("store: update delivery of message %d: %w", d.MessageID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: update delivery of message %d: %w", d.MessageID, ticket.ErrNotFound)
	}
	return nil
}

// Delivery loads the sending state of one of the tenant's outgoing
// messages.
func (s *Store) Delivery(ctx context.Context, tenant string, messageID int64) (ticket.Delivery, error) {
	return getDelivery(ctx, s.r, tenant, messageID)
}

// LastAckTo is when email last got an acknowledgement from the tenant;
// the zero time when never.
func (s *Store) LastAckTo(ctx context.Context, tenant, email string) (time.Time, error) {
	var at string
	err := s.r.QueryRowContext(ctx, `SELECT acked_at FROM ack_recipients WHERE tenant_id = ? AND email = ?`,
		tenant, ticket.NormEmail(email)).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: last acknowledgement to %s: %w", email, err)
	}
	return parseTime(sql.NullString{String: at, Valid: true})
}

// attachDeliveries fills Delivery on the outgoing messages of msgs.
func attachDeliveries(ctx context.Context, q querier, tenant string, msgs []ticket.Message) error {
	for i := range msgs {
		if msgs[i].Direction != ticket.DirectionOutgoing {
			continue
		}
		d, err := getDelivery(ctx, q, tenant, msgs[i].ID)
		if errors.Is(err, ticket.ErrNotFound) {
			continue // written elsewhere (an agent's own mail client)
		}
		if err != nil {
			return err
		}
		msgs[i].Delivery = &d
	}
	return nil
}
