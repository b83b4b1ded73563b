package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/demo"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

// TestHelperServe is not a test: TestWebhooksSurviveKill9 runs the test
// binary again with HELPER_SERVE_ARGS set, and this runs sidedesk in
// that child process, which the test then kills with SIGKILL.
func TestHelperServe(t *testing.T) {
	args := os.Getenv("HELPER_SERVE_ARGS")
	if args == "" {
		t.Skip("only a child process of TestWebhooksSurviveKill9 runs this")
	}
	err := run(context.Background(), strings.Fields(args), nil, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestWebhooksSurviveKill9: a webhook receiver hears of every ticket
// created while `sidedesk serve` is killed with SIGKILL in the middle of
// delivering, and restarted: no event is lost, and one delivered twice
// keeps its webhook-id (at least once, idempotent by id).
func TestWebhooksSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sidedesk processes")
	}
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		ids   = map[int64]string{} // ticket number → webhook-id
		dupes int
		bad   []string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		time.Sleep(15 * time.Millisecond) // a receiver that takes a moment: kills land mid-delivery
		var m struct {
			Type string `json:"type"`
			Data struct {
				TicketNumber int64 `json:"ticket_number"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.Type != "ticket.created" {
			mu.Lock()
			bad = append(bad, string(body))
			mu.Unlock()
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		if prev, ok := ids[m.Data.TicketNumber]; ok {
			dupes++
			if prev != id {
				bad = append(bad, fmt.Sprintf("ticket %d delivered as %s and as %s", m.Data.TicketNumber, prev, id))
			}
		}
		ids[m.Data.TicketNumber] = id
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "s.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n[server]\nlisten = %q\n[webhooks]\nallow_private = true\n",
		filepath.Join(dir, "d.db"), filepath.Join(dir, "b"), addr)), 0o600)
	cli := func(args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		if err := run(context.Background(), append(args, "--config", cfg), nil, &out, &errb); err != nil {
			t.Fatal(err, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	token := cli("token", "create", "--name", "portal", "--scopes", "admin")
	api := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	start := func() *exec.Cmd {
		t.Helper()
		return startChild(t, dir, cfg, func() bool { code, _ := api("GET", "/healthz", ""); return code == 200 })
	}
	kill := killChild
	srv := start()
	if code, body := api("POST", "/api/v1/webhooks", fmt.Sprintf(`{"url":%q,"events":["ticket.created"]}`, rcv.URL+"/hook")); code != 201 {
		t.Fatalf("POST /api/v1/webhooks: %d %s", code, body)
	}
	time.Sleep(6 * time.Second) // the subscription's consumer starts (polled every 5 s)
	const rounds, perRound = 3, 40
	created := 0
	for round := range rounds {
		for range perRound {
			created++
			if code, body := api("POST", "/api/v1/tickets", fmt.Sprintf(`{"requester":{"email":"c%d@customer.example"},"subject":"order %d"}`, created, created)); code != 201 {
				t.Fatalf("POST /api/v1/tickets: %d %s", code, body)
			}
		}
		// Kill it while the receiver is still being fed.
		for {
			mu.Lock()
			n := len(ids)
			mu.Unlock()
			if n >= created-perRound/2 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		kill(srv)
		mu.Lock()
		t.Logf("round %d: killed with %d of %d delivered", round+1, len(ids), created)
		mu.Unlock()
		srv = start()
	}
	t.Cleanup(func() { kill(srv) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n == created {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			var missing []int64
			for i := int64(1); i <= int64(created); i++ {
				if _, ok := ids[i]; !ok {
					missing = append(missing, i)
				}
			}
			mu.Unlock()
			log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			t.Fatalf("after the kills, tickets %v never reached the receiver\n%s", missing, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("bad deliveries: %v", bad)
	}
	t.Logf("%d tickets, all delivered; %d delivered again after a kill, with the same webhook-id", created, dupes)
}

// startChild runs `sidedesk serve --config cfg` in a child process (the
// test binary again, TestHelperServe), its log in dir/serve.log, and waits
// until up says it serves.
func startChild(t *testing.T, dir, cfg string, up func() bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$")
	cmd.Env = append(os.Environ(), "HELPER_SERVE_ARGS=serve --config "+cfg)
	logf, _ := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !up() {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			t.Fatalf("serve did not come up:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd
}

// killChild ends a startChild process with SIGKILL.
func killChild(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

// TestMailSurvivesKill9BetweenSendAndCommit: `sidedesk serve` is killed
// with SIGKILL after the SMTP server has read a reply's DATA and before it
// answered, so the reply is at the server but never recorded as sent. On
// restart it is sent again, once: the same bytes with the same Message-ID
// (which the receiver's dedup absorbs), then recorded sent; never a third
// time (docs: at least once, at most one duplicate per crash).
func TestMailSurvivesKill9BetweenSendAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sidedesk processes")
	}
	imapSrv, err := demo.StartIMAP(context.Background(), demo.IMAPOptions{Addr: "127.0.0.1:0", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	smtpSrv := testenv.StartSMTPServer(t)
	held := make(chan testenv.SMTPMessage, 4)
	release := make(chan struct{})
	smtpSrv.Hold(func(m testenv.SMTPMessage) {
		held <- m
		<-release
	})
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := strings.Cut(imapSrv.Addr, ":")
	t.Setenv("KILL_IMAP_PW", "pw")
	cfg := filepath.Join(dir, "s.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[database]
path = %q
[storage]
blob_dir = %q
[server]
listen = %q
[[mailbox]]
name = "support"
address = "support@acme.example"
host = %q
port = %s
tls = "none"
username = %q
password_env = "KILL_IMAP_PW"
smtp_host = "127.0.0.1"
smtp_port = %d
smtp_tls = "none"
smtp_auth = "none"
`, filepath.Join(dir, "d.db"), filepath.Join(dir, "b"), addr, host, port, demo.Username, smtpSrv.Port())), 0o600)
	var tokOut, errb strings.Builder
	if err := run(context.Background(), []string{"token", "create", "--name", "k", "--scopes", "admin,tickets:read,tickets:write", "--config", cfg}, nil, &tokOut, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	token := strings.TrimSpace(tokOut.String())
	api := func(method, path, body string) (int, map[string]any) {
		return apiJSON("http://"+addr, token, method, path, body)
	}
	// Up, with the mail consumer running (it starts at the outbox's end).
	up := func() bool {
		code, h := api("GET", "/healthz", "")
		d, _ := h["details"].(map[string]any)
		return code == 200 && strings.Contains(fmt.Sprint(d["outbox"]), "mail:default")
	}
	srv := startChild(t, dir, cfg, up)
	code, tk := api("POST", "/api/v1/tickets", `{"requester":{"email":"cora@customer.example","name":"Cora"},"subject":"Invoice"}`)
	if code != 201 {
		t.Fatalf("POST /api/v1/tickets: %d %v", code, tk)
	}
	code, m := api("POST", fmt.Sprintf("/api/v1/tickets/%v/replies", tk["id"]), `{"body_text":"Here it is."}`)
	if code != 202 {
		t.Fatalf("reply: %d %v", code, m)
	}
	var first testenv.SMTPMessage
	select {
	case first = <-held:
	case <-time.After(30 * time.Second):
		log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		t.Fatalf("the reply never reached the server\n%s", log)
	}
	killChild(srv) // the server has the bytes; sidedesk never heard "250"
	smtpSrv.Hold(nil)
	close(release)

	srv = startChild(t, dir, cfg, up)
	t.Cleanup(func() { killChild(srv) })
	waitFor(t, 30*time.Second, "the reply recorded sent after the restart", func() bool {
		_, msg := api("GET", fmt.Sprintf("/api/v1/messages/%v", m["id"]), "")
		d, _ := msg["delivery"].(map[string]any)
		return d["state"] == "sent"
	})
	time.Sleep(500 * time.Millisecond)
	got := smtpSrv.Received()
	if len(got) != 2 {
		t.Fatalf("the server accepted %d copies, want 2 (the one answered to a dead sender, and the resend)", len(got))
	}
	idOf := func(raw []byte) string {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		return msg.Header.Get("Message-Id")
	}
	if idOf(got[0].Raw) != idOf(first.Raw) || idOf(got[1].Raw) != idOf(first.Raw) || !bytes.Equal(got[0].Raw, got[1].Raw) ||
		idOf(first.Raw) != "<"+fmt.Sprint(m["message_id"])+">" {
		t.Errorf("the resend differs: %s / %s / %s (reply %v)", idOf(first.Raw), idOf(got[0].Raw), idOf(got[1].Raw), m["message_id"])
	}

	// Compaction beside the running serve: the killed process's packs are
	// compacted (or kept whole), the live one's left alone, and the reply's
	// stored bytes still read back the same.
	rawBefore := rawOf(t, "http://"+addr, token, m["id"])
	var gcOut, gcErr strings.Builder
	if err := run(context.Background(), []string{"store", "gc", "--config", cfg}, nil, &gcOut, &gcErr); err != nil ||
		!strings.Contains(gcOut.String(), "left alone") {
		t.Fatalf("store gc beside serve: %v %s %s", err, gcOut.String(), gcErr.String())
	}
	if after := rawOf(t, "http://"+addr, token, m["id"]); after != rawBefore || !strings.Contains(after, "Here it is.") {
		t.Errorf("the reply's bytes after gc differ:\n%s\nwant:\n%s", after, rawBefore)
	}
}

// rawOf is GET /api/v1/messages/{id}/raw.
func rawOf(t *testing.T, base, token string, id any) string {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/messages/%v/raw", base, id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET raw %v: %d %s", id, resp.StatusCode, b)
	}
	return string(b)
}
