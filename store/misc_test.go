package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time              { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration)         { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func withClock(s *Store, t time.Time) *clock { c := &clock{t: t}; s.now = c.now; return c }

func TestTokens(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	clk := withClock(s, t0)
	hash := strings.Repeat("0f", 32)
	tok, err := s.CreateToken(ctx, "a", "cli", hash)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == 0 || tok.Tenant != "a" || tok.Name != "cli" || !tok.CreatedAt.Equal(t0) || !tok.LastUsedAt.IsZero() {
		t.Errorf("CreateToken = %+v", tok)
	}
	// First use stamps last_used_at.
	got, err := s.TokenByHash(ctx, hash)
	if err != nil || got.ID != tok.ID || got.Tenant != "a" || !got.LastUsedAt.Equal(t0) {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	// Within a minute: no write.
	clk.add(30 * time.Second)
	if got, _ := s.TokenByHash(ctx, hash); !got.LastUsedAt.Equal(t0) {
		t.Errorf("last_used_at moved within a minute: %v", got.LastUsedAt)
	}
	clk.add(time.Minute)
	s.TokenByHash(ctx, hash)
	if got, _ := s.TokenByHash(ctx, hash); !got.LastUsedAt.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("last_used_at = %v, want %v", got.LastUsedAt, t0.Add(90*time.Second))
	}
	for _, h := range []string{strings.Repeat("1f", 32), "", strings.ToUpper(hash), "../../etc/passwd"} {
		if _, err := s.TokenByHash(ctx, h); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("TokenByHash(%q) = %v, want ErrNotFound", h, err)
		}
	}
	for name, tc := range map[string][3]string{
		"raw token":      {"a", "x", "sdk_rawtokenvalue"},
		"uppercase hash": {"a", "x", strings.ToUpper(strings.Repeat("1f", 32))},
		"no tenant":      {"", "x", strings.Repeat("2f", 32)},
		"duplicate hash": {"b", "x", hash},
	} {
		if _, err := s.CreateToken(ctx, tc[0], tc[1], tc[2]); err == nil {
			t.Errorf("CreateToken %s succeeded, want error", name)
		}
	}
}

func TestSyncState(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.SyncState(ctx, "a", "support"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("SyncState before any = %v, want ErrNotFound", err)
	}
	for _, st := range [][]byte{[]byte("v=1;uid=10"), {0, 1, 2, 255}, {}} {
		if err := s.SetSyncState(ctx, "a", "support", st); err != nil {
			t.Fatal(err)
		}
		got, err := s.SyncState(ctx, "a", "support")
		if err != nil || !bytes.Equal(got, st) || got == nil {
			t.Errorf("SyncState = %v, %v; want %v", got, err, st)
		}
	}
	s.SetSyncState(ctx, "a", "sales", []byte("other"))
	if got, _ := s.SyncState(ctx, "a", "support"); len(got) != 0 {
		t.Errorf("mailboxes share state: %q", got)
	}
	if _, err := s.SyncState(ctx, "b", "sales"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("SyncState of another tenant = %v, want ErrNotFound", err)
	}
	if err := s.SetSyncState(ctx, "", "x", nil); err == nil {
		t.Error("SetSyncState without tenant succeeded")
	}
}

func TestLeases(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	clk := withClock(s, t0)
	const name = "capture:default:support"
	steps := []struct {
		what    string
		advance time.Duration
		op      func() (bool, error)
		want    bool
	}{
		{"p1 takes a free lease", 0, func() (bool, error) { return s.AcquireLease(ctx, name, "p1", time.Minute) }, true},
		{"p2 refused while live", 30 * time.Second, func() (bool, error) { return s.AcquireLease(ctx, name, "p2", time.Minute) }, false},
		{"p1 renews", 20 * time.Second, func() (bool, error) { return s.AcquireLease(ctx, name, "p1", time.Minute) }, true},
		{"p2 still refused after the first term", 50 * time.Second, func() (bool, error) { return s.AcquireLease(ctx, name, "p2", time.Minute) }, false},
		{"p2 takes it once expired", 11 * time.Second, func() (bool, error) { return s.AcquireLease(ctx, name, "p2", time.Minute) }, true},
		{"p1 refused now", 0, func() (bool, error) { return s.AcquireLease(ctx, name, "p1", time.Minute) }, false},
		{"p1's release leaves p2's lease", 0, func() (bool, error) {
			if err := s.ReleaseLease(ctx, name, "p1"); err != nil {
				return false, err
			}
			return s.AcquireLease(ctx, name, "p1", time.Minute)
		}, false},
		{"p2 releases, p1 takes", 0, func() (bool, error) {
			if err := s.ReleaseLease(ctx, name, "p2"); err != nil {
				return false, err
			}
			return s.AcquireLease(ctx, name, "p1", time.Minute)
		}, true},
		{"other names are independent", 0, func() (bool, error) { return s.AcquireLease(ctx, "capture:default:sales", "p2", time.Minute) }, true},
	}
	for _, st := range steps {
		clk.add(st.advance)
		got, err := st.op()
		if err != nil || got != st.want {
			t.Fatalf("%s: %v, %v; want %v", st.what, got, err, st.want)
		}
	}
	if _, err := s.AcquireLease(ctx, name, "p1", 0); err == nil {
		t.Error("AcquireLease with ttl 0 succeeded")
	}
	if _, err := s.AcquireLease(ctx, "", "p1", time.Second); err == nil {
		t.Error("AcquireLease without a name succeeded")
	}
}

func TestLeaseConcurrentHolders(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	wins := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := string(rune('a' + i))
			ok, err := s.AcquireLease(ctx, "l", holder, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins <- holder
			}
		}()
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Errorf("%d holders got the lease, want exactly 1", n)
	}
}

func TestDatabaseFilesOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	s, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v: others can read the tickets", filepath.Base(f), perm)
		}
	}
}

func TestClaimOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := withClock(s, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	until := c.now().Add(6 * time.Minute)
	if first, err := s.ClaimOnce(ctx, "slack:v0=abc", until); err != nil || !first {
		t.Fatalf("first use: %v, %v", first, err)
	}
	if first, err := s.ClaimOnce(ctx, "slack:v0=abc", until); err != nil || first {
		t.Fatalf("replay: %v, %v; want false", first, err)
	}
	if first, _ := s.ClaimOnce(ctx, "slack:v0=other", until); !first {
		t.Error("another key counted as a replay")
	}
	c.add(7 * time.Minute) // the signature is stale now anyway: forgotten
	if first, err := s.ClaimOnce(ctx, "slack:v0=abc", c.now().Add(6*time.Minute)); err != nil || !first {
		t.Errorf("after the window: %v, %v; want the key forgotten", first, err)
	}
	if _, err := s.ClaimOnce(ctx, "", until); err == nil {
		t.Error("empty key accepted")
	}
}
