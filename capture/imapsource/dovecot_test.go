package imapsource

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/ticket"
)

const (
	userA = "support@acme.example"
	userB = "help@acme.example"
	passA = "secret-a"
	passB = "secret-b"
)

func startDovecot(t *testing.T) *testenv.Dovecot {
	t.Helper()
	return testenv.StartDovecot(t, testenv.User{Email: userA, Password: passA}, testenv.User{Email: userB, Password: passB})
}

func fill(t *testing.T, d *testenv.Dovecot, user string, msgs ...testenv.MaildirMessage) {
	t.Helper()
	if _, err := testenv.FillMaildir(d.MaildirFor(user), slices.Values(msgs)); err != nil {
		t.Fatal(err)
	}
}

// fillN delivers n new mails to user's maildir and returns their
// Message-IDs.
func fillN(t *testing.T, d *testenv.Dovecot, user string, n int, subject string) []string {
	t.Helper()
	var ids []string
	var msgs []testenv.MaildirMessage
	for range n {
		raw, id := mail(subject)
		ids = append(ids, id)
		msgs = append(msgs, testenv.MaildirMessage{Raw: raw})
	}
	fill(t, d, user, msgs...)
	return ids
}

func once(t *testing.T, s *Source) Stats {
	t.Helper()
	stats, err := s.Once(context.Background())
	if err != nil {
		t.Fatalf("Once: %v", err)
	}
	return stats
}

func TestInitialSync(t *testing.T) {
	old := time.Date(2020, 5, 1, 12, 0, 0, 0, time.UTC)
	recent := time.Now().Add(-48 * time.Hour)
	var oldIDs, recentIDs []string
	var msgs []testenv.MaildirMessage
	for i := range 5 {
		raw, id := mail("initial")
		at := old
		if i >= 3 {
			at, recentIDs = recent, append(recentIDs, id)
		} else {
			oldIDs = append(oldIDs, id)
		}
		msgs = append(msgs, testenv.MaildirMessage{Raw: raw, Received: at})
	}

	tests := []struct {
		name   string
		policy string
		since  time.Time
		want   []string // captured by the first pass
	}{
		{name: "new captures nothing old", policy: InitialNew, want: nil},
		{name: "since a date captures from it", policy: InitialSince, since: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), want: recentIDs},
		{name: "since long ago captures all", policy: InitialSince, since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), want: append(slices.Clone(oldIDs), recentIDs...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDovecot(t)
			fill(t, d, userA, msgs...)
			e := newEnv(t)
			opts := e.options(d, "support", userA, passA)
			opts.InitialSync, opts.Since = tt.policy, tt.since
			s := newSource(t, opts)
			stats := once(t, s)
			if stats.New != len(tt.want) || stats.Fetched != len(tt.want) {
				t.Errorf("first pass %+v, want %d new", stats, len(tt.want))
			}
			e.assertOnce(t, tt.want)
			if st := e.state(t, "support"); st.Since != "" || st.LastUID < 5 {
				t.Errorf("state after the first pass = %+v, want last_uid >= 5 and no pending since", st)
			}
			// A second pass finds nothing: "UID n:*" with n above the last
			// UID still matches the last message, which must be skipped.
			if stats := once(t, s); stats.Fetched != 0 {
				t.Errorf("second pass fetched %d, want 0", stats.Fetched)
			}
			// New mail, whatever its date, is captured.
			raw, id := mail("later")
			fill(t, d, userA, testenv.MaildirMessage{Raw: raw, Received: old})
			if stats := once(t, s); stats.New != 1 {
				t.Errorf("pass after new mail: %+v, want 1 new", stats)
			}
			e.assertOnce(t, append(slices.Clone(tt.want), id))
		})
	}
}

func TestIdlePush(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	opts := e.options(d, "support", userA, passA)
	opts.InitialSync = InitialNew
	opts.PollInterval = time.Hour // a capture can only come from IDLE
	s := newSource(t, opts)
	runSource(t, s)
	waitFor(t, "first sync", func() bool { return !e.mailboxStatus("support").LastSync.IsZero() })

	var ids []string
	for i := range 3 {
		raw, id := mail("idle push")
		ids = append(ids, id)
		d.Append(t, userA, "INBOX", raw)
		e.waitCount(t, i+1)
	}
	e.assertOnce(t, ids)
	// The status counts a message after its commit returns: a moment after
	// the row is visible to the query above.
	waitFor(t, "status to count 3 captured", func() bool { return e.mailboxStatus("support").Captured >= 3 })
	if st := e.mailboxStatus("support"); !st.Connected || st.Captured != 3 || st.LastError != "" {
		t.Errorf("status = %+v, want connected, 3 captured, no error", st)
	}
	// Passes after IDLE capture above the SELECT's UIDNEXT: that is no
	// sign of reused UIDs (no re-sync, no new epoch).
	if st := e.state(t, "support"); st.Epoch != 0 {
		t.Errorf("state %+v after IDLE pushes, want epoch 0 (no false re-sync)", st)
	}
}

func TestRestartMidIdle(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	opts := e.options(d, "support", userA, passA)
	opts.PollInterval = time.Hour
	s := newSource(t, opts)
	runSource(t, s)
	raw, id1 := mail("before restart")
	d.Append(t, userA, "INBOX", raw)
	e.waitCount(t, 1)

	d.Stop(t)
	waitFor(t, "disconnect noticed", func() bool { return !e.mailboxStatus("support").Connected })
	// Delivered while the server is down (by the MTA, into the maildir).
	raw2, id2 := mail("while down")
	fill(t, d, userA, testenv.MaildirMessage{Raw: raw2})
	d.Start(t)
	e.waitCount(t, 2)
	// And IDLE works on the new connection.
	raw3, id3 := mail("after restart")
	d.Append(t, userA, "INBOX", raw3)
	e.waitCount(t, 3)
	e.assertOnce(t, []string{id1, id2, id3})
	if n := counterValue(t, e.metrics.IdleReconnects, "support"); n < 1 {
		t.Errorf("idle reconnects = %v, want >= 1", n)
	}
}

func TestUIDValidityChange(t *testing.T) {
	for _, policy := range []string{InitialSince, InitialNew} {
		t.Run(policy, func(t *testing.T) {
			d := startDovecot(t)
			e := newEnv(t)
			opts := e.options(d, "support", userA, passA)
			opts.InitialSync = policy
			s := newSource(t, opts)
			once(t, s) // policy new: start from here
			var ids []string
			for range 3 {
				raw, id := mail("uidvalidity")
				ids = append(ids, id)
				d.Append(t, userA, "INBOX", raw)
			}
			if stats := once(t, s); stats.New != 3 {
				t.Fatalf("first pass %+v, want 3 new", stats)
			}
			before := e.state(t, "support")
			after := d.ChangeUIDValidity(t, userA, "INBOX")
			packsBefore := dirBytes(t, e.store.Blobs().Dir())

			raw, id := mail("after the change")
			d.Append(t, userA, "INBOX", raw)
			stats := once(t, s)
			if stats.New != 1 || stats.Duplicates != 3 {
				t.Errorf("pass after UIDVALIDITY change %+v, want 1 new and 3 duplicates (re-synced)", stats)
			}
			// The re-synced mail's raw bytes are stored already: only the
			// new message's are added.
			if grown := dirBytes(t, e.store.Blobs().Dir()) - packsBefore; grown != int64(len(raw)) {
				t.Errorf("blobs grew by %d bytes in the re-sync, want %d (the one new message)", grown, len(raw))
			}
			e.assertOnce(t, append(ids, id))
			st := e.state(t, "support")
			if st.UIDValidity != after || st.UIDValidity == before.UIDValidity || st.LastUID < 4 || st.Since != "" {
				t.Errorf("state %+v, want uidvalidity %d (was %d), last_uid >= 4", st, after, before.UIDValidity)
			}
			// The new source keys are recorded: another pass is a no-op.
			if stats := once(t, s); stats.Fetched != 0 {
				t.Errorf("next pass fetched %d, want 0", stats.Fetched)
			}
		})
	}
}

// A server that gives out UIDs again under the same UIDVALIDITY (a mailbox
// restored from a backup) is noticed and re-synced: the mail that arrives
// under the reused UIDs is captured, nothing twice.
func TestUIDsReusedUnderSameValidity(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	opts := e.options(d, "support", userA, passA)
	opts.InitialSync = InitialSince
	s := newSource(t, opts)
	var ids []string
	for range 3 {
		raw, id := mail("before the restore")
		ids = append(ids, id)
		d.Append(t, userA, "INBOX", raw)
	}
	if stats := once(t, s); stats.New != 3 {
		t.Fatalf("first pass %+v, want 3 new", stats)
	}
	// The restore brings back an empty folder whose UIDs start at 1 again.
	c := d.Client(t, userA)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if next := d.RestoreUIDs(t, userA, "INBOX"); next > 3 {
		t.Fatalf("UIDNEXT %d after the restore: the server did not reuse UIDs", next)
	}
	for range 2 {
		raw, id := mail("after the restore")
		ids = append(ids, id)
		d.Append(t, userA, "INBOX", raw)
	}
	if stats := once(t, s); stats.New != 2 {
		t.Errorf("pass after the restore %+v, want the 2 new mails (under reused UIDs) captured", stats)
	}
	e.assertOnce(t, ids)
	if st := e.state(t, "support"); st.Epoch != 1 {
		t.Errorf("state %+v, want epoch 1", st)
	}
	if stats := once(t, s); stats.Fetched != 0 {
		t.Errorf("next pass fetched %d, want 0", stats.Fetched)
	}
}

func TestCrashBetweenFetchAndCommit(t *testing.T) {
	tests := []struct {
		name        string
		commitFirst bool // the failure comes after the commit, before the state update
	}{
		{name: "fails before commit"},
		{name: "fails after commit", commitFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDovecot(t)
			e := newEnv(t)
			ids := fillN(t, d, userA, 12, "crash")

			for _, after := range []int{4, 3} { // two crashes, in different batches
				opts := e.options(d, "support", userA, passA)
				opts.BatchSize = 5
				opts.Pipeline = e.pipeline(&failingSink{inner: e.svc, after: after, commitFirst: tt.commitFirst})
				s := newSource(t, opts)
				if _, err := s.Once(context.Background()); !errors.Is(err, errInjected) {
					t.Fatalf("Once with a failing sink: %v, want the injected error", err)
				}
				committed := e.count(t)
				st := e.state(t, "support")
				// The state never runs ahead of the commits.
				if int(st.LastUID) > committed {
					t.Fatalf("state last_uid %d is ahead of %d committed messages", st.LastUID, committed)
				}
			}
			// A new process continues: every message exactly once.
			s := newSource(t, e.options(d, "support", userA, passA))
			stats := once(t, s)
			e.assertOnce(t, ids)
			if tt.commitFirst && stats.Duplicates == 0 {
				t.Errorf("resume %+v: the message committed before the failure should be re-fetched as a duplicate", stats)
			}
			if st := e.state(t, "support"); st.LastUID != 12 {
				t.Errorf("final last_uid %d, want 12", st.LastUID)
			}
		})
	}
}

func TestCancelMidPass(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	ids := fillN(t, d, userA, 30, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	opts := e.options(d, "support", userA, passA)
	opts.Pipeline = e.pipeline(hookSink{e.svc, func(context.Context, inbound) {
		if n.Add(1) == 7 {
			cancel() // the process is being stopped mid-pass
		}
	}})
	if _, err := newSource(t, opts).Once(ctx); err == nil {
		t.Fatal("Once after cancel returned nil")
	}
	if st := e.state(t, "support"); int(st.LastUID) > e.count(t) {
		t.Fatalf("state %+v ahead of %d commits", st, e.count(t))
	}
	once(t, newSource(t, e.options(d, "support", userA, passA)))
	e.assertOnce(t, ids)
}

func TestTwoMailboxesSameMail(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	raw, id := mail("sent to both addresses")
	// Each copy carries its own delivery headers, as an MTA adds them: the
	// raw bytes differ, the body is the same.
	d.Append(t, userA, "INBOX", append([]byte("Delivered-To: "+userA+"\r\n"), raw...))
	d.Append(t, userB, "INBOX", append([]byte("Delivered-To: "+userB+"\r\nX-Spam-Score: 0.1\r\n"), raw...))
	a := newSource(t, e.options(d, "support", userA, passA))
	b := newSource(t, e.options(d, "help", userB, passB))
	if stats := once(t, a); stats.New != 1 {
		t.Errorf("support: %+v, want 1 new", stats)
	}
	if stats := once(t, b); stats.Duplicates != 1 || stats.New != 0 {
		t.Errorf("help: %+v, want 1 duplicate", stats)
	}
	e.assertOnce(t, []string{id})

	// Both copies in one mailbox, fetched and committed together: the
	// first is not committed (its blob not indexed) when the second's
	// look-up works out both body hashes.
	raw2, id2 := mail("sent to two aliases of one mailbox")
	d.Append(t, userA, "INBOX", append([]byte("Delivered-To: alias1@example.com\r\n"), raw2...))
	d.Append(t, userA, "INBOX", append([]byte("Delivered-To: alias2@example.com\r\n"), raw2...))
	if stats := once(t, a); stats.New != 1 || stats.Duplicates != 1 {
		t.Errorf("support, two copies in one pass: %+v, want 1 new and 1 duplicate", stats)
	}
	e.assertOnce(t, []string{id, id2})
}

func TestWrongPasswordIsolated(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	good := e.options(d, "support", userA, passA)
	bad := e.options(d, "help", userB, "not-the-password")
	bad.CredentialHint = "password_env HELP_IMAP_PASSWORD"
	var tries atomic.Int32
	bad.Password = func(context.Context) (string, error) { tries.Add(1); return "not-the-password", nil }
	runSource(t, newSource(t, good))
	runSource(t, newSource(t, bad))

	var ids []string
	for range 2 {
		raw, id := mail("still captured")
		ids = append(ids, id)
		d.Append(t, userA, "INBOX", raw)
	}
	e.waitCount(t, 2)
	e.assertOnce(t, ids)
	waitFor(t, "retries of the bad mailbox", func() bool { return tries.Load() >= 3 })
	t.Logf("%d login attempts", tries.Load())
	st := e.mailboxStatus("help")
	for _, want := range []string{"help", "login failed for " + userB, d.Addr(), "check password_env HELP_IMAP_PASSWORD"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("help status error %q does not mention %q", st.LastError, want)
		}
	}
	if st.Connected || st.LastErrorAt.IsZero() {
		t.Errorf("help status %+v, want disconnected with an error time", st)
	}
	if st := e.mailboxStatus("support"); st.LastError != "" || !st.Connected {
		t.Errorf("support status %+v, want healthy", st)
	}
}

func TestTLSModes(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	tests := []struct {
		name    string
		mode    string
		port    int
		conf    *tls.Config
		wantErr string
	}{
		{name: "implicit", mode: TLSImplicit, port: d.TLSPort(), conf: &tls.Config{RootCAs: d.CertPool()}},
		{name: "starttls", mode: TLSStartTLS, port: d.Port(), conf: &tls.Config{RootCAs: d.CertPool()}},
		{name: "none", mode: TLSNone, port: d.Port()},
		{name: "untrusted certificate", mode: TLSImplicit, port: d.TLSPort(), wantErr: "not trusted"},
		{name: "starttls untrusted", mode: TLSStartTLS, port: d.Port(), wantErr: "not trusted"},
		{name: "implicit on the plain port", mode: TLSImplicit, port: d.Port(), conf: &tls.Config{RootCAs: d.CertPool()}, wantErr: "check tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := e.options(d, "support", userA, passA)
			opts.TLS, opts.Port, opts.TLSConfig = tt.mode, tt.port, tt.conf
			s := newSource(t, opts)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := s.Check(ctx)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Check error %v, want it to mention %q", err, tt.wantErr)
			}
			if err == nil {
				raw, id := mail("over " + tt.name)
				d.Append(t, userA, "INBOX", raw)
				if stats := once(t, s); stats.New < 1 {
					t.Errorf("over %s: %+v, want the new mail", tt.name, stats)
				}
				e.assertHas(t, id)
			}
		})
	}
}

func TestAfterCapture(t *testing.T) {
	tests := []struct {
		action     string
		wantSeen   bool
		wantInbox  int
		moveFolder string
	}{
		{action: AfterKeep, wantInbox: 2},
		{action: AfterSeen, wantSeen: true, wantInbox: 2},
		{action: "move:Captured", wantInbox: 0, moveFolder: "Captured"},
		// Configured levels are separated by "/"; this Dovecot (maildir)
		// uses "." and refuses "/" in names.
		{action: "move:Archive/Done", wantInbox: 0, moveFolder: "Archive.Done"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			d := startDovecot(t)
			e := newEnv(t)
			for range 2 {
				raw, _ := mail(tt.action)
				d.Append(t, userA, "INBOX", raw)
			}
			opts := e.options(d, "support", userA, passA)
			opts.AfterCapture = tt.action
			if stats := once(t, newSource(t, opts)); stats.New != 2 {
				t.Fatalf("%+v, want 2 new", stats)
			}
			c := d.Client(t, userA)
			sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if int(sel.NumMessages) != tt.wantInbox {
				t.Errorf("INBOX has %d messages, want %d", sel.NumMessages, tt.wantInbox)
			}
			if tt.wantInbox > 0 {
				msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true}).Collect()
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if seen := slices.Contains(m.Flags, imap.FlagSeen); seen != tt.wantSeen {
						t.Errorf("message %d \\Seen = %v, want %v (flags %v)", m.SeqNum, seen, tt.wantSeen, m.Flags)
					}
				}
			}
			if tt.moveFolder != "" {
				st, err := c.Status(tt.moveFolder, &imap.StatusOptions{NumMessages: true}).Wait()
				if err != nil || st.NumMessages == nil || *st.NumMessages != 2 {
					t.Errorf("%s: %+v %v, want 2 messages", tt.moveFolder, st, err)
				}
			}
		})
	}
}

func TestLeaseExcludesSecondProcess(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	first := newSource(t, e.options(d, "support", userA, passA))
	runSource(t, first)
	waitFor(t, "first source syncing", func() bool { return !e.mailboxStatus("support").LastSync.IsZero() })
	opts := e.options(d, "support", userA, passA)
	opts.Status = nil
	second := newSource(t, opts)
	if _, err := second.Once(context.Background()); !errors.Is(err, errLeaseHeld) {
		t.Fatalf("second process Once: %v, want the lease to be held", err)
	}
}

// TestLargeMessage: a 50 MB message is streamed from the server into the
// blob store; heap growth stays far below its size.
func TestLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message")
	}
	d := startDovecot(t)
	e := newEnv(t)
	size := 50 << 20
	if raceEnabled {
		size = 10 << 20 // same streaming path, a fifth of the bytes
	}
	raw, id := largeMail(size)
	fill(t, d, userA, testenv.MaildirMessage{Raw: raw})
	raw = nil
	s := newSource(t, e.options(d, "support", userA, passA))

	peak := measureHeap(t, func() {
		if stats := once(t, s); stats.New != 1 || stats.Bytes < int64(size) {
			t.Errorf("%+v, want 1 new message of >= %d bytes", stats, size)
		}
	})
	e.assertOnce(t, []string{id})
	t.Logf("heap growth while capturing a %d MB message: %.1f MB", size>>20, float64(peak)/(1<<20))
	if peak > uint64(size)/4 {
		t.Errorf("heap grew by %d MB while capturing a %d MB message, want far less", peak>>20, size>>20)
	}
}

func (e *env) assertHas(t testing.TB, messageID string) {
	t.Helper()
	ms, err := e.store.MessagesWithMessageID(context.Background(), ticket.DefaultTenant, messageID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ms); n != 1 {
		t.Errorf("message %s stored %d times, want once", messageID, n)
	}
}

// TestDeadConnection: the network silently drops an idle connection (no
// FIN, no RST, as a NAT timeout does). The IDLE restart finds no answer to
// DONE, the source reconnects and captures what arrived meanwhile.
func TestDeadConnection(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	p := startProxy(t, d.Addr())
	opts := e.options(d, "support", userA, passA)
	opts.Port = p.port
	opts.PollInterval = time.Hour
	opts.IdleRestart = 300 * time.Millisecond
	s := newSource(t, opts)
	s.deadAfter = time.Second
	runSource(t, s)
	raw, id1 := mail("before the black hole")
	d.Append(t, userA, "INBOX", raw)
	e.waitCount(t, 1)

	p.blackHole() // existing connections now lose every byte
	raw, id2 := mail("while the connection is dead")
	d.Append(t, userA, "INBOX", raw)
	e.waitCount(t, 2)
	e.assertOnce(t, []string{id1, id2})
	if n := counterValue(t, e.metrics.IdleReconnects, "support"); n < 1 {
		t.Errorf("reconnects = %v, want >= 1", n)
	}
}

// proxy forwards TCP connections to a server; blackHole makes the
// connections open so far drop all data in both directions, silently.
type proxy struct {
	port  int
	mu    sync.Mutex
	holes []*atomic.Bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{port: ln.Addr().(*net.TCPAddr).Port}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			hole := new(atomic.Bool)
			p.mu.Lock()
			p.holes = append(p.holes, hole)
			p.mu.Unlock()
			t.Cleanup(func() { c.Close(); up.Close() })
			conns.Add(2)
			pipe := func(dst, src net.Conn) {
				defer conns.Done()
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 && !hole.Load() {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return p
}

func (p *proxy) blackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.holes {
		h.Store(true)
	}
}

// TestAfterCaptureRetried: a move that fails (the target folder is not
// writable) does not lose or block capture; the messages are committed,
// the failure reported, and the move retried on the next pass once the
// folder works again.
func TestAfterCaptureRetried(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	c := d.Client(t, userA)
	if err := c.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		raw, _ := mail("retry")
		d.Append(t, userA, "INBOX", raw)
	}
	done := d.FolderDir(userA, "Done")
	lock := func(mode os.FileMode) {
		for _, sub := range []string{"", "cur", "new", "tmp"} {
			if err := os.Chmod(filepath.Join(done, sub), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	lock(0o555) // Dovecot runs as an unprivileged user: it cannot write here
	opts := e.options(d, "support", userA, passA)
	opts.AfterCapture = "move:Done"
	stats, err := newSource(t, opts).Once(context.Background())
	if err == nil || stats.New != 2 {
		t.Fatalf("first pass: %+v, %v; want 2 new and the move's error", stats, err)
	}
	if e.count(t) != 2 {
		t.Fatalf("stored %d messages, want 2", e.count(t))
	}
	lock(0o755)
	if stats := once(t, newSource(t, opts)); stats.Fetched != 0 {
		t.Errorf("second pass fetched %d again", stats.Fetched)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil || sel.NumMessages != 0 {
		t.Errorf("INBOX: %+v, %v; want the 2 captured messages moved out", sel, err)
	}
	st, err := c.Status("Done", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 2 {
		t.Errorf("Done: %+v, %v; want 2 messages", st, err)
	}
}

// recordingState keeps every state a source saves.
type recordingState struct {
	StateStore
	mu    sync.Mutex
	saved []syncState
}

func (r *recordingState) SetSyncState(ctx context.Context, tenant, mailbox string, b []byte) error {
	var st syncState
	_ = json.Unmarshal(b, &st)
	r.mu.Lock()
	r.saved = append(r.saved, st)
	r.mu.Unlock()
	return r.StateStore.SetSyncState(ctx, tenant, mailbox, b)
}

// TestAfterCaptureOwedUntilDone: a committed message's after_capture
// action is in the saved state (AfterPending) from its commit until the
// action succeeds, so a kill in between cannot lose it; a finished pass
// owes nothing.
func TestAfterCaptureOwedUntilDone(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	for range saveEvery + 10 {
		raw, _ := mail("owed")
		d.Append(t, userA, "INBOX", raw)
	}
	opts := e.options(d, "support", userA, passA)
	opts.AfterCapture = "seen"
	opts.BatchSize = 200 // one batch: the mid-pass save comes before any action
	rec := &recordingState{StateStore: opts.State}
	opts.State = rec
	if stats := once(t, newSource(t, opts)); stats.New != saveEvery+10 {
		t.Fatalf("pass: %+v", stats)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	owed := false
	for _, st := range rec.saved {
		if st.LastUID >= saveEvery && st.AfterPending != "" {
			set, err := parseUIDSet(st.AfterPending)
			if err == nil && set.Contains(imap.UID(saveEvery)) {
				owed = true
			}
		}
	}
	if !owed {
		t.Errorf("no saved state past UID %d owed its after_capture action: %+v", saveEvery, rec.saved)
	}
	if last := rec.saved[len(rec.saved)-1]; last.AfterPending != "" {
		t.Errorf("after a finished pass the state still owes %q", last.AfterPending)
	}
}

// dirBytes is the size of every file under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSentFolder: a reply an agent sent from their own client, found in
// the Sent folder, joins the customer's ticket as an outgoing message and
// sets it pending; sent mail about no ticket is kept held; the Sent
// folder's state is its own and the inbox's UIDs do not collide with it.
func TestSentFolder(t *testing.T) {
	d := startDovecot(t)
	e := newEnv(t)
	raw, id := mail("Printer broken")
	d.Append(t, userA, "INBOX", raw)
	inbox := newSource(t, e.options(d, "support", userA, passA))
	once(t, inbox)
	m, err := e.store.MessageByMessageID(context.Background(), ticket.DefaultTenant, id)
	if err != nil {
		t.Fatal(err)
	}
	reply := []byte("From: Ana Agent <support@acme.example>\r\nTo: customer@customer.example\r\nSubject: Re: Printer broken\r\n" +
		"Message-ID: <agent-reply-1@acme.example>\r\nIn-Reply-To: <" + id + ">\r\nReferences: <" + id + ">\r\n" +
		"Date: Mon, 16 Nov 2026 11:00:00 +0000\r\n\r\nTry turning it off and on.\r\n")
	other := []byte("From: support@acme.example\r\nTo: supplier@vendor.example\r\nSubject: Toner order\r\n" +
		"Message-ID: <order-1@acme.example>\r\nDate: Mon, 16 Nov 2026 11:05:00 +0000\r\n\r\n10 cartridges please.\r\n")
	d.Append(t, userA, "Sent", reply)
	d.Append(t, userA, "Sent", other)
	opts := e.options(d, "support", userA, passA)
	opts.Folder, opts.Outgoing = "Sent", true
	sent := newSource(t, opts)
	if st := once(t, sent); st.New != 2 {
		t.Fatalf("sent pass %+v, want 2 new", st)
	}
	thread, err := e.store.TicketMessages(context.Background(), ticket.DefaultTenant, m.TicketID)
	if err != nil {
		t.Fatal(err)
	}
	if len(thread) != 2 || thread[1].Direction != ticket.DirectionOutgoing || thread[1].MessageID != "agent-reply-1@acme.example" ||
		thread[1].Mailbox != "support" {
		t.Fatalf("thread %+v", thread)
	}
	if tk, _ := e.store.Ticket(context.Background(), ticket.DefaultTenant, m.TicketID); tk.Status != ticket.StatusPending {
		t.Errorf("ticket after the agent's reply: %s, want pending", tk.Status)
	}
	o, err := e.store.MessageByMessageID(context.Background(), ticket.DefaultTenant, "order-1@acme.example")
	if err != nil || !o.Held || o.TicketID != 0 {
		t.Errorf("sent mail about no ticket: %+v %v, want held", o, err)
	}
	if n, _ := e.store.CountMessages(context.Background(), ticket.DefaultTenant); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
	if st := e.state(t, "support/sent"); st.LastUID != 2 {
		t.Errorf("sent state %+v, want last_uid 2", st)
	}
	if st := e.state(t, "support"); st.LastUID != 1 {
		t.Errorf("inbox state %+v, want last_uid 1", st)
	}
	if st := once(t, sent); st.New != 0 {
		t.Errorf("second sent pass %+v, want nothing new", st)
	}
}
