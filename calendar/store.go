package calendar

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The tables are created by store/migrations/0100_calendar.sql. Times are
// stored as RFC 3339 UTC text, which sorts as it should.
const dbTime = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dbTime)
}

func parseDBTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(dbTime, s)
}

// saveBusy replaces an agent's busy intervals, known for window, and records
// a successful sync with the source version they were read at and count,
// the number of intervals inside the sync's own window; in one transaction.
func (s *Service) saveBusy(ctx context.Context, agentID string, window [2]time.Time, busy []Interval, version string, count int, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("calendar: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM busy_intervals WHERE tenant_id = $1 AND agent_id = $2`, s.tenant, agentID); err != nil {
		return fmt.Errorf("calendar: delete busy: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO busy_intervals (tenant_id, agent_id, start_at, end_at) VALUES ($1, $2, $3, $4)`)
	if err != nil {
		return fmt.Errorf("calendar: insert busy: %w", err)
	}
	defer stmt.Close()
	for _, iv := range busy {
		if _, err := stmt.ExecContext(ctx, s.tenant, agentID, fmtTime(iv.Start), fmtTime(iv.End)); err != nil {
			return fmt.Errorf("calendar: insert busy: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO calendar_sync_status (tenant_id, agent_id, last_sync, last_attempt, last_error, busy_count, window_start, window_end, source_version)
VALUES ($1, $2, $3, $3, '', $4, $5, $6, $7)
ON CONFLICT (tenant_id, agent_id) DO UPDATE SET
  last_sync = excluded.last_sync, last_attempt = excluded.last_attempt, last_error = '',
  busy_count = excluded.busy_count, window_start = excluded.window_start, window_end = excluded.window_end,
  source_version = excluded.source_version`,
		s.tenant, agentID, fmtTime(at), count, fmtTime(window[0]), fmtTime(window[1]), version); err != nil {
		return fmt.Errorf("calendar: sync status: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("calendar: commit: %w", err)
	}
	return nil
}

// saveUnchanged records a successful sync that kept the stored intervals
// (the source version had not changed); count is the number of them inside
// the sync's window.
func (s *Service) saveUnchanged(ctx context.Context, agentID string, count int, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE calendar_sync_status SET last_sync = $3, last_attempt = $3, last_error = '', busy_count = $4
WHERE tenant_id = $1 AND agent_id = $2`, s.tenant, agentID, fmtTime(at), count)
	if err != nil {
		return fmt.Errorf("calendar: sync status: %w", err)
	}
	return nil
}

// syncState is what the last successful sync of an agent left for the next
// one: the source version its intervals were read at and the window they
// are known for (zero when the agent never synced).
type syncState struct {
	version string
	window  [2]time.Time
}

func (s *Service) loadSyncState(ctx context.Context, agentID string) (syncState, error) {
	var st syncState
	var ws, we string
	err := s.db.QueryRowContext(ctx, `SELECT source_version, window_start, window_end FROM calendar_sync_status
WHERE tenant_id = $1 AND agent_id = $2 AND last_sync <> ''`, s.tenant, agentID).Scan(&st.version, &ws, &we)
	if err == sql.ErrNoRows {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("calendar: load status: %w", err)
	}
	var err1, err2 error
	st.window[0], err1 = parseDBTime(ws)
	st.window[1], err2 = parseDBTime(we)
	if err1 != nil || err2 != nil {
		return syncState{}, fmt.Errorf("calendar: load status: bad time in database")
	}
	return st, nil
}

// saveFailure records a failed sync; the stored intervals stay as they were.
func (s *Service) saveFailure(ctx context.Context, agentID string, at time.Time, msg string) error {
	_, err := s.db.ExecContext(ctx, `
INSERT INTO calendar_sync_status (tenant_id, agent_id, last_attempt, last_error)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, agent_id) DO UPDATE SET last_attempt = excluded.last_attempt, last_error = excluded.last_error`,
		s.tenant, agentID, fmtTime(at), msg)
	if err != nil {
		return fmt.Errorf("calendar: sync status: %w", err)
	}
	return nil
}

// storedBusy is an agent's stored busy time overlapping [from, to), with the
// window it is known for (zero when the agent never synced).
type storedBusy struct {
	busy   []Interval
	window [2]time.Time
}

func (s *Service) loadBusy(ctx context.Context, agentID string, from, to time.Time) (storedBusy, error) {
	var sb storedBusy
	var ws, we string
	err := s.db.QueryRowContext(ctx, `SELECT window_start, window_end FROM calendar_sync_status WHERE tenant_id = $1 AND agent_id = $2 AND last_sync <> ''`,
		s.tenant, agentID).Scan(&ws, &we)
	if err == sql.ErrNoRows {
		return sb, nil
	}
	if err != nil {
		return sb, fmt.Errorf("calendar: load status: %w", err)
	}
	if sb.window[0], err = parseDBTime(ws); err != nil {
		return sb, fmt.Errorf("calendar: load status: %w", err)
	}
	if sb.window[1], err = parseDBTime(we); err != nil {
		return sb, fmt.Errorf("calendar: load status: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT start_at, end_at FROM busy_intervals
WHERE tenant_id = $1 AND agent_id = $2 AND end_at > $3 AND start_at < $4 ORDER BY start_at`,
		s.tenant, agentID, fmtTime(from), fmtTime(to))
	if err != nil {
		return sb, fmt.Errorf("calendar: load busy: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return sb, fmt.Errorf("calendar: load busy: %w", err)
		}
		st, err1 := parseDBTime(a)
		en, err2 := parseDBTime(b)
		if err1 != nil || err2 != nil {
			return sb, fmt.Errorf("calendar: load busy: bad time in database")
		}
		sb.busy = append(sb.busy, Interval{Start: st, End: en})
	}
	if err := rows.Err(); err != nil {
		return sb, fmt.Errorf("calendar: load busy: %w", err)
	}
	return sb, nil
}

// loadStatus reads the stored sync status of every agent (for a process
// that starts after another one synced).
func (s *Service) loadStatus(ctx context.Context) (map[string]AgentStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT agent_id, last_sync, last_attempt, last_error, busy_count FROM calendar_sync_status WHERE tenant_id = $1`, s.tenant)
	if err != nil {
		return nil, fmt.Errorf("calendar: load status: %w", err)
	}
	defer rows.Close()
	out := map[string]AgentStatus{}
	for rows.Next() {
		var st AgentStatus
		var ls, la string
		if err := rows.Scan(&st.AgentID, &ls, &la, &st.LastError, &st.Intervals); err != nil {
			return nil, fmt.Errorf("calendar: load status: %w", err)
		}
		st.LastSync, _ = parseDBTime(ls)
		st.LastAttempt, _ = parseDBTime(la)
		out[st.AgentID] = st
	}
	return out, rows.Err()
}
