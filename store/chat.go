package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// TicketByNumber loads one of the tenant's tickets by its number (the read
// side of ticket.Tx.TicketByNumber, for the slash command and the panel).
func (s *Store) TicketByNumber(ctx context.Context, tenant string, number int64) (ticket.Ticket, error) {
	return oneTicket(ctx, s.r, fmt.Sprintf("number %d", number),
		`SELECT `+ticketColumns+` FROM tickets WHERE tenant_id = ? AND number = ?`, tenant, number)
}

const slackColumns = `tenant_id, kind, ref_id, ticket_id, channel, channel_id, ts, thread_ts, started_at, posted_at`

func scanSlack(sc scanner) (ticket.SlackMessage, error) {
	var (
		m               ticket.SlackMessage
		started, posted sql.NullString
	)
	if err := sc.Scan(&m.Tenant, &m.Kind, &m.Ref, &m.TicketID, &m.Channel, &m.ChannelID, &m.TS,
		&m.ThreadTS, &started, &posted); err != nil {
		return ticket.SlackMessage{}, err
	}
	var err error
	if m.StartedAt, err = parseTime(started); err != nil {
		return ticket.SlackMessage{}, err
	}
	if m.PostedAt, err = parseTime(posted); err != nil {
		return ticket.SlackMessage{}, err
	}
	return m, nil
}

func checkSlackKey(kind, channel string, ref int64) error {
	if kind != ticket.SlackAlert && kind != ticket.SlackReply {
		return fmt.Errorf("%w kind %q", ticket.ErrInvalid, kind)
	}
	if channel == "" || ref <= 0 {
		return fmt.Errorf("%w key: channel %q, ref %d", ticket.ErrInvalid, channel, ref)
	}
	return nil
}

// BeginSlackMessage records the intent to post m (its key: Tenant, Kind,
// Ref, Channel; plus TicketID and ThreadTS) unless a row with that key
// exists, and returns the stored row: the new one (TS "", StartedAt now), or
// the existing one, posted or not. The caller posts only when the returned
// row is not Posted.
func (s *Store) BeginSlackMessage(ctx context.Context, m ticket.SlackMessage) (ticket.SlackMessage, error) {
	if err := checkSlackKey(m.Kind, m.Channel, m.Ref); err != nil {
		return ticket.SlackMessage{}, fmt.Errorf("store: begin slack message: %w", err)
	}
	var out ticket.SlackMessage
	now := fmtTime(s.nowUTC())
	err := s.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO slack_messages (tenant_id, kind, ref_id, ticket_id,
            channel, thread_ts, started_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			m.Tenant, m.Kind, m.Ref, m.TicketID, m.Channel, m.ThreadTS, now); err != nil {
			return err
		}
		var err error
		out, err = scanSlack(q.QueryRowContext(ctx, `SELECT `+slackColumns+` FROM slack_messages
            WHERE tenant_id = ? AND kind = ? AND ref_id = ? AND channel = ?`, m.Tenant, m.Kind, m.Ref, m.Channel))
		return err
	})
	if err != nil {
		return ticket.SlackMessage{}, fmt.Errorf("store: begin slack message %s %d in %s: %w", m.Kind, m.Ref, m.Channel, err)
	}
	return out, nil
}

// FinishSlackMessage stores Slack's answer (channel id and ts) for the row
// BeginSlackMessage wrote; ticket.ErrNotFound when there is no such row.
func (s *Store) FinishSlackMessage(ctx context.Context, tenant, kind string, ref int64, channel, channelID, ts string) error {
	if err := checkSlackKey(kind, channel, ref); err != nil {
		return fmt.Errorf("store: finish slack message: %w", err)
	}
	if ts == "" {
		return fmt.Errorf("store: finish slack message: %w ts: empty", ticket.ErrInvalid)
	}
	now := fmtTime(s.nowUTC())
	err := s.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `UPDATE slack_messages SET channel_id = ?, ts = ?, posted_at = ?
            WHERE tenant_id = ? AND kind = ? AND ref_id = ? AND channel = ?`,
			channelID, ts, now, tenant, kind, ref, channel)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ticket.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: finish slack message %s %d in %s: %w", kind, ref, channel, err)
	}
	return nil
}

// AbortSlackMessage drops the row BeginSlackMessage wrote when it is still
// unposted (Slack refused the post, so it certainly is not in Slack); a
// posted row, or none, is left as it is.
func (s *Store) AbortSlackMessage(ctx context.Context, tenant, kind string, ref int64, channel string) error {
	if err := checkSlackKey(kind, channel, ref); err != nil {
		return fmt.Errorf("store: abort slack message: %w", err)
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `DELETE FROM slack_messages WHERE tenant_id = ? AND kind = ?
            AND ref_id = ? AND channel = ? AND ts = ''`, tenant, kind, ref, channel)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: abort slack message %s %d in %s: %w", kind, ref, channel, err)
	}
	return nil
}

// SlackMessageFor loads one row by its key; ticket.ErrNotFound when none.
func (s *Store) SlackMessageFor(ctx context.Context, tenant, kind string, ref int64, channel string) (ticket.SlackMessage, error) {
	m, err := scanSlack(s.r.QueryRowContext(ctx, `SELECT `+slackColumns+` FROM slack_messages
        WHERE tenant_id = ? AND kind = ? AND ref_id = ? AND channel = ?`, tenant, kind, ref, channel))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.SlackMessage{}, fmt.Errorf("store: slack message %s %d in %s: %w", kind, ref, channel, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.SlackMessage{}, fmt.Errorf("store: slack message %s %d in %s: %w", kind, ref, channel, err)
	}
	return m, nil
}

// SlackAlerts returns the alert rows (posted or not) of one of the tenant's
// tickets, in channel order. An empty slice when the ticket has none.
func (s *Store) SlackAlerts(ctx context.Context, tenant string, ticketID int64) ([]ticket.SlackMessage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+slackColumns+` FROM slack_messages
        WHERE tenant_id = ? AND ticket_id = ? AND kind = ? ORDER BY channel`, tenant, ticketID, ticket.SlackAlert)
	if err != nil {
		return nil, fmt.Errorf("store: slack alerts of ticket %d: %w", ticketID, err)
	}
	defer rows.Close()
	out := []ticket.SlackMessage{}
	for rows.Next() {
		m, err := scanSlack(rows)
		if err != nil {
			return nil, fmt.Errorf("store: slack alerts of ticket %d: %w", ticketID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: slack alerts of ticket %d: %w", ticketID, err)
	}
	return out, nil
}
