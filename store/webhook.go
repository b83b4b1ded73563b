package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Webhook subscriptions and their delivery log (migration 1300).

const webhookColumns = `id, tenant_id, url, event_types, secret_sealed, created_at, failing_since, disabled_at, disabled_reason,
    previous_sealed, previous_until`

func scanWebhook(sc scanner) (ticket.Webhook, error) {
	var (
		w                          ticket.Webhook
		types                      string
		created, failing, disabled sql.NullString
		prevUntil                  sql.NullString
	)
	if err := sc.Scan(&w.ID, &w.Tenant, &w.URL, &types, &w.SecretSealed, &created, &failing, &disabled, &w.DisabledReason,
		&w.PreviousSealed, &prevUntil); err != nil {
		return w, err
	}
	var err error
	if w.EventTypes, err = decodeList[string](types); err != nil {
		return w, err
	}
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&w.CreatedAt, created}, {&w.FailingSince, failing}, {&w.DisabledAt, disabled}, {&w.PreviousUntil, prevUntil}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return w, err
		}
	}
	return w, nil
}

// CreateWebhook stores a subscription, assigning its ID and CreatedAt.
func (s *Store) CreateWebhook(ctx context.Context, w ticket.Webhook) (ticket.Webhook, error) {
	types, err := encodeList(w.EventTypes)
	if err != nil {
		return w, err
	}
	w.CreatedAt = s.nowUTC()
	err = s.write(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `INSERT INTO webhooks (tenant_id, url, event_types, secret_sealed, created_at)
            VALUES (?, ?, ?, ?, ?) RETURNING id`, w.Tenant, w.URL, types, w.SecretSealed, fmtTime(w.CreatedAt)).Scan(&w.ID)
	})
	if err != nil {
		return w, fmt.Errorf("store: create webhook: %w", err)
	}
	return w, nil
}

// Webhook loads one of the tenant's subscriptions.
func (s *Store) Webhook(ctx context.Context, tenant string, id int64) (ticket.Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks
        WHERE tenant_id = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("store: webhook %d: %w", id, ticket.ErrNotFound)
	}
	if err != nil {
		return w, fmt.Errorf("store: webhook %d: %w", id, err)
	}
	return w, nil
}

// Webhooks lists the tenant's subscriptions ("" for every tenant's), by id.
func (s *Store) Webhooks(ctx context.Context, tenant string) ([]ticket.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks
        WHERE ? = '' OR tenant_id = ? ORDER BY id`, tenant, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	defer rows.Close()
	var out []ticket.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhooks: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	return out, nil
}

// DeleteWebhook removes one of the tenant's subscriptions with its log.
func (s *Store) DeleteWebhook(ctx context.Context, tenant string, id int64) error {
	return s.webhookExec(ctx, "delete", tenant, id, `DELETE FROM webhooks WHERE tenant_id = ? AND id = ?`)
}

// RotateWebhookSecret replaces a subscription's secret with sealed; the
// one it replaces keeps signing until until.
func (s *Store) RotateWebhookSecret(ctx context.Context, tenant string, id int64, sealed []byte, until time.Time) error {
	return s.webhookExec(ctx, "rotate the secret of", tenant, id,
		`UPDATE webhooks SET previous_sealed = secret_sealed, previous_until = ?, secret_sealed = ? WHERE tenant_id = ? AND id = ?`,
		fmtTime(until), sealed)
}

// SetWebhookFailing records when the current run of failures began (the
// zero time: the last delivery worked).
func (s *Store) SetWebhookFailing(ctx context.Context, tenant string, id int64, since time.Time) error {
	return s.webhookExec(ctx, "note failures of", tenant, id,
		`UPDATE webhooks SET failing_since = ? WHERE tenant_id = ? AND id = ?`, nullTime(since))
}

// DisableWebhook disables a subscription, saying why.
func (s *Store) DisableWebhook(ctx context.Context, tenant string, id int64, reason string) error {
	return s.webhookExec(ctx, "disable", tenant, id,
		`UPDATE webhooks SET disabled_at = COALESCE(disabled_at, ?), disabled_reason = ? WHERE tenant_id = ? AND id = ?`,
		fmtTime(s.nowUTC()), reason)
}

// webhookExec runs a statement on one subscription: its args, then tenant
// and id.
func (s *Store) webhookExec(ctx context.Context, what, tenant string, id int64, query string, args ...any) error {
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, query, append(args, tenant, id)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("webhook %d: %w", id, ticket.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %s webhook: %w", what, err)
	}
	return nil
}

// AddWebhookDelivery logs one attempt, keeping each subscription's last
// 1,000.
func (s *Store) AddWebhookDelivery(ctx context.Context, d ticket.WebhookDelivery) error {
	err := s.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, tenant_id, event_id, msg_id,
            event_type, attempt_at, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.WebhookID, d.Tenant, d.EventID, d.MsgID, d.EventType, fmtTime(d.AttemptAt), d.StatusCode, d.Error,
			d.Duration.Milliseconds()); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ? AND id <=
            (SELECT id FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET 1000)`,
			d.WebhookID, d.WebhookID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: log webhook delivery: %w", err)
	}
	return nil
}

// WebhookDeliveries returns a subscription's latest attempts, newest
// first, at most limit.
func (s *Store) WebhookDeliveries(ctx context.Context, tenant string, id int64, limit int) ([]ticket.WebhookDelivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, webhook_id, tenant_id, event_id, msg_id, event_type, attempt_at,
        status_code, error, duration_ms FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?
        ORDER BY id DESC LIMIT ?`, tenant, id, limit)
	if err != nil {
		return nil, fmt.Errorf("store: webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []ticket.WebhookDelivery
	for rows.Next() {
		var (
			d  ticket.WebhookDelivery
			at string
			ms int64
		)
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.Tenant, &d.EventID, &d.MsgID, &d.EventType, &at,
			&d.StatusCode, &d.Error, &ms); err != nil {
			return nil, fmt.Errorf("store: webhook deliveries: %w", err)
		}
		if d.AttemptAt, err = parseTime(sql.NullString{String: at, Valid: true}); err != nil {
			return nil, err
		}
		d.Duration = time.Duration(ms) * time.Millisecond
		out = append(out, d)
	}
	return out, rows.Err()
}
