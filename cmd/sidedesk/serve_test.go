package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/sidedesk/sidedesk/demo"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
)

// slackPosts records chat.postMessage calls of a slacktest server.
type slackPosts struct {
	mu    sync.Mutex
	posts []url.Values
}

func (s *slackPosts) handler(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	s.posts = append(s.posts, r.Form)
	n := len(s.posts)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1700000000.%06d"}`, r.Form.Get("channel"), n)
}

func (s *slackPosts) list() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.posts...)
}

var listenRE = regexp.MustCompile(`sidedesk serving.*listen=(127\.0\.0\.1:\d+)`)

// TestServeWiring runs `sidedesk serve` from a config file with an IMAP
// mailbox, Slack in HTTP mode (against slacktest) and calendar sync against
// a real Radicale, and checks each is wired: an urgent mail appended over
// IMAP is captured and alerted once in Slack, unsigned Slack requests get
// 401, the agent's busy time is served, and /healthz reports it all.
func TestServeWiring(t *testing.T) {
	rad := testenv.StartRadicale(t, "alice")
	cal, err := rad.MakeCalendar("alice", "work")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	ics := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:canary-uid@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:Secret board meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		start.Format("20060102T150405Z"), start.Add(time.Hour).Format("20060102T150405Z"))
	if err := rad.Put("alice", cal, "e1.ics", []byte(ics)); err != nil {
		t.Fatal(err)
	}

	imapSrv, err := demo.StartIMAP(context.Background(), demo.IMAPOptions{Addr: "127.0.0.1:0", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	posts := &slackPosts{}
	slackSrv := slacktest.NewTestServer(func(c slacktest.Customize) { c.Handle("/chat.postMessage", posts.handler) })
	go slackSrv.Start()
	defer slackSrv.Stop()

	dir := t.TempDir()
	host, port, _ := strings.Cut(imapSrv.Addr, ":")
	cfgPath := filepath.Join(dir, "sidedesk.toml")
	t.Setenv("WIRING_IMAP_PW", "pw")
	t.Setenv("WIRING_SLACK_BOT", "xoxb-test")
	t.Setenv("WIRING_SLACK_SIGNING", "signing-secret")
	t.Setenv("WIRING_DAV_PW", rad.Password("alice"))
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
public_url = "http://sidedesk.test"
[database]
path = %q
[storage]
blob_dir = %q
[[mailbox]]
name = "support"
address = "support@acme.example"
host = %q
port = %s
tls = "none"
username = %q
password_env = "WIRING_IMAP_PW"
initial_sync = "since"
since = "2000-01-01"
[calendar]
enabled = true
sync_interval = "1h"
[[calendar.agent]]
id = "alice"
email = "alice@acme.example"
timezone = "Europe/Berlin"
caldav_url = %q
username = "alice"
password_env = "WIRING_DAV_PW"
[slack]
enabled = true
mode = "http"
bot_token_env = "WIRING_SLACK_BOT"
signing_secret_env = "WIRING_SLACK_SIGNING"
api_url = %q
poll_interval = "50ms"
[[slack.alert]]
name = "urgent"
channel = "C0123ABCDEF"
min_priority = "high"
`, filepath.Join(dir, "db.sqlite"), filepath.Join(dir, "blobs"), host, port, demo.Username, rad.URL+"/alice/", slackSrv.GetAPIURL())), 0o600)

	var tokOut, errb bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--name", "wiring", "--scopes", "admin", "--config", cfgPath}, nil, &tokOut, &errb); err != nil {
		t.Fatalf("token create: %v\n%s", err, errb.String())
	}
	token := strings.TrimSpace(tokOut.String())
	tokOut.Reset()
	if err := run(context.Background(), []string{"token", "create", "--name", "other", "--tenant", "other", "--scopes", "admin", "--config", cfgPath}, nil, &tokOut, &errb); err != nil {
		t.Fatalf("token create: %v\n%s", err, errb.String())
	}
	otherToken := strings.TrimSpace(tokOut.String())

	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, nil, io.Discard, stderr) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop within 20s")
		}
	}()
	var base string
	waitFor(t, 20*time.Second, "serve to listen", func() bool {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		default:
		}
		return false
	})
	get := func(path string, v any) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}

	// Wait until capture is connected (IDLE), then deliver an urgent mail.
	waitFor(t, 20*time.Second, "mailbox connected", func() bool {
		var h struct {
			Details struct {
				Mailboxes []struct{ Connected bool } `json:"mailboxes"`
			} `json:"details"`
		}
		get("/healthz", &h)
		return len(h.Details.Mailboxes) == 1 && h.Details.Mailboxes[0].Connected
	})
	// A first start of the Slack dispatcher skips the outbox history: wait
	// until it has recorded where it starts, so the mail below is news.
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(dir, "db.sqlite"), BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, 20*time.Second, "the Slack dispatcher's outbox cursor", func() bool {
		_, err := st.ConsumerCursor(context.Background(), "slack:default")
		return err == nil
	})
	raw := "From: Anna <anna@globex.example>\r\nTo: support@acme.example\r\nSubject: Total outage of the API\r\n" +
		"Message-ID: <outage-wiring@globex.example>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nEverything is down.\r\n"
	if err := imapSrv.Append([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "one Slack alert", func() bool { return len(posts.list()) >= 1 })
	time.Sleep(300 * time.Millisecond)
	if p := posts.list(); len(p) != 1 || p[0].Get("channel") != "C0123ABCDEF" || !strings.Contains(p[0].Get("blocks"), "Total outage of the API") {
		t.Errorf("slack posts %v: want exactly one alert in C0123ABCDEF about the outage", p)
	}

	// HTTP-mode Slack endpoints are mounted and verify signatures.
	resp, err := http.Post(base+"/slack/commands", "application/x-www-form-urlencoded", strings.NewReader("command=%2Fsidedesk&text=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned slash command: HTTP %d, want 401", resp.StatusCode)
	}

	// Calendar: busy time (and nothing else) is served for the agent.
	from, to := start.Add(-2*time.Hour).Format(time.RFC3339), start.Add(3*time.Hour).Format(time.RFC3339)
	var fb struct {
		Busy []struct{ Start, End time.Time } `json:"busy"`
	}
	waitFor(t, 30*time.Second, "busy interval", func() bool {
		fb.Busy = nil
		return get("/api/v1/agents/alice/freebusy?from="+from+"&to="+to, &fb) == 200 && len(fb.Busy) == 1
	})
	if !fb.Busy[0].Start.Equal(start) || !fb.Busy[0].End.Equal(start.Add(time.Hour)) {
		t.Errorf("busy %v, want %v..%v", fb.Busy, start, start.Add(time.Hour))
	}
	var body bytes.Buffer
	req, _ := http.NewRequest("GET", base+"/api/v1/agents/alice/freebusy?from="+from+"&to="+to, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if r, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(&body, r.Body)
		r.Body.Close()
	}
	if strings.Contains(body.String(), "Secret board meeting") || strings.Contains(stderr.String(), "Secret board meeting") {
		t.Errorf("an event title leaked into the API answer or the logs")
	}
	if code := get("/api/v1/agents/alice/freebusy?from="+from+"&to="+to+"&x=1", nil); code != 200 {
		t.Errorf("freebusy: HTTP %d", code)
	}
	req, _ = http.NewRequest("GET", base+"/api/v1/agents/alice/freebusy?from="+from+"&to="+to, nil)
	req.Header.Set("Authorization", "Bearer "+otherToken)
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("freebusy with another tenant's token: HTTP %d, want 404", r.StatusCode)
		}
	}
	// The calendar's errors come in the API's one shape, with a request id.
	var apiErr struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if code := get("/api/v1/agents/nobody/freebusy", &apiErr); code != http.StatusNotFound ||
		apiErr.Error.Code != "not_found" || apiErr.Error.RequestID == "" {
		t.Errorf("unknown agent: HTTP %d, %+v; want 404 not_found with a request id", code, apiErr)
	}
	if code := get("/api/v1/agents/alice/freebusy?from=yesterday", &apiErr); code != http.StatusBadRequest ||
		apiErr.Error.Code != "invalid_parameter" || !strings.Contains(apiErr.Error.Message, "from") {
		t.Errorf("bad from: HTTP %d, %+v; want 400 invalid_parameter naming from", code, apiErr)
	}
	req, _ = http.NewRequest("GET", base+"/api/v1/agents/alice/freebusy", nil)
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("freebusy without a token: HTTP %d, want 401", r.StatusCode)
		}
	}
	var h struct {
		Status  string `json:"status"`
		Details struct {
			Calendar []struct {
				AgentID   string `json:"agent_id"`
				LastError string `json:"last_error"`
			} `json:"calendar"`
		} `json:"details"`
	}
	get("/healthz", &h)
	if h.Status != "ok" || len(h.Details.Calendar) != 1 || h.Details.Calendar[0].LastError != "" {
		t.Errorf("healthz %+v", h.Details)
	}

	// The feed URL: in the API (admin), in `calendar feeds`, and rotated.
	var feed struct {
		FeedURL string `json:"feed_url"`
	}
	if code := get("/api/v1/agents/alice/feed", &feed); code != 200 || !strings.HasPrefix(feed.FeedURL, "http://sidedesk.test/freebusy/") {
		t.Fatalf("feed URL: HTTP %d %+v", code, feed)
	}
	var cli bytes.Buffer
	if err := run(context.Background(), []string{"calendar", "feeds", "--config", cfgPath}, nil, &cli, io.Discard); err != nil ||
		!strings.Contains(cli.String(), feed.FeedURL) {
		t.Errorf("calendar feeds: %v\n%s", err, cli.String())
	}
	feedPath := strings.TrimPrefix(feed.FeedURL, "http://sidedesk.test")
	status := func(path string) int {
		r, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code := status(feedPath); code != 200 {
		t.Errorf("feed: HTTP %d", code)
	}
	cli.Reset()
	if err := run(context.Background(), []string{"calendar", "rotate-feed", "--agent", "alice", "--config", cfgPath}, nil, &cli, io.Discard); err != nil ||
		!strings.Contains(cli.String(), "new free/busy feed") {
		t.Fatalf("rotate-feed: %v %s", err, cli.String())
	}
	if code := status(feedPath); code != 404 {
		t.Errorf("the old feed after rotation: HTTP %d, want 404", code)
	}
	var rotated struct {
		FeedURL string `json:"feed_url"`
	}
	if code := get("/api/v1/agents/alice/feed", &rotated); code != 200 || rotated.FeedURL == feed.FeedURL ||
		status(strings.TrimPrefix(rotated.FeedURL, "http://sidedesk.test")) != 200 {
		t.Errorf("after rotation: HTTP %d %+v", code, rotated)
	}
}

// apiJSON calls the API at base with token and a JSON body and decodes the
// JSON answer; status 0 and nil when the server does not answer (a test
// that kills it asks while it is down).
func apiJSON(base, token, method, path, body string) (int, map[string]any) {
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

// startServe runs `sidedesk serve --config cfg` until t ends and returns
// its base URL and log.
func startServe(t *testing.T, cfg string) (string, *testenv.SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfg}, nil, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var base string
	waitFor(t, 20*time.Second, "serve to listen", func() bool {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		return false
	})
	return base, stderr
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeSendsMail runs `sidedesk serve` with a mailbox that sends
// (smtp_host to an SMTP receiver) and acknowledgements on: a customer's
// mail is acknowledged, POST /api/v1/tickets/{id}/replies answers 202 with
// the queued reply, the reply reaches the server, and the message then
// shows its delivery as sent.
func TestServeSendsMail(t *testing.T) {
	imapSrv, err := demo.StartIMAP(context.Background(), demo.IMAPOptions{Addr: "127.0.0.1:0", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	smtpSrv := testenv.StartSMTPServer(t)
	dir := t.TempDir()
	host, port, _ := strings.Cut(imapSrv.Addr, ":")
	cfgPath := filepath.Join(dir, "sidedesk.toml")
	t.Setenv("MAIL_IMAP_PW", "pw")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[database]
path = %q
[storage]
blob_dir = %q
[ticket]
ack_enabled = true
[[mailbox]]
name = "support"
address = "support@acme.example"
from_name = "Acme Support"
host = %q
port = %s
tls = "none"
username = %q
password_env = "MAIL_IMAP_PW"
initial_sync = "since"
since = "2000-01-01"
smtp_host = "127.0.0.1"
smtp_port = %d
smtp_tls = "none"
smtp_auth = "none"
`, filepath.Join(dir, "db.sqlite"), filepath.Join(dir, "blobs"), host, port, demo.Username, smtpSrv.Port())), 0o600)
	var tokOut, errb bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--name", "mail", "--config", cfgPath}, nil, &tokOut, &errb); err != nil {
		t.Fatalf("token create: %v\n%s", err, errb.String())
	}
	token := strings.TrimSpace(tokOut.String())
	base, _ := startServe(t, cfgPath)
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(dir, "db.sqlite"), BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A first start of the mail consumer begins at the outbox's end: wait
	// until it recorded where, so the mail below is news to it.
	waitFor(t, 20*time.Second, "the mail consumer's cursor", func() bool {
		_, err := st.ConsumerCursor(context.Background(), "mail:default")
		return err == nil
	})
	raw := "From: Cora <cora@customer.example>\r\nTo: support@acme.example\r\nSubject: Invoice missing\r\n" +
		"Message-ID: <invoice@customer.example>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nWhere is it?\r\n"
	if err := imapSrv.Append([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the acknowledgement", func() bool { return len(smtpSrv.Received()) == 1 })
	if m := smtpSrv.Received()[0]; fmt.Sprint(m.To) != "[cora@customer.example]" || !bytes.Contains(m.Raw, []byte("[#1]")) ||
		!bytes.Contains(m.Raw, []byte("Auto-Submitted: auto-replied")) {
		t.Errorf("acknowledgement to %v:\n%s", m.To, m.Raw)
	}

	post := func(path, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	if code, v := post("/api/v1/tickets/1/replies", `{"body_text":"x","status_after":"later"}`); code != 400 ||
		!strings.Contains(fmt.Sprint(v), "status_after") {
		t.Errorf("bad status_after: %d %v", code, v)
	}
	if code, v := post("/api/v1/tickets/1/replies", `{"body_txt":"x"}`); code != 400 || !strings.Contains(fmt.Sprint(v), "body_txt") {
		t.Errorf("unknown field: %d %v", code, v)
	}
	if code, _ := post("/api/v1/tickets/999/replies", `{"body_text":"x"}`); code != 404 {
		t.Errorf("reply to a missing ticket: %d, want 404", code)
	}
	code, v := post("/api/v1/tickets/1/replies", `{"body_text":"Here it is.","cc":["Billing <billing@customer.example>"],"status_after":"solved"}`)
	if code != 202 || v["direction"] != "outgoing" {
		t.Fatalf("reply: %d %v", code, v)
	}
	if d, _ := v["delivery"].(map[string]any); d["state"] != "queued" {
		t.Errorf("reply's delivery %v, want queued", v["delivery"])
	}
	waitFor(t, 20*time.Second, "the reply at the server", func() bool { return len(smtpSrv.Received()) == 2 })
	if m := smtpSrv.Received()[1]; fmt.Sprint(m.To) != "[cora@customer.example billing@customer.example]" ||
		!bytes.Contains(m.Raw, []byte("In-Reply-To: <invoice@customer.example>")) {
		t.Errorf("reply to %v:\n%s", m.To, m.Raw)
	}
	id := int64(v["id"].(float64))
	waitFor(t, 10*time.Second, "the reply recorded sent", func() bool {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/messages/%d", base, id), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var m struct {
			Delivery struct {
				State  string  `json:"state"`
				SentAt *string `json:"sent_at"`
			} `json:"delivery"`
		}
		json.NewDecoder(resp.Body).Decode(&m)
		return m.Delivery.State == "sent" && m.Delivery.SentAt != nil
	})
	if tk, err := st.Ticket(context.Background(), "default", 1); err != nil || tk.Status != "solved" {
		t.Errorf("ticket after the reply: %s %v, want solved (status_after)", tk.Status, err)
	}

	// A reply with an uploaded attachment, quoting the customer's mail.
	pdf := bytes.Repeat([]byte("%PDF-1.4 invoice\n"), 300)
	req, _ := http.NewRequest("POST", base+"/api/v1/uploads?filename=../../etc/invoice%2042.pdf", bytes.NewReader(pdf))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/pdf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up map[string]any
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != 201 || up["filename"] != "invoice 42.pdf" || up["size"] != float64(len(pdf)) {
		t.Fatalf("upload: %d %v", resp.StatusCode, up)
	}
	if code, v := post("/api/v1/tickets/1/replies", `{"body_text":"x","attachments":[999]}`); code != 400 ||
		!strings.Contains(fmt.Sprint(v), "attachments[0]") {
		t.Errorf("an unknown upload: %d %v, want 400 naming attachments[0]", code, v)
	}
	code, v = post("/api/v1/tickets/1/replies", fmt.Sprintf(`{"body_text":"The invoice is attached.","quote":true,"attachments":[%v]}`, up["id"]))
	if code != 202 {
		t.Fatalf("reply with attachment: %d %v", code, v)
	}
	if atts, _ := v["attachments"].([]any); len(atts) != 1 {
		t.Errorf("the reply's attachments %v, want the invoice", v["attachments"])
	}
	waitFor(t, 20*time.Second, "the reply with the attachment", func() bool { return len(smtpSrv.Received()) == 3 })
	msg, err := mail.ReadMessage(bytes.NewReader(smtpSrv.Received()[2].Raw))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipartOf(t, msg)
	var sawQuote, sawPDF bool
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "multipart/alternative") {
			alt := multipart.NewReader(p, boundaryOf(t, p.Header.Get("Content-Type")))
			tp, _ := alt.NextPart()
			b, _ := io.ReadAll(tp)
			sawQuote = strings.Contains(string(b), "Cora <cora@customer.example> wrote:") && strings.Contains(string(b), "> Where is it?")
			continue
		}
		if strings.Contains(p.Header.Get("Content-Disposition"), "invoice 42.pdf") {
			b, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			sawPDF = bytes.Equal(b, pdf) && p.Header.Get("Content-Type") == "application/pdf"
		}
	}
	if !sawQuote || !sawPDF {
		t.Errorf("reply with attachment: quote %v, pdf %v:\n%s", sawQuote, sawPDF, smtpSrv.Received()[2].Raw)
	}
}

func multipartOf(t *testing.T, m *mail.Message) *multipart.Reader {
	t.Helper()
	return multipart.NewReader(m.Body, boundaryOf(t, m.Header.Get("Content-Type")))
}

func boundaryOf(t *testing.T, ct string) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("not multipart: %q", ct)
	}
	return params["boundary"]
}
