package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// The outbox side of events (outbox/): what consumers read, how far each has
// delivered, and the events they gave up on.

// eventColumns are the columns of an events row e, in eventDest's order.
const eventColumns = `e.id, e.tenant_id, e.type, e.ticket_id, e.message_id, e.payload, e.created_at`

// eventDest is where rows.Scan puts eventColumns.
func eventDest(e *ticket.Event) []any {
	return []any{&e.ID, &e.Tenant, &e.Type, &e.TicketID, &e.MessageID, (*payloadCol)(&e.Payload), (*timeCol)(&e.CreatedAt)}
}

// payloadCol scans a nullable JSON text column into bytes (NULL: nil).
type payloadCol []byte

func (p *payloadCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*p = nil
	case string:
		*p = []byte(v)
	case []byte:
		*p = append([]byte(nil), v...)
	default:
		return fmt.Errorf("store: payload of type %T", src)
	}
	return nil
}

// timeCol scans a stored time (store/time.go; NULL: the zero time).
type timeCol time.Time

func (c *timeCol) Scan(src any) error {
	var ns sql.NullString
	if err := ns.Scan(src); err != nil {
		return err
	}
	t, err := parseTime(ns)
	*c = timeCol(t)
	return err
}

// PendingEvents returns outbox events of every tenant with id > afterID, in
// id order, at most limit (default 100, max 1000). A dispatcher keeps the id
// of the last event it delivered and passes it back. With SQLite's single
// writer, ids become visible in commit order, so no event is skipped.
func (s *Store) PendingEvents(ctx context.Context, afterID int64, limit int) ([]ticket.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	return s.queryEvents(ctx, "pending events", `SELECT `+eventColumns+` FROM events e
        WHERE e.id > ? ORDER BY e.id LIMIT ?`, afterID, limit)
}

// TenantEvents returns the tenant's events with id > afterID, in id order,
// at most limit (default 100, max 1000), of the given types only when types
// is not empty: the API's event stream and its pages.
func (s *Store) TenantEvents(ctx context.Context, tenant string, afterID int64, limit int, types []string) ([]ticket.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	query := `SELECT ` + eventColumns + ` FROM events e WHERE e.tenant_id = ? AND e.id > ?`
	args := []any{tenant, afterID}
	if len(types) > 0 {
		query += ` AND e.type IN (` + placeholders(len(types)) + `)`
		args = append(args, anys(types)...)
	}
	return s.queryEvents(ctx, "events", query+` ORDER BY e.id LIMIT ?`, append(args, limit)...)
}

// queryEvents runs a query of eventColumns.
func (s *Store) queryEvents(ctx context.Context, what, query string, args ...any) ([]ticket.Event, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []ticket.Event
	for rows.Next() {
		var e ticket.Event
		if err := rows.Scan(eventDest(&e)...); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// ConsumerCursor returns the id of the last outbox event the consumer has
// delivered; ticket.ErrNotFound when it never stored one (a new consumer
// decides where to start: usually LastEventID, so that it does not replay
// history).
func (s *Store) ConsumerCursor(ctx context.Context, consumer string) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT last_event_id FROM outbox_cursors WHERE consumer = ?`, consumer).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: cursor %s: %w", consumer, ticket.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("store: cursor %s: %w", consumer, err)
	}
	return id, nil
}

// SetConsumerCursor stores how far the consumer has delivered.
func (s *Store) SetConsumerCursor(ctx context.Context, consumer string, lastEventID int64) error {
	if consumer == "" {
		return errors.New("store: set cursor: no consumer name")
	}
	now := fmtTime(s.nowUTC())
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO outbox_cursors (consumer, last_event_id, updated_at)
            VALUES (?, ?, ?) ON CONFLICT (consumer) DO UPDATE
            SET last_event_id = excluded.last_event_id, updated_at = excluded.updated_at`,
			consumer, lastEventID, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set cursor %s: %w", consumer, err)
	}
	return nil
}

// DeleteConsumerCursor forgets how far consumer has delivered: its next
// start is a first start (outbox.Consumer.FromStart decides where).
// Forgetting a cursor that is not stored is no error.
func (s *Store) DeleteConsumerCursor(ctx context.Context, consumer string) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `DELETE FROM outbox_cursors WHERE consumer = ?`, consumer)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete cursor %s: %w", consumer, err)
	}
	return nil
}

// LastEventID is the id of the newest outbox event of any tenant, 0 when
// there is none.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(id) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: last event id: %w", err)
	}
	return id.Int64, nil
}

// OutboxBacklog counts the events after afterID (of tenant; "" for every
// tenant) and gives the creation time of the oldest of them (zero when
// there is none): how far a consumer is behind.
func (s *Store) OutboxBacklog(ctx context.Context, afterID int64, tenant string) (int64, time.Time, error) {
	var (
		n      int64
		oldest sql.NullString
	)
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM events
        WHERE id > ? AND (? = '' OR tenant_id = ?)`, afterID, tenant, tenant).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox backlog: %w", err)
	}
	t, err := parseTime(oldest)
	return n, t, err
}

// AddDeadLetter records that d.Consumer gave up on d.Event. Recording the
// same consumer and event again replaces the row (a redelivery that failed
// again).
func (s *Store) AddDeadLetter(ctx context.Context, d ticket.DeadLetter) error {
	if d.Consumer == "" || d.Event.ID == 0 {
		return errors.New("store: dead letter needs a consumer and an event")
	}
	now := s.nowUTC()
	first, err := requiredTime(d.FirstFailedAt, now, "first_failed_at")
	if err != nil {
		return err
	}
	dead, err := requiredTime(d.DeadAt, now, "dead_at")
	if err != nil {
		return err
	}
	err = s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO outbox_dead_letters (consumer, event_id, tenant_id,
            attempts, last_error, first_failed_at, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = excluded.attempts,
            last_error = excluded.last_error, first_failed_at = excluded.first_failed_at,
            dead_at = excluded.dead_at, redeliver = 0`,
			d.Consumer, d.Event.ID, d.Event.Tenant, d.Attempts, d.LastError, first, dead)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: dead letter %s event %d: %w", d.Consumer, d.Event.ID, err)
	}
	return nil
}

// DeadLetters lists the events consumer gave up on ("" for every
// consumer), oldest event first, at most limit (default 100, max 1000).
func (s *Store) DeadLetters(ctx context.Context, consumer string, limit int) ([]ticket.DeadLetter, error) {
	return s.deadLetters(ctx, consumer, false, limit)
}

// DeadLettersToRedeliver lists consumer's dead letters an admin asked to
// redeliver (RedeliverDeadLetters), oldest event first, at most limit.
func (s *Store) DeadLettersToRedeliver(ctx context.Context, consumer string, limit int) ([]ticket.DeadLetter, error) {
	if consumer == "" {
		return nil, errors.New("store: dead letters to redeliver: no consumer")
	}
	return s.deadLetters(ctx, consumer, true, limit)
}

// RedeliverDeadLetters marks consumer's dead letter of event eventID (every
// one of the consumer's when eventID is 0) for another delivery, which the
// consumer's runner makes in whichever process holds its lease. It returns
// how many it marked; ticket.ErrNotFound when none matched.
func (s *Store) RedeliverDeadLetters(ctx context.Context, consumer string, eventID int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `UPDATE outbox_dead_letters SET redeliver = 1
            WHERE consumer = ? AND (? = 0 OR event_id = ?)`, consumer, eventID, eventID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: redeliver dead letters of %s: %w", consumer, err)
	}
	if n == 0 {
		what := "dead letters"
		if eventID != 0 {
			what = fmt.Sprintf("dead letter of event %d", eventID)
		}
		return 0, fmt.Errorf("store: consumer %q has no %s: %w", consumer, what, ticket.ErrNotFound)
	}
	return n, nil
}

func (s *Store) deadLetters(ctx context.Context, consumer string, redeliver bool, limit int) ([]ticket.DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.r.QueryContext(ctx, `SELECT d.consumer, d.attempts, d.last_error, d.first_failed_at,
        d.dead_at, d.redeliver, `+eventColumns+`
        FROM outbox_dead_letters d JOIN events e ON e.id = d.event_id
        WHERE (? = '' OR d.consumer = ?) AND (? = 0 OR d.redeliver = 1)
        ORDER BY d.event_id, d.consumer LIMIT ?`, consumer, consumer, redeliver, limit)
	if err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	defer rows.Close()
	var out []ticket.DeadLetter
	for rows.Next() {
		var d ticket.DeadLetter
		if err := rows.Scan(append([]any{&d.Consumer, &d.Attempts, &d.LastError, (*timeCol)(&d.FirstFailedAt),
			(*timeCol)(&d.DeadAt), &d.Redeliver}, eventDest(&d.Event)...)...); err != nil {
			return nil, fmt.Errorf("store: dead letters: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: dead letters: %w", err)
	}
	return out, nil
}

// DeleteDeadLetter drops consumer's dead letter of event eventID;
// ticket.ErrNotFound when there is none.
func (s *Store) DeleteDeadLetter(ctx context.Context, consumer string, eventID int64) error {
	var n int64
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM outbox_dead_letters WHERE consumer = ? AND event_id = ?`,
			consumer, eventID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete dead letter %s event %d: %w", consumer, eventID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: dead letter %s event %d: %w", consumer, eventID, ticket.ErrNotFound)
	}
	return nil
}

// EventsCommitted returns a channel that is closed when a transaction of
// this process that appended outbox events commits; take a fresh one after
// each wake. Outbox runners wait on it instead of polling often: an
// event reaches its consumers within milliseconds of its commit. (Events
// committed by other processes are found by the runners' slower poll.)
func (s *Store) EventsCommitted() <-chan struct{} { return s.committed.wait() }

// signal is a broadcast: wait's channel is closed by the next fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (g *signal) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}

func (g *signal) fire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}
