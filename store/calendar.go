package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Calendar free/busy (migrations 0100, 0500, 0800): one agent's busy
// intervals and the outcome of its syncs. '' in a time column of
// calendar_sync_status means never (not synced, not attempted).

// calTime renders t, "" for the zero time.
func calTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

func parseCalTime(s string) (time.Time, error) {
	return parseTime(sql.NullString{String: s, Valid: s != ""})
}

// SaveBusy replaces an agent's busy intervals, known for window, and
// records a successful sync at at, with the source version they were read
// at and count, the number of intervals inside the sync's own window; in
// one transaction.
func (s *Store) SaveBusy(ctx context.Context, tenant, agentID string, window [2]time.Time, busy []ticket.Interval, version string, count int, at time.Time) error {
	err := s.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM busy_intervals WHERE tenant_id = ? AND agent_id = ?`, tenant, agentID); err != nil {
			return err
		}
		for _, iv := range busy {
			if _, err := q.ExecContext(ctx, `INSERT INTO busy_intervals (tenant_id, agent_id, start_at, end_at)
                VALUES (?, ?, ?, ?)`, tenant, agentID, fmtTime(iv.Start), fmtTime(iv.End)); err != nil {
				return err
			}
		}
		_, err := q.ExecContext(ctx, `INSERT INTO calendar_sync_status (tenant_id, agent_id, last_sync,
            last_attempt, last_error, busy_count, window_start, window_end, source_version)
            VALUES (?, ?, ?, ?, '', ?, ?, ?, ?)
            ON CONFLICT (tenant_id, agent_id) DO UPDATE SET
            last_sync = excluded.last_sync, last_attempt = excluded.last_attempt, last_error = '',
            busy_count = excluded.busy_count, window_start = excluded.window_start,
            window_end = excluded.window_end, source_version = excluded.source_version`,
			tenant, agentID, calTime(at), calTime(at), count, calTime(window[0]), calTime(window[1]), version)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save busy time of %s: %w", agentID, err)
	}
	return nil
}

// SaveCalendarUnchanged records a successful sync at at that kept the
// stored intervals (the source version had not changed); count is the
// number of them inside the sync's window.
func (s *Store) SaveCalendarUnchanged(ctx context.Context, tenant, agentID string, count int, at time.Time) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `UPDATE calendar_sync_status SET last_sync = ?, last_attempt = ?,
            last_error = '', busy_count = ? WHERE tenant_id = ? AND agent_id = ?`,
			calTime(at), calTime(at), count, tenant, agentID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: calendar sync status of %s: %w", agentID, err)
	}
	return nil
}

// SaveCalendarFailure records a failed sync at at; the stored intervals
// stay as they were.
func (s *Store) SaveCalendarFailure(ctx context.Context, tenant, agentID string, at time.Time, msg string) error {
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO calendar_sync_status (tenant_id, agent_id, last_attempt, last_error)
            VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, agent_id) DO UPDATE SET
            last_attempt = excluded.last_attempt, last_error = excluded.last_error`,
			tenant, agentID, calTime(at), msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: calendar sync status of %s: %w", agentID, err)
	}
	return nil
}

// CalendarSyncState is what the agent's last successful sync left; the
// zero value when it never synced.
func (s *Store) CalendarSyncState(ctx context.Context, tenant, agentID string) (ticket.CalendarSync, error) {
	var (
		st     ticket.CalendarSync
		ws, we string
	)
	err := s.r.QueryRowContext(ctx, `SELECT source_version, window_start, window_end FROM calendar_sync_status
        WHERE tenant_id = ? AND agent_id = ? AND last_sync <> ''`, tenant, agentID).Scan(&st.Version, &ws, &we)
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.CalendarSync{}, nil
	}
	if err == nil {
		st.Window, err = calWindow(ws, we)
	}
	if err != nil {
		return ticket.CalendarSync{}, fmt.Errorf("store: calendar sync state of %s: %w", agentID, err)
	}
	return st, nil
}

func calWindow(ws, we string) ([2]time.Time, error) {
	var w [2]time.Time
	var err error
	if w[0], err = parseCalTime(ws); err != nil {
		return w, err
	}
	w[1], err = parseCalTime(we)
	return w, err
}

// StoredBusy is the agent's stored busy time overlapping [from, to), in
// start order, with the window it is known for (zero when it never synced).
func (s *Store) StoredBusy(ctx context.Context, tenant, agentID string, from, to time.Time) (ticket.StoredBusy, error) {
	var sb ticket.StoredBusy
	fail := func(err error) (ticket.StoredBusy, error) {
		return ticket.StoredBusy{}, fmt.Errorf("store: busy time of %s: %w", agentID, err)
	}
	var ws, we string
	err := s.r.QueryRowContext(ctx, `SELECT window_start, window_end FROM calendar_sync_status
        WHERE tenant_id = ? AND agent_id = ? AND last_sync <> ''`, tenant, agentID).Scan(&ws, &we)
	if errors.Is(err, sql.ErrNoRows) {
		return sb, nil
	}
	if err == nil {
		sb.Window, err = calWindow(ws, we)
	}
	if err != nil {
		return fail(err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT start_at, end_at FROM busy_intervals
        WHERE tenant_id = ? AND agent_id = ? AND end_at > ? AND start_at < ? ORDER BY start_at`,
		tenant, agentID, fmtTime(from), fmtTime(to))
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return fail(err)
		}
		w, err := calWindow(a, b)
		if err != nil {
			return fail(err)
		}
		sb.Busy = append(sb.Busy, ticket.Interval{Start: w[0], End: w[1]})
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return sb, nil
}

// CalendarStatuses is the stored sync status of every agent of tenant.
func (s *Store) CalendarStatuses(ctx context.Context, tenant string) (map[string]ticket.CalendarStatus, error) {
	fail := func(err error) (map[string]ticket.CalendarStatus, error) {
		return nil, fmt.Errorf("store: calendar sync status: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT agent_id, last_sync, last_attempt, last_error, busy_count
        FROM calendar_sync_status WHERE tenant_id = ?`, tenant)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	out := map[string]ticket.CalendarStatus{}
	for rows.Next() {
		var (
			st     ticket.CalendarStatus
			ls, la string
		)
		if err := rows.Scan(&st.AgentID, &ls, &la, &st.LastError, &st.Intervals); err != nil {
			return fail(err)
		}
		w, err := calWindow(ls, la)
		if err != nil {
			return fail(err)
		}
		st.LastSync, st.LastAttempt = w[0], w[1]
		out[st.AgentID] = st
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

// FeedGenerations returns the tenant's agents' free/busy feed generations
// (an agent absent from the map is at generation 0).
func (s *Store) FeedGenerations(ctx context.Context, tenant string) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT agent_id, generation FROM calendar_feed_generations WHERE tenant_id = ?`, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: feed generations: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			id  string
			gen int
		)
		if err := rows.Scan(&id, &gen); err != nil {
			return nil, fmt.Errorf("store: feed generations: %w", err)
		}
		out[id] = gen
	}
	return out, rows.Err()
}

// RotateFeed moves the agent's feed to the next generation (a new URL; the
// old one stops working) and returns it.
func (s *Store) RotateFeed(ctx context.Context, tenant, agentID string) (int, error) {
	var gen int
	err := s.write(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `INSERT INTO calendar_feed_generations (tenant_id, agent_id, generation, rotated_at)
            VALUES (?, ?, 1, ?) ON CONFLICT (tenant_id, agent_id) DO UPDATE
            SET generation = generation + 1, rotated_at = excluded.rotated_at RETURNING generation`,
			tenant, agentID, fmtTime(s.nowUTC())).Scan(&gen)
	})
	if err != nil {
		return 0, fmt.Errorf("store: rotate feed of %s: %w", agentID, err)
	}
	return gen, nil
}
