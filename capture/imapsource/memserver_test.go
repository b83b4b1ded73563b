package imapsource

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// Fast tests against go-imap's in-memory server, which also lets a test
// speak XOAUTH2 (Dovecot needs an OAuth2 introspection server for that).
// IDLE is not tested here: the memory server can miss an APPEND right
// after IDLE starts (TESTENV.md).

const (
	memUser  = "support@acme.example"
	memPass  = "mem-secret"
	memToken = "ya29.test-token"
)

type memServer struct {
	user *imapmemserver.User
	addr string
	host string
	port int
}

func startMemServer(t *testing.T) *memServer {
	t.Helper()
	user := imapmemserver.NewUser(memUser, memPass)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	return serveMem(t, user, func(s *saslSession) imapserver.Session { return s })
}

// serveMem serves user's mailboxes, each session made by wrap.
func serveMem(t *testing.T, user *imapmemserver.User, wrap func(*saslSession) imapserver.Session) *memServer {
	t.Helper()
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return wrap(&saslSession{UserSession: imapmemserver.NewUserSession(user), user: user}), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	return &memServer{user: user, addr: ln.Addr().String(), host: "127.0.0.1", port: port}
}

func (m *memServer) append(t *testing.T, raw []byte) {
	t.Helper()
	if _, err := m.user.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// saslSession adds PLAIN and XOAUTH2 to the memory server's session.
type saslSession struct {
	*imapmemserver.UserSession
	user *imapmemserver.User
}

func (s *saslSession) AuthenticateMechanisms() []string { return []string{"PLAIN", "XOAUTH2"} }

func (s *saslSession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, username, password string) error {
			return s.user.Login(username, password)
		}), nil
	case "XOAUTH2":
		return &xoauth2Server{}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "unsupported mechanism"}
}

// xoauth2Server checks the XOAUTH2 initial response; on a bad token it
// sends the JSON error challenge and fails after the client's empty reply,
// as Gmail does.
type xoauth2Server struct{ failed bool }

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case x.failed:
		return nil, true, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Invalid credentials"}
	case resp == nil:
		return []byte{}, false, nil
	case string(resp) == "user="+memUser+"\x01auth=Bearer "+memToken+"\x01\x01":
		return nil, true, nil
	}
	x.failed = true
	return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
}

func (e *env) memOptions(m *memServer) Options {
	return Options{
		Name:         "support",
		Host:         m.host,
		Port:         m.port,
		TLS:          TLSNone,
		Username:     memUser,
		Password:     func(context.Context) (string, error) { return memPass, nil },
		InitialSync:  InitialSince,
		Since:        time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		PollInterval: 20 * time.Millisecond,
		BackoffMin:   10 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		State:        e.store,
		Pipeline:     e.pipeline(nil),
		Status:       e.status,
		Metrics:      e.metrics,
		Logger:       e.log,
	}
}

func TestAuthMechanisms(t *testing.T) {
	m := startMemServer(t)
	e := newEnv(t)
	tests := []struct {
		name    string
		auth    string
		pass    string
		token   string
		hint    string
		wantErr []string
	}{
		{name: "plain", auth: AuthPlain, pass: memPass},
		{name: "login", auth: AuthLogin, pass: memPass},
		{name: "xoauth2", auth: AuthXOAuth2, token: memToken},
		{name: "plain wrong password", auth: AuthPlain, pass: "nope", hint: "password_env SUPPORT_IMAP_PASSWORD",
			wantErr: []string{"mailbox support", "login failed for " + memUser + " at " + m.addr, "check password_env SUPPORT_IMAP_PASSWORD"}},
		{name: "xoauth2 bad token", auth: AuthXOAuth2, token: "expired",
			wantErr: []string{"login failed", `"status":"401"`, "check the username and OAuth token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := e.memOptions(m)
			opts.Auth, opts.CredentialHint = tt.auth, tt.hint
			opts.Password = func(context.Context) (string, error) { return tt.pass, nil }
			opts.OAuthToken = func(context.Context) (string, error) { return tt.token, nil }
			err := newSource(t, opts).Check(context.Background())
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check succeeded, want a login error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if tt.pass != "" && strings.Contains(err.Error(), tt.pass) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestPollingWithoutIdle(t *testing.T) {
	m := startMemServer(t)
	e := newEnv(t)
	raw, id1 := mail("before start")
	m.append(t, raw)
	opts := e.memOptions(m)
	opts.IDLE = false
	runSource(t, newSource(t, opts))
	e.waitCount(t, 1)
	raw, id2 := mail("polled")
	m.append(t, raw)
	e.waitCount(t, 2)
	e.assertOnce(t, []string{id1, id2})
	// The status counts a message after its commit returns.
	waitFor(t, "status to count 2 captured", func() bool { return e.mailboxStatus("support").Captured >= 2 })
	if st := e.mailboxStatus("support"); st.Kind != Kind || st.Captured != 2 || !st.Connected {
		t.Errorf("status %+v", st)
	}
}

func TestBatching(t *testing.T) {
	m := startMemServer(t)
	e := newEnv(t)
	var ids []string
	for range 23 {
		raw, id := mail("batch")
		ids = append(ids, id)
		m.append(t, raw)
	}
	opts := e.memOptions(m)
	opts.BatchSize = 5
	stats := once(t, newSource(t, opts))
	if stats.Fetched != 23 || stats.New != 23 || stats.Bytes == 0 {
		t.Errorf("%+v, want 23 fetched and new", stats)
	}
	e.assertOnce(t, ids)
	if st := e.state(t, "support"); st.LastUID != 23 {
		t.Errorf("last_uid %d, want 23", st.LastUID)
	}
}

func TestUnreachableServer(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	opts := e.memOptions(&memServer{host: "127.0.0.1", port: port})
	_, err = newSource(t, opts).Once(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:"+strconv.Itoa(port)) || !strings.Contains(err.Error(), "check host, port and tls") {
		t.Fatalf("Once against a closed port: %v", err)
	}
	if st := e.mailboxStatus("support"); st.LastError == "" || st.Connected {
		t.Errorf("status %+v, want the error", st)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	base := e.memOptions(&memServer{host: "127.0.0.1", port: 143})
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr string // "" = valid
	}{
		{name: "valid", mod: func(*Options) {}},
		{name: "no name", mod: func(o *Options) { o.Name = "" }, wantErr: "Name is required"},
		{name: "no host", mod: func(o *Options) { o.Host = "" }, wantErr: "host is required"},
		{name: "bad tls", mod: func(o *Options) { o.TLS = "ssl" }, wantErr: `tls = "ssl"`},
		{name: "cleartext to a remote host", mod: func(o *Options) { o.Host = "imap.example.com" }, wantErr: "only allowed for loopback"},
		{name: "bad auth", mod: func(o *Options) { o.Auth = "cram-md5" }, wantErr: `auth = "cram-md5"`},
		{name: "no password", mod: func(o *Options) { o.Password = nil }, wantErr: "needs a password"},
		{name: "xoauth2 without token", mod: func(o *Options) { o.Auth = AuthXOAuth2 }, wantErr: "needs an OAuth token"},
		{name: "no username", mod: func(o *Options) { o.Username = "" }, wantErr: "username is required"},
		{name: "since without date", mod: func(o *Options) { o.Since = time.Time{} }, wantErr: "needs a since date"},
		{name: "bad initial sync", mod: func(o *Options) { o.InitialSync = "all" }, wantErr: `initial_sync = "all"`},
		{name: "bad after capture", mod: func(o *Options) { o.AfterCapture = "delete" }, wantErr: `after_capture = "delete"`},
		{name: "move without folder", mod: func(o *Options) { o.AfterCapture = "move:" }, wantErr: `after_capture = "move:"`},
		{name: "move into itself", mod: func(o *Options) { o.AfterCapture = "move:inbox" }, wantErr: "captured folder itself"},
		{name: "idle restart too long", mod: func(o *Options) { o.IdleRestart = 30 * time.Minute }, wantErr: "below 29 minutes"},
		{name: "no state", mod: func(o *Options) { o.State = nil }, wantErr: "State is required"},
		{name: "no pipeline", mod: func(o *Options) { o.Pipeline = nil }, wantErr: "Pipeline is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := base
			tt.mod(&opts)
			s, err := New(opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.opts.Port != 143 || s.opts.Folder != DefaultFolder || s.opts.IdleRestart != DefaultIdleRestart || s.opts.Tenant != "default" {
					t.Errorf("defaults not filled: %+v", s.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
	for mode, port := range map[string]int{TLSImplicit: 993, TLSStartTLS: 143} {
		opts := base
		opts.Host, opts.TLS, opts.Port = "imap.example.com", mode, 0
		s, err := New(opts)
		if err != nil || s.opts.Port != port {
			t.Errorf("tls %s: default port %v %v, want %d", mode, s, err, port)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := &Source{opts: Options{BackoffMin: time.Second, BackoffMax: 5 * time.Minute}}
	for failures, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		for range 20 {
			if d := s.backoff(failures); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, want/2, want)
			}
		}
	}
	for range 20 {
		if d := s.backoff(40); d < 150*time.Second || d > 5*time.Minute {
			t.Fatalf("backoff(40) = %v, want capped near 5m", d)
		}
	}
}

// poisonBlobs fails to store a raw message containing "POISON" while
// armed: a message that cannot be prepared, in the middle of a FETCH
// whose other messages are prepared in parallel.
type poisonBlobs struct {
	*store.Blobs
	armed atomic.Bool
}

func (p *poisonBlobs) Create() (ticket.BlobWriter, error) { return p.wrap(p.Blobs.Create()) }

func (p *poisonBlobs) CreateNew() (ticket.BlobWriter, error) { return p.wrap(p.Blobs.CreateNew()) }

func (p *poisonBlobs) wrap(w ticket.BlobWriter, err error) (ticket.BlobWriter, error) {
	if err != nil {
		return nil, err
	}
	return &poisonWriter{BlobWriter: w, armed: &p.armed}, nil
}

type poisonWriter struct {
	ticket.BlobWriter
	armed    *atomic.Bool
	poisoned bool
}

func (w *poisonWriter) Write(b []byte) (int, error) {
	w.poisoned = w.poisoned || bytes.Contains(b, []byte("POISON"))
	return w.BlobWriter.Write(b)
}

func (w *poisonWriter) Commit(ctx context.Context) (ticket.BlobRef, error) {
	if w.poisoned && w.armed.Load() {
		w.BlobWriter.Abort()
		return ticket.BlobRef{}, errors.New("disk full")
	}
	return w.BlobWriter.Commit(ctx)
}

// TestPrepareFailureMidBatch: when one message of a FETCH cannot be
// stored, the ones before it are committed, none after it (though
// prepared in parallel), the state stops before it; the next pass
// captures the rest, each message once.
func TestPrepareFailureMidBatch(t *testing.T) {
	m := startMemServer(t)
	e := newEnv(t)
	var ids []string
	for i := range 12 {
		subject := "batch"
		if i == 6 {
			subject = "POISON"
		}
		raw, id := mail(subject)
		ids = append(ids, id)
		m.append(t, raw)
	}
	opts := e.memOptions(m)
	pb := &poisonBlobs{Blobs: e.store.Blobs()}
	pb.armed.Store(true)
	opts.Pipeline = &capture.Pipeline{Blobs: pb, Sink: e.svc, Metrics: e.metrics, Logger: e.log}
	src := newSource(t, opts)
	if _, err := src.Once(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Once = %v, want the storage error", err)
	}
	if st := e.state(t, "support"); st.LastUID != 6 {
		t.Errorf("last_uid %d after the failure, want 6 (the message before it)", st.LastUID)
	}
	n, err := e.store.CountMessages(context.Background(), ticket.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("%d messages committed, want the 6 before the failing one", n)
	}
	pb.armed.Store(false)
	if _, err := src.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.assertOnce(t, ids)
	if st := e.state(t, "support"); st.LastUID != 12 {
		t.Errorf("last_uid %d, want 12", st.LastUID)
	}
}

// bodyFirstSession answers UID FETCH with the body before the UID and
// INTERNALDATE, an order RFC 9051 allows and some servers use. raws are
// the folder's messages; UID i+1 is raws[i].
type bodyFirstSession struct {
	*saslSession
	raws [][]byte
}

func (s *bodyFirstSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if len(options.BodySection) == 0 {
		return s.saslSession.Fetch(w, numSet, options)
	}
	for i, raw := range s.raws {
		uid := imap.UID(i + 1)
		switch set := numSet.(type) {
		case imap.UIDSet:
			if !set.Contains(uid) {
				continue
			}
		case imap.SeqSet:
			if !set.Contains(uint32(i + 1)) {
				continue
			}
		}
		mw := w.CreateMessage(uint32(i + 1))
		bw := mw.WriteBodySection(options.BodySection[0], int64(len(raw)))
		bw.Write(raw)
		bw.Close()
		mw.WriteInternalDate(time.Now())
		mw.WriteUID(uid)
		if err := mw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// TestBodyBeforeUID: a server that sends BODY[] before UID in its FETCH
// responses, for small messages and one bigger than the in-memory bound.
func TestBodyBeforeUID(t *testing.T) {
	user := imapmemserver.NewUser(memUser, memPass)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	var ids []string
	for i := range 5 {
		raw, id := mail("body first")
		if i == 2 { // bigger than spoolMemMax: spooled to a file
			raw = append(raw, bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 2*spoolMemMax/64)...)
		}
		raws, ids = append(raws, raw), append(ids, id)
		if _, err := user.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	m := serveMem(t, user, func(s *saslSession) imapserver.Session { return &bodyFirstSession{saslSession: s, raws: raws} })
	e := newEnv(t)
	opts := e.memOptions(m)
	stats := once(t, newSource(t, opts))
	if stats.New != 5 {
		t.Errorf("%+v, want 5 new", stats)
	}
	e.assertOnce(t, ids)
	stored, err := e.store.MessageByMessageID(context.Background(), ticket.DefaultTenant, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	size := stored.Raw.Size
	if size != int64(len(raws[2])) {
		t.Errorf("spooled message stored with %d bytes, want %d", size, len(raws[2]))
	}
}

// TestServerThatNeverGreets: a server that takes the connection and never
// sends its greeting (a restarting or stuck server) is given up after
// GreetingTimeout, with an error that says so, instead of waited for
// without end.
func TestServerThatNeverGreets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	e := newEnv(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	opts := Options{Name: "mute", Host: "127.0.0.1", Port: p, TLS: TLSNone, Username: "u",
		Password: func(context.Context) (string, error) { return "p", nil }, GreetingTimeout: 300 * time.Millisecond,
		State: e.store, Lease: e.store, Pipeline: e.pipeline(nil), Status: e.status, Metrics: e.metrics, Logger: e.log}
	s := newSource(t, opts)
	start := time.Now()
	err = s.Check(context.Background())
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Check against a mute server: %v after %v, want an error within the greeting timeout", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "no greeting within 300ms") {
		t.Errorf("error %q does not say the server did not answer", err)
	}
}
