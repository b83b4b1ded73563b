package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/sidedesk/sidedesk/outbox"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
	"github.com/sidedesk/sidedesk/ticket"
)

// sent is one message the fake Slack accepted (or an update of one).
type sent struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	User     string // postEphemeral's user
	Blocks   slack.Blocks
	Metadata slack.SlackMetadata
}

// fakeSlack is slacktest's server with handlers that record what the bot
// sends and serve it back (conversations.history/replies), and knobs to
// make posts fail.
type fakeSlack struct {
	srv *slacktest.Server

	mu         sync.Mutex
	seq        int
	posts      []sent
	updates    []sent
	ephemerals []sent
	users      map[string]string // Slack user id → profile email
	// Failures for the next posts, in order: "429:<secs>", "500",
	// "drop" (record the post, then cut the connection: the answer is
	// lost), "hold" (record, then wait for release: a restart mid-request),
	// or an ok:false error name ("channel_not_found").
	fail    []string
	release chan struct{}
	held    chan struct{}
	lookups int         // conversations.history + conversations.replies calls
	peer    *socketPeer // the Slack end of Socket Mode connections
	onPost  func(sent)  // called for every accepted post (benchmarks)
	// userGate, when set, holds every users.info answer until it is
	// closed: a Slack API slower than Slack's 3-second answer limit.
	userGate chan struct{}
}

func newFakeSlack(t testing.TB) *fakeSlack {
	f := &fakeSlack{users: map[string]string{}, release: make(chan struct{}), held: make(chan struct{}, 1), peer: newSocketPeer()}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.postMessage)
		c.Handle("/chat.update", f.update)
		c.Handle("/chat.postEphemeral", f.postEphemeral)
		c.Handle("/conversations.history", f.history)
		c.Handle("/conversations.replies", f.history)
		c.Handle("/users.info", f.userInfo)
		c.Handle("/apps.connections.open", f.appsConnectionsOpen)
		c.Handle("/socket-mode", f.socketModeConn)
	})
	f.srv.Start()
	t.Cleanup(func() {
		f.mu.Lock()
		select {
		case <-f.release:
		default:
			close(f.release)
		}
		f.mu.Unlock()
		f.srv.Stop()
	})
	return f
}

func (f *fakeSlack) url() string { return f.srv.GetAPIURL() }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func parseSent(r *http.Request) (sent, error) {
	if err := r.ParseForm(); err != nil {
		return sent{}, err
	}
	s := sent{Channel: r.FormValue("channel"), TS: r.FormValue("ts"), ThreadTS: r.FormValue("thread_ts"),
		Text: r.FormValue("text"), User: r.FormValue("user")}
	if b := r.FormValue("blocks"); b != "" {
		if err := json.Unmarshal([]byte(b), &s.Blocks); err != nil {
			return sent{}, fmt.Errorf("blocks: %w", err)
		}
	}
	if m := r.FormValue("metadata"); m != "" {
		if err := json.Unmarshal([]byte(m), &s.Metadata); err != nil {
			return sent{}, fmt.Errorf("metadata: %w", err)
		}
	}
	return s, nil
}

func (f *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	s, err := parseSent(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	mode := ""
	if len(f.fail) > 0 {
		mode, f.fail = f.fail[0], f.fail[1:]
	}
	switch {
	case len(mode) > 4 && mode[:4] == "429:":
		f.mu.Unlock()
		w.Header().Set("Retry-After", mode[4:])
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case mode == "500":
		f.mu.Unlock()
		http.Error(w, "<html>oops</html>", http.StatusInternalServerError)
		return
	case mode != "" && mode != "drop" && mode != "hold":
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ok": false, "error": mode})
		return
	}
	f.seq++
	s.TS = fmt.Sprintf("1700000000.%06d", f.seq)
	f.posts = append(f.posts, s)
	release, onPost := f.release, f.onPost
	f.mu.Unlock()
	if onPost != nil {
		onPost(s)
	}
	switch mode {
	case "drop":
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("no hijacker")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case "hold":
		f.held <- struct{}{}
		<-release
	}
	writeJSON(w, map[string]any{"ok": true, "channel": s.Channel, "ts": s.TS,
		"message": map[string]any{"type": "message", "text": s.Text, "ts": s.TS}})
}

func (f *fakeSlack) update(w http.ResponseWriter, r *http.Request) {
	s, err := parseSent(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	found := slices.ContainsFunc(f.posts, func(p sent) bool { return p.Channel == s.Channel && p.TS == s.TS })
	if found {
		f.updates = append(f.updates, s)
	}
	f.mu.Unlock()
	if !found {
		writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "channel": s.Channel, "ts": s.TS, "text": s.Text})
}

func (f *fakeSlack) postEphemeral(w http.ResponseWriter, r *http.Request) {
	s, err := parseSent(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.ephemerals = append(f.ephemerals, s)
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "message_ts": "1700000001.000001"})
}

// history serves conversations.history (top-level messages) and
// conversations.replies (a thread), newest first, from what was posted.
func (f *fakeSlack) history(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	channel, thread := r.FormValue("channel"), r.FormValue("ts")
	oldest, _ := strconv.ParseFloat(r.FormValue("oldest"), 64)
	f.mu.Lock()
	f.lookups++
	var msgs []map[string]any
	for i := len(f.posts) - 1; i >= 0; i-- {
		p := f.posts[i]
		if p.Channel != channel || (thread == "") != (p.ThreadTS == "") || (thread != "" && p.ThreadTS != thread) {
			continue
		}
		// The fake's ts are not wall-clock times; "oldest" only has to parse.
		_ = oldest
		m := map[string]any{"type": "message", "ts": p.TS, "text": p.Text, "thread_ts": p.ThreadTS}
		if r.FormValue("include_all_metadata") == "1" && p.Metadata.EventType != "" {
			m["metadata"] = p.Metadata
		}
		msgs = append(msgs, m)
	}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "messages": msgs, "has_more": false})
}

func (f *fakeSlack) userInfo(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.FormValue("user")
	f.mu.Lock()
	email, ok := f.users[id]
	gate := f.userGate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if !ok {
		writeJSON(w, map[string]any{"ok": false, "error": "user_not_found"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "user": map[string]any{"id": id, "name": id, "profile": map[string]any{"email": email}}})
}

func (f *fakeSlack) snapshot() (posts, updates, ephemerals []sent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts), slices.Clone(f.updates), slices.Clone(f.ephemerals)
}

func (f *fakeSlack) addUser(id, email string) {
	f.mu.Lock()
	f.users[id] = email
	f.mu.Unlock()
}

func (f *fakeSlack) failNext(modes ...string) {
	f.mu.Lock()
	f.fail = append(f.fail, modes...)
	f.mu.Unlock()
}

// env is one test's sidedesk: SQLite store, ticket service, fake Slack, bot.
type env struct {
	t     testing.TB
	st    *store.Store
	svc   *ticket.Service
	prio  *ticket.Prioritizer
	slack *fakeSlack
	opts  Options
	// holder names the next runner's process in the dispatch lease.
	holder string
	waits  []time.Duration // what the bot and its runner slept, in order
	wmu    sync.Mutex
	n      int
}

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

var testRules = ticket.PriorityRules{
	Keywords:   map[string]ticket.Priority{"outage": ticket.PriorityUrgent, "down": ticket.PriorityUrgent, "urgent": ticket.PriorityHigh},
	VIPDomains: []string{"vip.example"},
}

func newEnv(t testing.TB, rules ...AlertRule) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	prio, err := ticket.NewPrioritizer(testRules)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ticket.NewService(ticket.Options{Store: st, Priority: prio})
	if err != nil {
		t.Fatal(err)
	}
	if rules == nil {
		rules = []AlertRule{{Name: "urgent", Channel: "C_URGENT", MinPriority: ticket.PriorityUrgent}}
	}
	e := &env{t: t, st: st, svc: svc, prio: prio, slack: newFakeSlack(t)}
	e.opts = Options{
		Store: st, Tickets: svc, Tenant: ticket.DefaultTenant,
		BotToken: "xoxb-test", AppToken: "xapp-test", SigningSecret: testSecret, Mode: ModeHTTP,
		PublicURL: "https://desk.example/", Rules: rules, VIPs: prio,
		Logger: testLogger(), APIURL: e.slack.url(), PollInterval: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}
	if err := st.SetConsumerCursor(ctx, "slack:"+ticket.DefaultTenant, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, ticket.DefaultTenant, "alice@acme.example", "Alice", ticket.RoleAgent, ""); err != nil {
		t.Fatal(err)
	}
	e.slack.addUser("U_ALICE", "Alice@Acme.example")
	e.slack.addUser("U_MALLORY", "mallory@elsewhere.example")
	return e
}

// bot builds a Bot on the env's options whose sleeps are recorded and cut
// short (Retry-After and backoff are asserted, not waited for).
func (e *env) bot() *Bot {
	e.t.Helper()
	b, err := New(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	b.sleep = e.record
	return b
}

// record notes a wait and cuts it short (Retry-After and backoff are
// asserted, not waited for).
func (e *env) record(ctx context.Context, d time.Duration) error {
	e.wmu.Lock()
	e.waits = append(e.waits, d)
	e.wmu.Unlock()
	return sleepCtx(ctx, min(d, 2*time.Millisecond))
}

// run delivers b's outbox consumer on a runner as main wires it; the
// returned stop cancels it and waits.
func (e *env) run(b *Bot) (stop func()) {
	r, err := outbox.New(outbox.Options{Store: e.st, Notify: e.st, Holder: e.holder, Logger: testLogger(),
		LeaseTTL: 3 * time.Second, Sleep: e.record})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	name, tenant, poll, maxBackoff := b.Delivery()
	c := outbox.Consumer{Name: name, Tenant: tenant, Deliver: b.Deliver, PollInterval: poll, MaxBackoff: maxBackoff}
	go func() { done <- r.Run(ctx, c) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("outbox runner: %v", err)
		}
	}
	e.t.Cleanup(stop)
	return stop
}

// mail builds an inbound customer mail; mutate it with the options.
func (e *env) mail(subject, text string, mods ...func(*ticket.Inbound)) ticket.Inbound {
	e.n++
	id := fmt.Sprintf("m%d@customer.example", e.n)
	in := ticket.Inbound{
		Tenant: ticket.DefaultTenant, Mailbox: "support", SourceKey: "imap:1:" + strconv.Itoa(e.n),
		MessageID: id, BodyHash: fmt.Sprintf("hash%d", e.n), Header: ticket.Header{},
		From:    ticket.Address{Name: "Carol Customer", Email: "carol@customer.example"},
		To:      []ticket.Address{{Email: "support@acme.example"}},
		Subject: subject, Text: text, Date: time.Date(2026, 3, 1, 9, 0, e.n, 0, time.UTC),
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

// ingest stores in through the service (which applies the priority rules).
func (e *env) ingest(in ticket.Inbound) ticket.Result {
	e.t.Helper()
	res, err := e.svc.Ingest(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// settle waits until the dispatcher has delivered every event so far.
func (e *env) settle() {
	e.t.Helper()
	ctx := context.Background()
	last, err := e.st.LastEventID(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := e.st.ConsumerCursor(ctx, "slack:"+ticket.DefaultTenant)
		if err == nil && c >= last {
			return
		}
		if time.Now().After(deadline) {
			posts, _, _ := e.slack.snapshot()
			e.t.Fatalf("dispatcher did not reach event %d (cursor %d, %v); posts so far: %d", last, c, err, len(posts))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) recordedWaits() []time.Duration {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	return slices.Clone(e.waits)
}

// signed builds a request to the bot's HTTP endpoints signed like Slack
// does: v0=HMAC-SHA256(secret, "v0:" + timestamp + ":" + body).
func signedForm(path string, form url.Values, secret string, at time.Time) *http.Request {
	body := form.Encode()
	req, _ := http.NewRequest(http.MethodPost, path, stringsReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sign(req, []byte(body), secret, at)
	return req
}
