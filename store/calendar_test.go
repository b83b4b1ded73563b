package store

import (
	"context"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCalendarBusyRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	window := [2]time.Time{utc("2026-03-01T00:00:00Z"), utc("2026-04-01T00:00:00Z")}
	busy := []ticket.Interval{
		{Start: utc("2026-03-02T09:00:00Z"), End: utc("2026-03-02T10:00:00Z")},
		{Start: utc("2026-03-10T13:00:00Z"), End: utc("2026-03-10T14:30:00Z")},
	}
	if st, err := s.CalendarSyncState(ctx, "default", "alice"); err != nil || st.Version != "" || !st.Window[0].IsZero() {
		t.Fatalf("never synced: %+v, %v; want the zero state", st, err)
	}
	at := utc("2026-03-01T08:00:00Z")
	if err := s.SaveBusy(ctx, "default", "alice", window, busy, "v1", 2, at); err != nil {
		t.Fatal(err)
	}
	// Another tenant's agent of the same id stays apart.
	if err := s.SaveBusy(ctx, "other", "alice", window, busy[:1], "v9", 1, at); err != nil {
		t.Fatal(err)
	}
	st, err := s.CalendarSyncState(ctx, "default", "alice")
	if err != nil || st.Version != "v1" || st.Window != window {
		t.Fatalf("sync state %+v, %v", st, err)
	}
	sb, err := s.StoredBusy(ctx, "default", "alice", utc("2026-03-05T00:00:00Z"), utc("2026-03-31T00:00:00Z"))
	if err != nil || len(sb.Busy) != 1 || !sb.Busy[0].Start.Equal(busy[1].Start) || sb.Window != window {
		t.Fatalf("stored busy %+v, %v; want the second interval only", sb, err)
	}
	if err := s.SaveCalendarFailure(ctx, "default", "alice", at.Add(time.Hour), "caldav: 401"); err != nil {
		t.Fatal(err)
	}
	all, err := s.CalendarStatuses(ctx, "default")
	if err != nil || len(all) != 1 {
		t.Fatalf("statuses %+v, %v", all, err)
	}
	if a := all["alice"]; !a.LastSync.Equal(at) || !a.LastAttempt.Equal(at.Add(time.Hour)) || a.LastError != "caldav: 401" || a.Intervals != 2 {
		t.Errorf("status %+v: want the success kept beside the later failure", a)
	}
	if err := s.SaveCalendarUnchanged(ctx, "default", "alice", 3, at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, _ = s.CalendarStatuses(ctx, "default")
	if a := all["alice"]; a.LastError != "" || a.Intervals != 3 || !a.LastSync.Equal(at.Add(2*time.Hour)) {
		t.Errorf("after an unchanged sync: %+v", a)
	}
	// A failure first: a status row, but no sync state and no busy time.
	if err := s.SaveCalendarFailure(ctx, "default", "bob", at, "x"); err != nil {
		t.Fatal(err)
	}
	if sb, err := s.StoredBusy(ctx, "default", "bob", window[0], window[1]); err != nil || len(sb.Busy) != 0 || !sb.Window[0].IsZero() {
		t.Errorf("bob %+v, %v", sb, err)
	}
}

// Rows written in the second-precision format before 0800 read back, and
// compare, like new ones.
func TestCalendarTimesMigration(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO busy_intervals VALUES ('default', 'alice', '2026-03-02T09:00:00Z', '2026-03-02T10:00:00Z');
        INSERT INTO calendar_sync_status (tenant_id, agent_id, last_sync, last_attempt, window_start, window_end)
        VALUES ('default', 'alice', '2026-03-01T08:00:00Z', '2026-03-01T08:00:00Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z'),
               ('default', 'bob', '', '2026-03-01T08:00:00Z', '', '')`); err != nil {
		t.Fatal(err)
	}
	migs, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	for _, m := range migs {
		if m.version == 800 {
			if _, err := s.w.ExecContext(ctx, m.sql); err != nil {
				t.Fatal(err)
			}
			ran = true
		}
	}
	if !ran {
		t.Fatal("no migration 0800")
	}
	sb, err := s.StoredBusy(ctx, "default", "alice", utc("2026-03-02T09:30:00Z"), utc("2026-03-03T00:00:00Z"))
	if err != nil || len(sb.Busy) != 1 || !sb.Busy[0].End.Equal(utc("2026-03-02T10:00:00Z")) ||
		!sb.Window[1].Equal(utc("2026-04-01T00:00:00Z")) {
		t.Fatalf("converted rows read %+v, %v", sb, err)
	}
	all, err := s.CalendarStatuses(ctx, "default")
	if err != nil || !all["bob"].LastSync.IsZero() || !all["bob"].LastAttempt.Equal(utc("2026-03-01T08:00:00Z")) {
		t.Fatalf("statuses %+v, %v", all, err)
	}
}
