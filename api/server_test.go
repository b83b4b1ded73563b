package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// fixture is a real store in a temp dir, the ticket service on it, and the
// API served over a real loopback socket.
type fixture struct {
	t       testing.TB
	st      *store.Store
	svc     *ticket.Service
	srv     *httptest.Server
	server  *Server
	logs    *testenv.SyncBuffer
	tokenA  string // tenant "default", the default scopes
	tokenB  string // tenant "other", admin
	admin   string // tenant "default", admin
	seq     int
	clock   time.Time
	clockMu sync.Mutex
	health  struct {
		ok      bool
		details any
		tenant  atomic.Value // string: the last call's tenant
	}
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(dir, "db", "sidedesk.db"), BlobDir: filepath.Join(dir, "blobs")})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	f := &fixture{t: t, st: st, logs: &testenv.SyncBuffer{}, clock: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	f.health.ok = true
	f.svc, err = ticket.NewService(ticket.Options{Store: st, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	f.tokenA = f.newToken("default", "agent-token")
	f.tokenB = f.newToken("other", "other-token", ticket.ScopeAdmin)
	f.admin = f.newToken("default", "admin-token", ticket.ScopeAdmin)
	local, err := st.NewLocalCRM(store.LocalCRMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	f.server, err = New(Options{
		CRM:      local,
		Store:    st,
		Tickets:  f.svc,
		Blobs:    st.Blobs(),
		Events:   st,
		Admin:    st,
		Webhooks: mustWebhooks(t, st),
		Uploads:  testUploads{st},
		Health: func(_ context.Context, tenant string) (bool, any) {
			f.health.tenant.Store(tenant)
			return f.health.ok, f.health.details
		},
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.server.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// testUploads is the store as api.Uploads (cmd/sidedesk has the same).
type testUploads struct{ *store.Store }

func (u testUploads) PutBlob(ctx context.Context, r io.Reader) (ticket.BlobRef, error) {
	return u.Blobs().Put(ctx, r)
}

// now is the service's clock: every call is a second later, so tickets
// have distinct updated_at values in creation order.
func (f *fixture) now() time.Time {
	f.clockMu.Lock()
	defer f.clockMu.Unlock()
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

func (f *fixture) newToken(tenant, name string, scopes ...string) string {
	tok, hash, err := GenerateToken()
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.CreateToken(context.Background(), tenant, name, hash, scopes...); err != nil {
		f.t.Fatal(err)
	}
	return tok
}

type testAttachment struct {
	name, ctype string
	data        []byte
}

// inMail describes one inbound mail for ingest.
type inMail struct {
	tenant, mailbox, from, subject, inReplyTo string
	raw                                       []byte // default: generated
	atts                                      []testAttachment
}

func (f *fixture) ingest(m inMail) ticket.Result {
	f.t.Helper()
	ctx := context.Background()
	f.seq++
	if m.tenant == "" {
		m.tenant = "default"
	}
	if m.mailbox == "" {
		m.mailbox = "support"
	}
	msgID := fmt.Sprintf("m%d@customer.example", f.seq)
	if m.raw == nil {
		m.raw = []byte(fmt.Sprintf("From: %s\r\nTo: support@acme.example\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nbody %d\r\n",
			m.from, m.subject, msgID, f.seq))
	}
	raw, err := f.st.Blobs().Put(ctx, bytes.NewReader(m.raw))
	if err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256(m.raw)
	in := ticket.Inbound{
		Tenant: m.tenant, Mailbox: m.mailbox, SourceKey: fmt.Sprintf("imap:1:%d", f.seq),
		Raw: raw, BodyHash: hex.EncodeToString(sum[:]), Header: ticket.Header{},
		MessageID: msgID, InReplyTo: m.inReplyTo,
		From:    ticket.Address{Name: "Customer", Email: m.from},
		To:      []ticket.Address{{Email: "support@acme.example"}},
		Subject: m.subject, Date: f.now().Add(-time.Hour), Text: "body", ReceivedAt: f.now(),
	}
	for _, a := range m.atts {
		ref, err := f.st.Blobs().Put(ctx, bytes.NewReader(a.data))
		if err != nil {
			f.t.Fatal(err)
		}
		in.Attachments = append(in.Attachments, ticket.Attachment{Filename: a.name, ContentType: a.ctype, Size: ref.Size, SHA256: ref.SHA256})
	}
	res, err := f.svc.Ingest(ctx, in)
	if err != nil {
		f.t.Fatalf("Ingest: %v", err)
	}
	return res
}

// do sends a request with token (none when ""), returning the response
// with its body read.
func (f *fixture) do(method, path, token string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, b
}

func (f *fixture) get(path, token string) (*http.Response, []byte) {
	f.t.Helper()
	return f.do(http.MethodGet, path, token, nil)
}

// apiError decodes an error answer, failing when it is not one.
func apiError(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a JSON error answer: %s (%v)", body, err)
	}
	return e.Error.Code, e.Error.Message
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	f.ingest(inMail{from: "a@customer.example", subject: "hello"})
	tests := []struct {
		name       string
		auth       string
		wantStatus int
		wantCode   string
		wantWWW    string
	}{
		{"no header", "", 401, "unauthorized", `Bearer realm="sidedesk"`},
		{"unknown token", "Bearer sdk_notarealtoken", 401, "invalid_token", `Bearer realm="sidedesk", error="invalid_token"`},
		{"other scheme", "Basic " + f.tokenA, 401, "unauthorized", `Bearer realm="sidedesk"`},
		{"empty bearer", "Bearer ", 401, "unauthorized", `Bearer realm="sidedesk"`},
		{"token with trailing junk", "Bearer " + f.tokenA + " x", 401, "unauthorized", `Bearer realm="sidedesk"`},
		{"valid", "Bearer " + f.tokenA, 200, "", ""},
		{"scheme any case", "bearer " + f.tokenA, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do("GET", "/api/v1/tickets", "", nil, "Authorization", tt.auth)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.wantWWW {
				t.Errorf("WWW-Authenticate %q; want %q", got, tt.wantWWW)
			}
			if tt.wantCode != "" {
				if code, _ := apiError(t, body); code != tt.wantCode {
					t.Errorf("code %q; want %q", code, tt.wantCode)
				}
			}
		})
	}
	// Every API route is behind the token.
	for _, p := range []string{"/api/v1/tickets/1", "/api/v1/messages/1", "/api/v1/messages/1/raw", "/api/v1/attachments/1"} {
		if resp, _ := f.get(p, ""); resp.StatusCode != 401 {
			t.Errorf("GET %s without token: %d; want 401", p, resp.StatusCode)
		}
	}
	if resp, _ := f.do("PATCH", "/api/v1/tickets/1", "", strings.NewReader(`{"status":"open"}`)); resp.StatusCode != 401 {
		t.Errorf("PATCH without token: %d; want 401", resp.StatusCode)
	}
	if strings.Contains(f.logs.String(), f.tokenA) {
		t.Error("the log contains the bearer token")
	}
}

func TestTenantIsolation(t *testing.T) {
	f := newFixture(t)
	a := f.ingest(inMail{from: "alice@customer.example", subject: "tenant A", atts: []testAttachment{{"a.txt", "text/plain", []byte("secret A")}}})
	b := f.ingest(inMail{tenant: "other", from: "bob@customer.example", subject: "tenant B"})
	msgA, err := f.st.Message(context.Background(), "default", a.MessageID)
	if err != nil || len(msgA.Attachments) != 1 {
		t.Fatalf("message A: %v %+v", err, msgA)
	}
	attA := msgA.Attachments[0].ID

	paths := []string{
		fmt.Sprintf("/api/v1/tickets/%d", a.TicketID),
		fmt.Sprintf("/api/v1/messages/%d", a.MessageID),
		fmt.Sprintf("/api/v1/messages/%d/raw", a.MessageID),
		fmt.Sprintf("/api/v1/attachments/%d", attA),
	}
	for _, p := range paths {
		if resp, body := f.get(p, f.tokenA); resp.StatusCode != 200 {
			t.Errorf("tenant A GET %s: %d %s", p, resp.StatusCode, body)
		}
		resp, body := f.get(p, f.tokenB)
		if resp.StatusCode != 404 {
			t.Errorf("tenant B GET %s: %d; want 404", p, resp.StatusCode)
			continue
		}
		if code, _ := apiError(t, body); code != "not_found" {
			t.Errorf("tenant B GET %s: code %q", p, code)
		}
		if bytes.Contains(body, []byte("secret A")) || bytes.Contains(body, []byte("tenant A")) {
			t.Errorf("tenant B GET %s leaks A's data: %s", p, body)
		}
	}
	resp, body := f.do("PATCH", paths[0], f.tokenB, strings.NewReader(`{"status":"closed"}`))
	if resp.StatusCode != 404 {
		t.Errorf("tenant B PATCH A's ticket: %d %s", resp.StatusCode, body)
	}
	if tk, _ := f.st.Ticket(context.Background(), "default", a.TicketID); tk.Status == ticket.StatusClosed {
		t.Error("tenant B closed tenant A's ticket")
	}
	_, body = f.get("/api/v1/tickets", f.tokenB)
	list := decode[struct{ Tickets []struct{ ID int64 } }](t, body)
	if len(list.Tickets) != 1 || list.Tickets[0].ID != b.TicketID {
		t.Errorf("tenant B lists %+v; want only ticket %d", list.Tickets, b.TicketID)
	}
}

type listPage struct {
	Tickets []struct {
		ID        int64
		Status    string
		Mailbox   string
		UpdatedAt string `json:"updated_at"`
		Requester struct{ Email string }
	}
	NextCursor *string `json:"next_cursor"`
}

func TestListFiltersAndPagination(t *testing.T) {
	f := newFixture(t)
	var all []int64
	for i := range 23 {
		mb := "support"
		if i%3 == 0 {
			mb = "sales"
		}
		r := f.ingest(inMail{mailbox: mb, from: fmt.Sprintf("c%d@customer.example", i%5), subject: fmt.Sprintf("question %d", i)})
		all = append(all, r.TicketID)
	}
	pending := ticket.StatusPending
	if _, err := f.svc.Update(context.Background(), "default", all[4], ticket.Change{Status: &pending}); err != nil {
		t.Fatal(err)
	}

	// Page through 5 at a time; a ticket created between pages is newer
	// than every page already read and must not shift the rest.
	seen := map[int64]bool{}
	var order []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/api/v1/tickets?limit=5"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		resp, body := f.get(path, f.tokenA)
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: %d %s", page, resp.StatusCode, body)
		}
		p := decode[listPage](t, body)
		if p.NextCursor == nil {
			t.Fatalf("next_cursor missing from %s", body)
		}
		for _, tk := range p.Tickets {
			if seen[tk.ID] {
				t.Errorf("ticket %d listed twice", tk.ID)
			}
			seen[tk.ID] = true
			order = append(order, tk.UpdatedAt)
		}
		if page == 1 {
			f.ingest(inMail{from: "late@customer.example", subject: "arrived between pages"})
		}
		if *p.NextCursor == "" {
			break
		}
		if len(p.Tickets) != 5 {
			t.Errorf("page %d has %d tickets; want 5", page, len(p.Tickets))
		}
		cursor = *p.NextCursor
	}
	if len(seen) != len(all) {
		t.Errorf("listed %d tickets; want %d", len(seen), len(all))
	}
	for i := 1; i < len(order); i++ {
		if order[i] > order[i-1] {
			t.Errorf("not newest first: %s after %s", order[i], order[i-1])
		}
	}

	filters := []struct {
		query string
		want  func(status, mailbox, requester string) bool
		count int
	}{
		{"status=pending", func(s, _, _ string) bool { return s == "pending" }, 1},
		{"mailbox=sales", func(_, m, _ string) bool { return m == "sales" }, 8},
		{"requester=C1@Customer.Example", func(_, _, r string) bool { return r == "c1@customer.example" }, 5},
		{"mailbox=sales&requester=c0@customer.example", func(_, m, r string) bool { return m == "sales" && r == "c0@customer.example" }, 2},
		{"status=closed", nil, 0},
	}
	for _, tt := range filters {
		resp, body := f.get("/api/v1/tickets?"+tt.query, f.tokenA)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tt.query, resp.StatusCode, body)
		}
		p := decode[listPage](t, body)
		if len(p.Tickets) != tt.count {
			t.Errorf("%s: %d tickets; want %d", tt.query, len(p.Tickets), tt.count)
		}
		for _, tk := range p.Tickets {
			if !tt.want(tk.Status, tk.Mailbox, tk.Requester.Email) {
				t.Errorf("%s: got %+v", tt.query, tk)
			}
		}
		if !bytes.Contains(body, []byte(`"tickets":[`)) {
			t.Errorf("%s: tickets is not a JSON array: %s", tt.query, body)
		}
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	f.ingest(inMail{from: "a@customer.example", subject: "x"})
	tests := []struct {
		method, path string
		wantStatus   int
		wantCode     string
		wantInMsg    string
	}{
		{"GET", "/api/v1/tickets?status=bogus", 400, "invalid_parameter", "status"},
		{"GET", "/api/v1/tickets?limit=0", 400, "invalid_parameter", "limit"},
		{"GET", "/api/v1/tickets?limit=201", 400, "invalid_parameter", "limit"},
		{"GET", "/api/v1/tickets?limit=ten", 400, "invalid_parameter", "limit"},
		{"GET", "/api/v1/tickets?cursor=garbage", 400, "invalid_parameter", "cursor"},
		{"GET", "/api/v1/tickets?mailbox=Bad%20Box", 400, "invalid_parameter", "mailbox"},
		{"GET", "/api/v1/tickets?requester=not-an-address", 400, "invalid_parameter", "requester"},
		{"GET", "/api/v1/tickets?stauts=open", 400, "invalid_parameter", "stauts"},
		{"GET", "/api/v1/tickets?status=open&status=new", 400, "invalid_parameter", "status"},
		{"GET", "/api/v1/tickets/abc", 400, "invalid_id", "id"},
		{"GET", "/api/v1/tickets/0", 400, "invalid_id", "id"},
		{"GET", "/api/v1/tickets/-3", 400, "invalid_id", "id"},
		{"GET", "/api/v1/tickets/99999999999999999999", 400, "invalid_id", "id"},
		{"GET", "/api/v1/tickets/424242", 404, "not_found", "ticket 424242"},
		{"GET", "/api/v1/messages/x/raw", 400, "invalid_id", "id"},
		{"GET", "/api/v1/messages/424242/raw", 404, "not_found", "message 424242"},
		{"GET", "/api/v1/attachments/1.5", 400, "invalid_id", "id"},
		{"GET", "/api/v1/attachments/424242", 404, "not_found", "attachment 424242"},
		{"GET", "/api/v1/nothing", 404, "not_found", "/api/v1/nothing"},
		{"DELETE", "/api/v1/tickets/1", 405, "method_not_allowed", "GET, PATCH, HEAD"},
		{"POST", "/api/v1/messages/1/raw", 405, "method_not_allowed", "GET"},
		{"GET", "/metrics", 404, "not_found", "metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := f.do(tt.method, tt.path, f.tokenA, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			code, msg := apiError(t, body)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("error %q %q; want code %q, message naming %q", code, msg, tt.wantCode, tt.wantInMsg)
			}
		})
	}
}

func TestGetTicketWithMessages(t *testing.T) {
	f := newFixture(t)
	first := f.ingest(inMail{from: "carol@customer.example", subject: "Printer on fire"})
	reply := f.ingest(inMail{from: "carol@customer.example", subject: "Re: Printer on fire", inReplyTo: "<m1@customer.example>",
		atts: []testAttachment{{"photo.jpg", "image/jpeg", []byte("\xff\xd8\xff jpeg")}}})
	if reply.TicketID != first.TicketID {
		t.Fatalf("reply went to ticket %d, not %d", reply.TicketID, first.TicketID)
	}
	resp, body := f.get(fmt.Sprintf("/api/v1/tickets/%d", first.TicketID), f.tokenA)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "number", "subject", "status", "priority", "requester", "mailbox", "assignee", "created_at", "updated_at", "messages"} {
		if _, ok := got[k]; !ok {
			t.Errorf("ticket JSON lacks %q: %s", k, body)
		}
	}
	if got["status"] != "new" || got["subject"] != "Printer on fire" {
		t.Errorf("ticket: %v", got)
	}
	if ts, _ := got["created_at"].(string); !strings.HasSuffix(ts, "Z") {
		t.Errorf("created_at %q is not RFC 3339 UTC", ts)
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("created_at %q: %v", ts, err)
	}
	msgs, _ := got["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("%d messages; want 2", len(msgs))
	}
	m0, m1 := msgs[0].(map[string]any), msgs[1].(map[string]any)
	if m0["id"].(float64) != float64(first.MessageID) || m1["id"].(float64) != float64(reply.MessageID) {
		t.Errorf("messages out of order: %v, %v", m0["id"], m1["id"])
	}
	for _, k := range []string{"id", "message_id", "in_reply_to", "references", "direction", "classification", "from", "to", "cc", "reply_to", "subject", "date", "text", "html", "attachments", "held"} {
		if _, ok := m1[k]; !ok {
			t.Errorf("message JSON lacks %q", k)
		}
	}
	if _, ok := m1["parse_error"]; ok {
		t.Error("parse_error present though empty")
	}
	if m1["in_reply_to"] != "m1@customer.example" || m1["classification"] != "normal" || m1["direction"] != "inbound" {
		t.Errorf("message: %v", m1)
	}
	if cc, ok := m1["cc"].([]any); !ok || len(cc) != 0 {
		t.Errorf("cc = %#v; want []", m1["cc"])
	}
	atts := m1["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments %v", atts)
	}
	att := atts[0].(map[string]any)
	if att["filename"] != "photo.jpg" || att["content_type"] != "image/jpeg" || att["size"].(float64) != 8 {
		t.Errorf("attachment %v", att)
	}
	sum := sha256.Sum256([]byte("\xff\xd8\xff jpeg"))
	if att["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("attachment sha256 %v", att["sha256"])
	}
}

func TestRawMessage(t *testing.T) {
	f := newFixture(t)
	// CRLF, 8-bit ISO-8859-1 bytes and a trailing line without CRLF: all
	// must come back untouched.
	raw := []byte("From: Dörte <d@customer.example>\r\nSubject: =?iso-8859-1?q?gr=FC=DFe?=\r\nMessage-ID: <raw@x>\r\n\r\nGr\xfc\xdfe\r\n\tindented\r\nno newline at end")
	r := f.ingest(inMail{from: "d@customer.example", subject: "grüße", raw: raw})
	path := fmt.Sprintf("/api/v1/messages/%d/raw", r.MessageID)
	resp, body := f.get(path, f.tokenA)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !bytes.Equal(body, raw) {
		t.Errorf("raw bytes differ:\n got %q\nwant %q", body, raw)
	}
	for k, want := range map[string]string{
		"Content-Type":            "message/rfc822",
		"Content-Length":          fmt.Sprint(len(raw)),
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	// Range requests (resuming a large download) get the exact slice.
	resp, body = f.do("GET", path, f.tokenA, nil, "Range", "bytes=6-11")
	if resp.StatusCode != 206 || string(body) != string(raw[6:12]) {
		t.Errorf("range: %d %q; want 206 %q", resp.StatusCode, body, raw[6:12])
	}
	// The hash is the ETag: a revalidation costs nothing.
	resp, _ = f.do("GET", path, f.tokenA, nil, "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d; want 304", resp.StatusCode)
	}
}

func TestAttachmentHeaders(t *testing.T) {
	f := newFixture(t)
	html := []byte("<script>alert(document.cookie)</script>")
	r := f.ingest(inMail{from: "e@customer.example", subject: "files", atts: []testAttachment{
		{"Rechnung März 2026.pdf", "application/pdf", []byte("%PDF-1.7 ...")},
		{"evil.html", "text/html; charset=utf-8", html},
		{"", "complete nonsense", []byte("x")},
	}})
	m, err := f.st.Message(context.Background(), "default", r.MessageID)
	if err != nil || len(m.Attachments) != 3 {
		t.Fatalf("message: %v %+v", err, m.Attachments)
	}
	tests := []struct {
		id              int64
		wantType        string
		wantDisposition string
		wantBody        []byte
	}{
		{m.Attachments[0].ID, "application/pdf",
			`attachment; filename="Rechnung M_rz 2026.pdf"; filename*=UTF-8''Rechnung%20M%C3%A4rz%202026.pdf`, []byte("%PDF-1.7 ...")},
		{m.Attachments[1].ID, "text/html; charset=utf-8", `attachment; filename="evil.html"; filename*=UTF-8''evil.html`, html},
		{m.Attachments[2].ID, "application/octet-stream",
			fmt.Sprintf(`attachment; filename="attachment-%d"; filename*=UTF-8''attachment-%d`, m.Attachments[2].ID, m.Attachments[2].ID), []byte("x")},
	}
	for _, tt := range tests {
		resp, body := f.get(fmt.Sprintf("/api/v1/attachments/%d", tt.id), f.tokenA)
		if resp.StatusCode != 200 || !bytes.Equal(body, tt.wantBody) {
			t.Errorf("attachment %d: %d %q", tt.id, resp.StatusCode, body)
		}
		for k, want := range map[string]string{
			"Content-Type":            tt.wantType,
			"Content-Disposition":     tt.wantDisposition,
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "sandbox; default-src 'none'",
			"Content-Length":          fmt.Sprint(len(tt.wantBody)),
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("attachment %d: %s = %q; want %q", tt.id, k, got, want)
			}
		}
	}
}

func TestPatchTicket(t *testing.T) {
	f := newFixture(t)
	r := f.ingest(inMail{from: "f@customer.example", subject: "please help"})
	path := fmt.Sprintf("/api/v1/tickets/%d", r.TicketID)
	resp, body := f.do("PATCH", path, f.tokenA, strings.NewReader(`{"status":"pending","priority":"high","assignee":"Agent@Acme.Example"}`),
		"Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := decode[struct{ Status, Priority, Assignee string }](t, body)
	if got.Status != "pending" || got.Priority != "high" || got.Assignee != "agent@acme.example" {
		t.Errorf("after PATCH: %+v", got)
	}
	events, err := f.st.PendingEvents(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Type != ticket.EventTicketUpdated || !bytes.Contains(last.Payload, []byte(`"actor":"api:agent-token"`)) {
		t.Errorf("last event %s %s; want ticket.updated by api:agent-token", last.Type, last.Payload)
	}

	bad := []struct {
		body, ctype string
		wantStatus  int
		wantCode    string
		wantInMsg   string
	}{
		{`{"status":"done"}`, "application/json", 400, "invalid_request", `status "done"`},
		{`{"priority":"asap"}`, "", 400, "invalid_request", `priority "asap"`},
		{`{"assignee":"not an address"}`, "", 400, "invalid_request", "assignee"},
		{`{"stat":"open"}`, "", 400, "invalid_body", `unknown field "stat"`},
		{`{"status":1}`, "", 400, "invalid_body", "status: want a string"},
		{`{"status":`, "", 400, "invalid_body", "body"},
		{``, "", 400, "invalid_body", "empty"},
		{`{} {}`, "", 400, "invalid_body", "single JSON object"},
		{`status=open`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", "application/json"},
	}
	for _, tt := range bad {
		resp, body := f.do("PATCH", path, f.tokenA, strings.NewReader(tt.body), "Content-Type", tt.ctype)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%q: %d %s; want %d", tt.body, resp.StatusCode, body, tt.wantStatus)
			continue
		}
		if code, msg := apiError(t, body); code != tt.wantCode || !strings.Contains(msg, tt.wantInMsg) {
			t.Errorf("%q: %q %q; want %q naming %q", tt.body, code, msg, tt.wantCode, tt.wantInMsg)
		}
	}
	tk, _ := f.st.Ticket(context.Background(), "default", r.TicketID)
	if tk.Status != ticket.StatusPending {
		t.Errorf("a rejected PATCH changed the ticket: %s", tk.Status)
	}
}

// TestTicketTags: tags set by PATCH and POST come back normalised, filter
// the list, land in the ticket.updated event, and a bad tag is refused by
// name without touching the ticket.
func TestTicketTags(t *testing.T) {
	f := newFixture(t)
	a := f.ingest(inMail{from: "t1@customer.example", subject: "billing question"})
	f.ingest(inMail{from: "t2@customer.example", subject: "other"})
	path := fmt.Sprintf("/api/v1/tickets/%d", a.TicketID)
	resp, body := f.do("PATCH", path, f.tokenA, strings.NewReader(`{"tags":[" Billing","vip","billing","Été/2026"]}`),
		"Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("PATCH tags: %d %s", resp.StatusCode, body)
	}
	if got := decode[struct{ Tags []string }](t, body).Tags; !slices.Equal(got, []string{"billing", "vip", "été/2026"}) {
		t.Errorf("tags after PATCH: %q; want [billing vip été/2026]", got)
	}
	events, err := f.st.PendingEvents(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if last := events[len(events)-1]; !bytes.Contains(last.Payload, []byte(`"tags":{"from":"","to":"billing,vip,été/2026"}`)) {
		t.Errorf("last event %s %s; want the tags change", last.Type, last.Payload)
	}

	resp, body = f.get("/api/v1/tickets?tag=VIP", f.tokenA)
	list := decode[struct{ Tickets []struct{ ID int64 } }](t, body)
	if resp.StatusCode != 200 || len(list.Tickets) != 1 || list.Tickets[0].ID != a.TicketID {
		t.Errorf("?tag=VIP: %d %s; want ticket %d alone", resp.StatusCode, body, a.TicketID)
	}
	// "bill" is a prefix of a tag, not a tag: no match.
	if _, body = f.get("/api/v1/tickets?tag=bill", f.tokenA); len(decode[struct{ Tickets []struct{ ID int64 } }](t, body).Tickets) != 0 {
		t.Errorf("?tag=bill matched: %s", body)
	}
	if resp, body = f.get("/api/v1/tickets?tag=a%20b", f.tokenA); resp.StatusCode != 400 || !strings.Contains(string(body), "tag") {
		t.Errorf("?tag=a b: %d %s; want 400 naming tag", resp.StatusCode, body)
	}

	for _, bad := range []string{`{"tags":["two words"]}`, `{"tags":["a,b"]}`, `{"tags":["` + strings.Repeat("x", 41) + `"]}`} {
		resp, body := f.do("PATCH", path, f.tokenA, strings.NewReader(bad), "Content-Type", "application/json")
		if code, msg := apiError(t, body); resp.StatusCode != 400 || code != "invalid_request" || !strings.Contains(msg, "tag") {
			t.Errorf("%s: %d %q %q; want 400 invalid_request naming the tag", bad, resp.StatusCode, code, msg)
		}
	}
	if tk, _ := f.st.Ticket(context.Background(), "default", a.TicketID); len(tk.Tags) != 3 {
		t.Errorf("a refused PATCH changed the tags: %q", tk.Tags)
	}

	resp, body = f.do("PATCH", path, f.tokenA, strings.NewReader(`{"tags":[]}`), "Content-Type", "application/json")
	if got := decode[struct{ Tags []string }](t, body).Tags; resp.StatusCode != 200 || got == nil || len(got) != 0 {
		t.Errorf("PATCH tags []: %d %s; want tags []", resp.StatusCode, body)
	}

	resp, body = f.do("POST", "/api/v1/tickets", f.tokenA, strings.NewReader(
		`{"requester":{"email":"phone@customer.example"},"subject":"Called in","tags":["Phone","phone"]}`),
		"Content-Type", "application/json")
	if got := decode[struct{ Tags []string }](t, body).Tags; resp.StatusCode != 201 || !slices.Equal(got, []string{"phone"}) {
		t.Errorf("POST with tags: %d %s; want tags [phone]", resp.StatusCode, body)
	}
}

func TestPatchAbsentWithoutUpdater(t *testing.T) {
	f := newFixture(t)
	s, err := New(Options{Store: f.st, Blobs: f.st.Blobs()})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("PATCH", "/api/v1/tickets/1", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+f.tokenA)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Errorf("PATCH without Tickets: %d; want 405", rec.Code)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	f := newFixture(t)
	f.health.details = map[string]any{"mailboxes": map[string]any{"support": map[string]any{"connected": true}}}
	resp, body := f.get("/healthz", "")
	if resp.StatusCode != 200 || string(body) != `{"status":"ok"}`+"\n" || f.health.tenant.Load() != "" {
		t.Errorf("anonymous healthz: %d %s (tenant %q); want the status alone", resp.StatusCode, body, f.health.tenant.Load())
	}
	// A token without the admin scope gets the status alone.
	resp, body = f.get("/healthz", f.tokenA)
	if resp.StatusCode != 200 || string(body) != `{"status":"ok"}`+"\n" {
		t.Errorf("healthz with a non-admin token: %d %s; want the status alone", resp.StatusCode, body)
	}
	// The details go to an admin token, asked for its own tenant only.
	resp, body = f.get("/healthz", f.tokenB)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"connected":true`)) || f.health.tenant.Load() != "other" {
		t.Errorf("healthz with a token: %d %s (tenant %q)", resp.StatusCode, body, f.health.tenant.Load())
	}
	if resp, _ := f.get("/healthz", "sdk_not-a-real-token"); resp.StatusCode != 401 {
		t.Errorf("healthz with an unknown token: %d, want 401", resp.StatusCode)
	}
	f.health.details = gradedHealth("degraded")
	resp, body = f.get("/healthz", "")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`{"status":"degraded"`)) {
		t.Errorf("healthz degraded: %d %s", resp.StatusCode, body)
	}
	f.health.ok, f.health.details = false, nil
	resp, body = f.get("/healthz", "")
	if resp.StatusCode != 503 || !bytes.Contains(body, []byte(`"status":"unavailable"`)) {
		t.Errorf("healthz unhealthy: %d %s", resp.StatusCode, body)
	}

	s, err := New(Options{Store: f.st, Blobs: f.st.Blobs(), Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sidedesk_messages_captured_total 3\n")
	})})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "sidedesk_messages_captured_total") {
		t.Errorf("metrics: %d %s", rec.Code, rec.Body)
	}
}

func TestMountRecoveryHeadersAndLog(t *testing.T) {
	f := newFixture(t)
	if err := f.server.Mount("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("kaboom") })); err != nil {
		t.Fatal(err)
	}
	if err := f.server.Mount("GET /calendar/{id}", f.server.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFrom(r.Context())
		io.WriteString(w, c.Tenant+"/"+r.PathValue("id"))
	}))); err != nil {
		t.Fatal(err)
	}
	if err := f.server.Mount("GET /healthz", http.NotFoundHandler()); err == nil {
		t.Error("Mount of a conflicting pattern succeeded")
	}

	resp, body := f.get("/boom", "")
	if resp.StatusCode != 500 {
		t.Fatalf("panic: %d %s", resp.StatusCode, body)
	}
	if code, _ := apiError(t, body); code != "internal" {
		t.Errorf("panic code %q", code)
	}
	if !strings.Contains(f.logs.String(), "kaboom") {
		t.Error("panic not logged")
	}
	if resp, body := f.get("/calendar/alice", f.tokenB); resp.StatusCode != 200 || string(body) != "other/alice" {
		t.Errorf("mounted authenticated route: %d %q", resp.StatusCode, body)
	}
	if resp, _ := f.get("/calendar/alice", ""); resp.StatusCode != 401 {
		t.Errorf("mounted route without token: %d", resp.StatusCode)
	}

	for _, p := range []string{"/boom", "/healthz", "/api/v1/tickets", "/calendar/x", "/nowhere"} {
		resp, _ := f.get(p, "")
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s lacks security headers: %v", p, resp.Header)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s lacks X-Request-Id", p)
		}
	}

	f.get("/api/v1/tickets?cursor=secret-query-value", f.tokenA)
	logs := f.logs.String()
	for _, leak := range []string{f.tokenA, f.tokenB, "secret-query-value"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q", leak)
		}
	}
	if !strings.Contains(logs, `"path":"/api/v1/tickets"`) || !strings.Contains(logs, `"status":400`) {
		t.Errorf("request not logged:\n%s", logs)
	}
}

func TestGenerateToken(t *testing.T) {
	tok, hash, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "sdk_") || len(tok) != len("sdk_")+43 {
		t.Errorf("token %q: want sdk_ + 43 base64url characters", tok)
	}
	if hash != HashToken(tok) || len(hash) != 64 {
		t.Errorf("hash %q", hash)
	}
	tok2, _, _ := GenerateToken()
	if tok2 == tok {
		t.Error("two tokens are equal")
	}
	sum := sha256.Sum256([]byte("sdk_x"))
	if HashToken("sdk_x") != hex.EncodeToString(sum[:]) {
		t.Error("HashToken is not hex SHA-256")
	}
}

func TestContentDisposition(t *testing.T) {
	tests := []struct{ name, want string }{
		{"report.pdf", `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`},
		{"日本語.txt", `attachment; filename="___.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt`},
		{`a"b\c/d` + "\r\n.txt", `attachment; filename="a_b_c_d__.txt"; filename*=UTF-8''a%22b%5Cc%2Fd%0D%0A.txt`},
		{"100% sure;.txt", `attachment; filename="100% sure;.txt"; filename*=UTF-8''100%25%20sure%3B.txt`},
	}
	for _, tt := range tests {
		if got := contentDisposition("attachment", tt.name); got != tt.want {
			t.Errorf("contentDisposition(%q) =\n  %s\nwant\n  %s", tt.name, got, tt.want)
		}
	}
}

// gradedHealth is health details that grade themselves (HealthStatus).
type gradedHealth string

func (g gradedHealth) HealthStatus() string { return string(g) }
