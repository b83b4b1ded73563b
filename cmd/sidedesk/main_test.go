package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/sidedesk/sidedesk/demo"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

type demoRun struct {
	base, token, imapAddr string
	panel, agent, agentPW string
	cancel                func()
	done                  chan error
	stderr                *testenv.SyncBuffer
}

var (
	apiRE   = regexp.MustCompile(`API\s+(http://\S+)/api/v1/tickets`)
	tokenRE = regexp.MustCompile(`Token\s+(sdk_\S+)`)
	imapRE  = regexp.MustCompile(`IMAP\s+(\S+) \(plain IMAP`)
	panelRE = regexp.MustCompile(`Sidebar\s+(http://\S+)`)
	agentRE = regexp.MustCompile(`sign in as (\S+) with password (\S+)`)
)

// startDemo runs `sidedesk demo` in-process on free ports and waits for its
// banner.
func startDemo(t *testing.T, dataDir string) *demoRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &demoRun{cancel: cancel, done: make(chan error, 1), stderr: &testenv.SyncBuffer{}}
	go func() {
		err := run(ctx, []string{"demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--smtp", "127.0.0.1:0"}, nil, pw, d.stderr)
		pw.CloseWithError(io.EOF)
		d.done <- err
	}()
	t.Cleanup(func() { d.stop(t) })
	banner := make(chan string, 1)
	go func() {
		var sb strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			sb.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Press Ctrl-C") {
				banner <- sb.String()
				break
			}
		}
		close(banner)
		io.Copy(io.Discard, pr)
	}()
	select {
	case out, ok := <-banner:
		if !ok {
			t.Fatalf("demo exited before its banner: %v\nstderr:\n%s", <-d.done, d.stderr.String())
		}
		for _, m := range []struct {
			re  *regexp.Regexp
			dst *string
		}{{apiRE, &d.base}, {tokenRE, &d.token}, {imapRE, &d.imapAddr}, {panelRE, &d.panel}} {
			sm := m.re.FindStringSubmatch(out)
			if sm == nil {
				t.Fatalf("banner lacks %s:\n%s", m.re, out)
			}
			*m.dst = sm[1]
		}
		sm := agentRE.FindStringSubmatch(out)
		if sm == nil {
			t.Fatalf("banner lacks the agent's sign-in:\n%s", out)
		}
		d.agent, d.agentPW = sm[1], sm[2]
	case <-time.After(60 * time.Second):
		t.Fatalf("no demo banner within 60s; stderr:\n%s", d.stderr.String())
	}
	return d
}

// cli runs sidedesk commands against the demo's database (as an admin on
// the same machine would, beside the running demo); it returns stdout.
func (d *demoRun) cli(t *testing.T, dataDir string) func(args ...string) (string, error) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n",
		filepath.Join(dataDir, "sidedesk.db"), filepath.Join(dataDir, "blobs"))), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append(args, "--config", cfg), nil, &out, &errb)
		if err != nil {
			err = fmt.Errorf("%w (stderr: %s)", err, strings.TrimSpace(errb.String()))
		}
		return out.String(), err
	}
}

func (d *demoRun) stop(t *testing.T) {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("demo exited with error: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("demo did not shut down within 20s")
	}
}

func (d *demoRun) get(t *testing.T, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", d.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

type ticketList struct {
	Tickets []struct {
		ID       int64  `json:"id"`
		Number   int64  `json:"number"`
		Subject  string `json:"subject"`
		Status   string `json:"status"`
		Priority string `json:"priority"`
	} `json:"tickets"`
	NextCursor string `json:"next_cursor"`
}

type ticketDetail struct {
	ID       int64 `json:"id"`
	Messages []struct {
		ID             int64  `json:"id"`
		MessageID      string `json:"message_id"`
		Classification string `json:"classification"`
	} `json:"messages"`
}

func allTickets(t *testing.T, d *demoRun) ticketList {
	var all ticketList
	cursor := ""
	for {
		var page ticketList
		if code := d.get(t, "/api/v1/tickets?limit=200&cursor="+cursor, &page); code != 200 {
			t.Fatalf("list tickets: HTTP %d", code)
		}
		all.Tickets = append(all.Tickets, page.Tickets...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// TestDemo is `make demo` end to end: the sample corpus is captured over
// real IMAP into tickets (threads grouped, loop-guarded mail not ticketed),
// the API answers with the printed token, raw bytes come back exactly, a
// mail appended to the demo IMAP server becomes a ticket by IDLE push, and a
// restart on the same data duplicates nothing.
func TestDemo(t *testing.T) {
	corpus, err := demo.Mail()
	if err != nil {
		t.Fatal(err)
	}
	if len(corpus) < 25 {
		t.Fatalf("demo corpus has %d mails, want about 30", len(corpus))
	}
	dataDir := t.TempDir()
	d := startDemo(t, dataDir)

	if code := d.get(t, "/api/v1/tickets", nil); code != 200 {
		t.Fatalf("tickets with the printed token: HTTP %d", code)
	}
	req, _ := http.NewRequest("GET", d.base+"/api/v1/tickets", nil)
	req.Header.Set("Authorization", "Bearer sdk_wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unknown token: HTTP %d, want 401", resp.StatusCode)
	}

	list := allTickets(t, d)
	if len(list.Tickets) == 0 || len(list.Tickets) >= len(corpus) {
		t.Fatalf("%d tickets from %d mails: want threads grouped into fewer tickets", len(list.Tickets), len(corpus))
	}
	prio := map[string]string{}
	for _, tk := range list.Tickets {
		prio[tk.Subject] = tk.Priority
	}
	if p := prio["URGENT: production is down - API returns 503"]; p != "urgent" {
		t.Errorf("the outage report has priority %q; the default keyword rules make it urgent", p)
	}
	if _, ok := prio["Re: SAML SSO with Okta?"]; ok {
		t.Errorf("an Apple Mail reply in the SSO thread became its own ticket")
	}
	msgs := 0
	threaded := false
	for _, tk := range list.Tickets {
		var det ticketDetail
		if code := d.get(t, fmt.Sprintf("/api/v1/tickets/%d", tk.ID), &det); code != 200 {
			t.Fatalf("ticket %d: HTTP %d", tk.ID, code)
		}
		msgs += len(det.Messages)
		if len(det.Messages) >= 3 {
			threaded = true
		}
	}
	if !threaded {
		t.Errorf("no ticket holds a thread of 3+ messages; the corpus has multi-message threads")
	}
	if msgs > len(corpus) {
		t.Errorf("%d ticketed messages from %d mails: duplicates", msgs, len(corpus))
	}

	// Raw bytes of a message are exactly the delivered ones.
	var first ticketDetail
	d.get(t, fmt.Sprintf("/api/v1/tickets/%d", list.Tickets[len(list.Tickets)-1].ID), &first)
	req, _ = http.NewRequest("GET", fmt.Sprintf("%s/api/v1/messages/%d/raw", d.base, first.Messages[0].ID), nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	found := false
	for _, m := range corpus {
		if bytes.Equal(m.Raw, raw) {
			found = true
		}
	}
	if !found {
		t.Errorf("raw message %d (%d bytes) is not byte-identical to any corpus mail", first.Messages[0].ID, len(raw))
	}

	// A new mail appended by "a person's mail client" becomes a ticket.
	subject := fmt.Sprintf("Printer on fire %d", time.Now().UnixNano())
	newMail := "From: Pat Customer <pat@initech.example>\r\nTo: support@acme.example\r\n" +
		"Subject: " + subject + "\r\nMessage-ID: <" + fmt.Sprint(time.Now().UnixNano()) + "@initech.example>\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nIt is on fire.\r\n"
	appendIMAP(t, d.imapAddr, newMail)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var l ticketList
		d.get(t, "/api/v1/tickets?limit=5", &l)
		if len(l.Tickets) > 0 && l.Tickets[0].Subject == subject {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("appended mail did not become a ticket within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The printed agent signs in and the printed panel link shows the CRM
	// record behind the first mail (Globex, from the seeded demo CRM).
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page, err := browser.Get(d.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	loginHTML, _ := io.ReadAll(page.Body)
	page.Body.Close()
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(loginHTML)
	if csrf == nil {
		t.Fatalf("login page has no csrf_token field:\n%s", loginHTML)
	}
	resp, err = browser.PostForm(d.base+"/login", url.Values{"email": {d.agent}, "password": {d.agentPW}, "csrf_token": {string(csrf[1])}, "next": {strings.TrimPrefix(d.panel, d.base)}})
	if err != nil {
		t.Fatal(err)
	}
	panelHTML, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(panelHTML, []byte("Globex")) || !bytes.Contains(panelHTML, []byte("production is down")) {
		t.Errorf("signing in and opening %s: HTTP %d, want the panel with the Globex account and the outage ticket:\n%.2000s", d.panel, resp.StatusCode, panelHTML)
	}

	var health map[string]any
	if code := d.get(t, "/healthz", &health); code != 200 || health["status"] != "ok" {
		t.Errorf("healthz: HTTP %d %v", code, health)
	}

	// A reply goes out through the demo's SMTP server.
	req, _ = http.NewRequest("POST", fmt.Sprintf("%s/api/v1/tickets/%d/replies", d.base, list.Tickets[0].ID),
		strings.NewReader(`{"body_text":"We are on it."}`))
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct {
		ID int64 `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&reply)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || reply.ID == 0 {
		t.Fatalf("demo reply: HTTP %d", resp.StatusCode)
	}
	waitFor(t, 10*time.Second, "the demo reply sent", func() bool {
		var m struct {
			Delivery struct{ State string } `json:"delivery"`
		}
		d.get(t, fmt.Sprintf("/api/v1/messages/%d", reply.ID), &m)
		return m.Delivery.State == "sent"
	})

	// Restart on the same data: the corpus is re-seeded, nothing doubles.
	before := len(allTickets(t, d).Tickets)
	d.stop(t)
	d2 := startDemo(t, dataDir)
	if after := len(allTickets(t, d2).Tickets); after != before {
		t.Errorf("restart changed the ticket count from %d to %d", before, after)
	}
	// The restarted demo shows the same token: no new token per run.
	if d2.token != d.token {
		t.Errorf("restart printed another token (%s, was %s)", d2.token, d.token)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "sidedesk.db")); err != nil {
		t.Errorf("database not under --data: %v", err)
	}
}

func appendIMAP(t *testing.T, addr, raw string) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("dial demo imap: %v", err)
	}
	defer c.Close()
	if err := c.Login(demo.Username, "demo").Wait(); err != nil {
		t.Fatalf("login demo imap: %v", err)
	}
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := io.WriteString(cmd, raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// TestCLIErrors: bad command lines and configs fail with messages that
// name what is wrong.
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[server]\nlisten = \"127.0.0.1:8080\"\n[[mailbox]]\nname = \"support\"\nhost = \"imap.example.com\"\ntls = \"tsl\"\nusername = \"u\"\npassword_env = \"NOPE_NOT_SET_X\"\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknown, []byte("[server]\nlistn = \"x\"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{[]string{"capture"}, []string{"--once"}},
		{[]string{"token", "create"}, []string{"--name is required"}},
		{[]string{"migrate", "--config", bad}, []string{`mailbox[0] "support".tls`, "tsl", "NOPE_NOT_SET_X"}},
		{[]string{"migrate", "--config", unknown}, []string{"listn"}},
		{[]string{"migrate", "--config", filepath.Join(dir, "missing.toml")}, []string{"missing.toml"}},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, nil, &out, &errb)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.args, err, w)
			}
		}
	}
}

// TestTokenCreateAndMigrate: migrate creates the schema; token create prints
// a token once; the database holds only its hash.
func TestTokenCreateAndMigrate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	db := filepath.Join(dir, "d.db")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n", db, filepath.Join(dir, "blobs"))), 0o600)
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !strings.Contains(out.String(), "schema version") {
		t.Errorf("migrate output: %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"token", "create", "--name", "ci", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(out.String())
	if !strings.HasPrefix(tok, "sdk_") || len(tok) < 40 {
		t.Fatalf("token %q", tok)
	}
	for _, f := range []string{db, db + "-wal"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(strings.TrimPrefix(tok, "sdk_"))) {
			t.Errorf("%s holds the plaintext token", f)
		}
	}
}

// TestDoctor: one line per check, naming the config file it read; on a
// fresh install the missing database is a note (serve creates it) and
// doctor creates no file; a mailbox with a wrong password fails and the
// good one still checks out.
func TestDoctor(t *testing.T) {
	srv, err := demo.StartIMAP(context.Background(), demo.IMAPOptions{Addr: "127.0.0.1:0", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	host, port, _ := strings.Cut(srv.Addr, ":")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	t.Setenv("DOCTOR_GOOD_PW", "right")
	t.Setenv("DOCTOR_BAD_PW", "wrong")
	box := func(name, env string) string {
		return fmt.Sprintf("[[mailbox]]\nname = %q\naddress = %q\nhost = %q\nport = %s\ntls = \"none\"\npassword_env = %q\n", name, demo.Username, host, port, env)
	}
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n", filepath.Join(dir, "d.db"), filepath.Join(dir, "b"))+box("good", "DOCTOR_GOOD_PW")+box("bad", "DOCTOR_BAD_PW")), 0o600)
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"doctor", "--config", cfg}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "1 check(s) failed") {
		t.Errorf("doctor error %v, want 1 failed check (the bad mailbox)", err)
	}
	lines := out.String()
	for _, want := range []string{"ok    config " + cfg, "not created yet: `sidedesk serve`", "ok    mailbox good", "FAIL  mailbox bad", "check password_env DOCTOR_BAD_PW"} {
		if !strings.Contains(lines, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, lines)
		}
	}
	if strings.Contains(lines, "wrong") {
		t.Errorf("doctor output shows the password:\n%s", lines)
	}
	for _, f := range []string{filepath.Join(dir, "d.db"), filepath.Join(dir, "b"), filepath.Join(dir, "secret.key")} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("doctor created %s on a fresh install", f)
		}
	}
	// Once the database exists, doctor checks it.
	if err := run(context.Background(), []string{"migrate", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	_ = run(context.Background(), []string{"doctor", "--config", cfg}, nil, &out, &errb)
	if !strings.Contains(out.String(), "ok    database "+filepath.Join(dir, "d.db")) {
		t.Errorf("doctor after migrate:\n%s", out.String())
	}
}

// TestUserAddAndCRMImport: agents are added with a password from stdin or a
// generated one (printed once, stored hashed); a CRM CSV imports its good
// rows and names each refused row with its number and reason.
func TestUserAddAndCRMImport(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	db := filepath.Join(dir, "d.db")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n", db, filepath.Join(dir, "b"))), 0o600)
	cli := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append(args, "--config", cfg), strings.NewReader(stdin), &out, &errb)
		return out.String(), err
	}
	if _, err := cli("short\n", "user", "add", "--email", "a@acme.example", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "at least 10") {
		t.Errorf("short password: %v", err)
	}
	if out, err := cli("correct horse battery\n", "user", "add", "--email", "A@acme.example", "--role", "admin", "--password-stdin"); err != nil || !strings.Contains(out, "a@acme.example (admin)") {
		t.Errorf("user add: %q, %v", out, err)
	}
	if _, err := cli("correct horse battery\n", "user", "add", "--email", "a@acme.example", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate user: %v", err)
	}
	out, err := cli("", "user", "add", "--email", "b@acme.example", "--generate-password")
	pw := regexp.MustCompile(`password \(shown once\): (\S+)`).FindStringSubmatch(out)
	if err != nil || pw == nil {
		t.Fatalf("generated password: %q, %v", out, err)
	}
	if b, _ := os.ReadFile(db); bytes.Contains(b, []byte(pw[1])) {
		t.Errorf("the database holds the plaintext password")
	}
	if _, err := cli("", "user", "add", "--email", "c@acme.example", "--role", "boss"); err == nil || !strings.Contains(err.Error(), `--role "boss"`) {
		t.Errorf("bad role: %v", err)
	}

	csvPath := filepath.Join(dir, "contacts.csv")
	os.WriteFile(csvPath, []byte("First Name,Last Name,Email,Phone\r\nAnn,Lee,ann@globex.example,+1 555\r\nBob,Bad,not-an-email,\r\nCid,Ok,cid@initech.example,\r\n"), 0o600)
	errCSV := filepath.Join(dir, "refused.csv")
	out, err = cli("", "crm", "import", "--object", "contact", csvPath, "--errors", errCSV)
	// The good rows are kept; a refused row makes the exit status fail.
	if err == nil || !strings.Contains(err.Error(), "1 of 3 rows refused") || !strings.Contains(out, "3 rows: 2 inserted") || !strings.Contains(out, "row 3") {
		t.Errorf("crm import: %q, %v", out, err)
	}
	if b, err := os.ReadFile(errCSV); err != nil || !bytes.Contains(b, []byte("not-an-email")) {
		t.Errorf("refused rows file: %q, %v", b, err)
	}
	out, _ = cli("", "crm", "import", "--object", "contact", csvPath)
	if !strings.Contains(out, "0 inserted, 2 updated") {
		t.Errorf("re-import should update, not duplicate: %q, %v", out, err)
	}
	if _, err := cli("", "crm", "import", "--object", "widget", csvPath); err == nil || !strings.Contains(err.Error(), `"widget"`) {
		t.Errorf("bad object: %v", err)
	}
}
