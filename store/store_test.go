package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// newStore opens and migrates a store in a fresh temporary directory.
func newStore(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{
		Path:    filepath.Join(dir, "data", "sidedesk.db"),
		BlobDir: filepath.Join(dir, "blobs"),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// inTx runs fn in a transaction and fails the test on error.
func inTx(t testing.TB, s *Store, fn func(tx ticket.Tx) error) {
	t.Helper()
	if err := s.WithTx(context.Background(), fn); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
}

func TestOpenSetsPragmas(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"synchronous", "2"}, // FULL: acknowledged writes survive a power loss
	} {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	normal, err := Open(ctx, Options{Path: filepath.Join(t.TempDir(), "n.db"), NormalSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer normal.Close()
	var sync string
	if err := normal.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != "1" {
		t.Errorf("NormalSync: PRAGMA synchronous = %q %v, want 1 (NORMAL)", sync, err)
	}
	// Reader connections refuse writes.
	if _, err := s.r.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ('x', 'y', 'z')`); err == nil {
		t.Error("write through the read pool succeeded, want query_only refusal")
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no path", Options{}},
		{"memory", Options{Path: ":memory:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := Open(context.Background(), tc.opts); err == nil {
				s.Close()
				t.Fatal("Open succeeded, want error")
			}
		})
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "we?ird #dir%20")
	s, err := Open(context.Background(), Options{Path: filepath.Join(dir, "x.db")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if got, want := s.Blobs().Dir(), filepath.Join(dir, "blobs"); got != want {
		t.Errorf("default blob dir = %q, want %q", got, want)
	}
	if _, err := filepath.Glob(filepath.Join(dir, "x.db")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "x.db")); len(m) != 1 {
		t.Errorf("database file not at the given path; found %v", m)
	}
}

func TestMigrateIdempotent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	cur, known, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur != known || known < 1 {
		t.Errorf("SchemaVersion = %d, %d; want equal and >= 1", cur, known)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, _ := embeddedMigrations()
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
}

func TestSchemaVersionBeforeMigrate(t *testing.T) {
	s, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "x.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cur, known, err := s.SchemaVersion(context.Background())
	if err != nil || cur != 0 || known < 1 {
		t.Errorf("SchemaVersion on a new database = %d, %d, %v; want 0, >=1, nil", cur, known, err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '')`); err != nil {
		t.Fatal(err)
	}
	err := s.Migrate(ctx)
	if err == nil {
		t.Fatal("Migrate on a newer schema succeeded")
	}
	_, known, _ := s.SchemaVersion(ctx)
	for _, want := range []string{"9999", fmt.Sprint(known), "newer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	cur, _, _ := s.SchemaVersion(ctx)
	if cur != 9999 {
		t.Errorf("current version = %d, want 9999", cur)
	}
}

func TestMigrateOrderGapsAndFailure(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"m/0010_ten.sql": {Data: []byte(`INSERT INTO mlog (v) VALUES (10);`)},
		"m/0001_one.sql": {Data: []byte(`CREATE TABLE mlog (v INTEGER NOT NULL);
INSERT INTO mlog (v) VALUES (1);`)},
		"m/0002_two.sql": {Data: []byte(`INSERT INTO mlog (v) VALUES (2);`)},
	}
	// A fresh schema_migrations table for this synthetic list.
	if _, err := s.w.ExecContext(ctx, `DELETE FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	s.migrations = func() ([]migration, error) { return loadMigrations(fsys, "m") }
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	// A later build adds 0005 below an applied 0010, and a broken 0020.
	fsys["m/0005_five.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO mlog (v) VALUES (5);`)}
	fsys["m/0020_bad.sql"] = &fstest.MapFile{Data: []byte(`INSERT INTO mlog (v) VALUES (20); SELECT nope FROM nowhere;`)}
	err := s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "0020_bad") {
		t.Fatalf("Migrate with a broken migration: %v, want error naming 0020_bad", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT v FROM mlog ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for rows.Next() {
		var v int
		rows.Scan(&v)
		got = append(got, v)
	}
	rows.Close()
	if fmt.Sprint(got) != "[1 2 10 5]" {
		t.Errorf("applied in order %v, want [1 2 10 5] (the broken 20 rolled back)", got)
	}
	cur, known, _ := s.SchemaVersion(ctx)
	if cur != 10 || known != 20 {
		t.Errorf("SchemaVersion = %d, %d; want 10, 20", cur, known)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"bad name":  {"m/init.sql": {Data: []byte("SELECT 1")}},
		"duplicate": {"m/0001_a.sql": {Data: []byte("SELECT 1")}, "m/01_b.sql": {Data: []byte("SELECT 1")}, "m/0001_b.sql": {Data: []byte("SELECT 1")}},
	} {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: loadMigrations succeeded, want error", name)
		}
	}
}

func TestWithTxRollsBack(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.WithTx(ctx, func(tx ticket.Tx) error {
		if err := tx.CreateTicket(ctx, &ticket.Ticket{Tenant: "a", Subject: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v, want boom", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in fn was swallowed")
			}
		}()
		s.WithTx(ctx, func(tx ticket.Tx) error {
			if err := tx.CreateTicket(ctx, &ticket.Ticket{Tenant: "a", Subject: "y"}); err != nil {
				return err
			}
			panic("fn panics")
		})
	}()
	ts, _, err := s.ListTickets(ctx, "a", ticket.TicketFilter{})
	if err != nil || len(ts) != 0 {
		t.Errorf("after rollbacks: %d tickets, %v; want none", len(ts), err)
	}
	// The number counter rolled back too: the next ticket is #1.
	var tk ticket.Ticket
	inTx(t, s, func(tx ticket.Tx) error {
		tk = ticket.Ticket{Tenant: "a"}
		return tx.CreateTicket(ctx, &tk)
	})
	if tk.Number != 1 {
		t.Errorf("first committed ticket number = %d, want 1", tk.Number)
	}
}

// TestWithTxCancelled: statements run without the context's cancellation
// (see cachedTx), yet a context that ends inside a transaction stops it:
// the next statement fails with the context's error, and nothing of the
// transaction is committed.
func TestWithTxCancelled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := s.WithTx(ctx, func(tx ticket.Tx) error {
		if err := tx.CreateTicket(ctx, &ticket.Ticket{Tenant: "a", Subject: "first"}); err != nil {
			return err
		}
		cancel()
		return tx.CreateTicket(ctx, &ticket.Ticket{Tenant: "a", Subject: "second"})
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WithTx = %v, want context.Canceled", err)
	}
	ts, _, err := s.ListTickets(context.Background(), "a", ticket.TicketFilter{})
	if err != nil || len(ts) != 0 {
		t.Errorf("after a cancelled transaction: %d tickets, %v; want none", len(ts), err)
	}
}

func TestConcurrentWithTx(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// A second Store on the same file stands for another process.
	other, err := Open(ctx, Options{Path: s.path, BlobDir: s.blobs.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const workers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		st := s
		if w%2 == 1 {
			st = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs <- st.WithTx(ctx, func(tx ticket.Tx) error {
					tk := ticket.Ticket{Tenant: "a", Subject: fmt.Sprintf("w%d", w)}
					if err := tx.CreateTicket(ctx, &tk); err != nil {
						return err
					}
					m := ticket.Message{Tenant: "a", TicketID: tk.ID, Direction: ticket.DirectionInbound,
						MessageID: fmt.Sprintf("%d.%d@x", w, i), From: ticket.Address{Email: "c@x.example"}}
					return tx.InsertMessage(ctx, &m)
				})
				// Reads run beside the writers.
				if _, _, err := st.ListTickets(ctx, "a", ticket.TicketFilter{Limit: 5}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent WithTx: %v", err)
		}
	}
	var n, distinct, maxNum int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT number), MAX(number) FROM tickets WHERE tenant_id = 'a'`).Scan(&n, &distinct, &maxNum); err != nil {
		t.Fatal(err)
	}
	if n != workers*each || distinct != n || maxNum != n {
		t.Errorf("tickets: %d rows, %d distinct numbers, max %d; want %d of each", n, distinct, maxNum, workers*each)
	}
	if c, _ := s.CountMessages(ctx, "a"); c != workers*each {
		t.Errorf("CountMessages = %d, want %d", c, workers*each)
	}
}

func TestWithTxRetriesWhenBusy(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// "Another process" that does not wait for locks at all.
	impatient, err := open(ctx, Options{Path: s.path, BlobDir: s.blobs.dir}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()

	locked, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.WithTx(ctx, func(tx ticket.Tx) error {
			tk := ticket.Ticket{Tenant: "a", Subject: "holder"}
			if err := tx.CreateTicket(ctx, &tk); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	var retries []error
	impatient.onRetry = func(attempt int, err error) {
		retries = append(retries, err)
		if attempt == 1 {
			close(release)
			if err := <-done; err != nil {
				t.Errorf("holder: %v", err)
			}
		}
	}
	var tk ticket.Ticket
	err = impatient.WithTx(ctx, func(tx ticket.Tx) error {
		tk = ticket.Ticket{Tenant: "a", Subject: "waiter"}
		return tx.CreateTicket(ctx, &tk)
	})
	if err != nil {
		t.Fatalf("WithTx while busy: %v", err)
	}
	if len(retries) != 1 || !isBusy(retries[0]) {
		t.Errorf("retries = %v, want exactly one busy error", retries)
	}
	if tk.Number != 2 {
		t.Errorf("waiter got number %d, want 2", tk.Number)
	}
	if isBusy(errors.New("database is locked")) {
		t.Error("isBusy matched a plain error")
	}
}

func TestTimeRoundTrip(t *testing.T) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	for _, tc := range []struct {
		in   time.Time
		want time.Time
	}{
		{time.Date(2026, 11, 21, 10, 53, 6, 123456789, zone), time.Date(2026, 11, 21, 5, 23, 6, 123456789, time.UTC)},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{time.Time{}, time.Time{}},
		{time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}}, // unrepresentable: NULL
	} {
		got, err := parseTime(nullTime(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("round trip of %v = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	// Text order is time order.
	a, b := fmtTime(time.Date(2026, 1, 1, 0, 0, 0, 900, time.UTC)), fmtTime(time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC))
	if !(a < b) {
		t.Errorf("%q should sort before %q", a, b)
	}
}
