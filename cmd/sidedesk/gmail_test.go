package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
	"github.com/sidedesk/sidedesk/demo"
	"github.com/sidedesk/sidedesk/store"
)

// TestCaptureOnceGmail: a kind = "gmail" mailbox from the config file, with
// OAuth client secret and refresh token by env reference, captures the demo
// corpus from a server speaking the Gmail REST API, and a second pass
// fetches nothing again.
func TestCaptureOnceGmail(t *testing.T) {
	g := gmailtest.New(gmailtest.Options{User: "support@acme.example", RequireAuth: true, ClientID: "cid", ClientSecret: "csecret", RefreshToken: "rtoken"})
	defer g.Close()
	corpus, err := demo.Mail()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range corpus {
		g.AddMessage("support@acme.example", m.Raw, "INBOX")
	}
	cfg, _ := gmailConfig(t, g, `label_after_capture = "sidedesk/captured"`)

	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"capture", "--once", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatalf("capture --once: %v\n%s", err, errb.String())
	}
	// The corpus has a bounce, an auto-reply and list mail: held, and said.
	if want := fmt.Sprintf("new %d (3 held: 1 auto_reply, 1 bounce, 1 list),", len(corpus)); !strings.Contains(out.String(), want) {
		t.Errorf("first pass %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := run(context.Background(), []string{"capture", "--once", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatalf("second capture --once: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "fetched 0, new 0,") {
		t.Errorf("second pass %q: want nothing fetched again", out.String())
	}
	if strings.Contains(errb.String(), "csecret") || strings.Contains(errb.String(), "rtoken") {
		t.Errorf("a secret reached the log")
	}
	// Without a Pub/Sub topic the mailbox is polled; doctor says how to get push.
	out.Reset()
	if err := run(context.Background(), []string{"doctor", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatalf("doctor: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`(?m)^ok +mailbox gsupport`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^note +mailbox gsupport +polled every 5s: set gmail_pubsub_topic`).MatchString(out.String()) {
		t.Errorf("doctor:\n%s", out.String())
	}
}

// TestServeGmailPush: `sidedesk serve` with gmail_pubsub_topic registers a
// Gmail watch on the topic after its first sync; Gmail's push (the fake,
// publishing as a Pub/Sub push subscription to POST /gmail/push?token=...)
// makes new mail a ticket although history is polled only hourly.
func TestServeGmailPush(t *testing.T) {
	g := gmailtest.New(gmailtest.Options{User: "support@acme.example"})
	defer g.Close()
	t.Setenv("GMAIL_TEST_PUSH", "push-tok")
	cfg, dir := gmailConfig(t, g, `push_token_env = "GMAIL_TEST_PUSH"
gmail_pubsub_topic = "projects/acme-support/topics/gmail-push"
gmail_poll_interval = "1h"`)

	base, _ := startServe(t, cfg)
	g.SetPushURL(base + "/gmail/push?token=push-tok")
	waitFor(t, 20*time.Second, "the Gmail watch", func() bool { return len(g.Watches("me")) == 1 })
	if w := g.Watches("me")[0]; w.TopicName != "projects/acme-support/topics/gmail-push" || strings.Join(w.LabelIDs, ",") != "INBOX" {
		t.Fatalf("watch %+v", w)
	}
	g.AddMessage("me", []byte("From: Anna <anna@globex.example>\r\nTo: support@acme.example\r\nSubject: pushed\r\nMessage-ID: <pushed@globex.example>\r\n\r\nhello\r\n"))
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(dir, "d.db"), BlobDir: filepath.Join(dir, "b")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	waitFor(t, 20*time.Second, "the pushed mail as a ticket", func() bool {
		n, err := st.CountMessages(context.Background(), "default")
		return err == nil && n == 1
	})
}

// gmailConfig writes a config with one gmail mailbox "gsupport" on g (OAuth
// secrets by env reference) plus the extra mailbox keys, listening on a
// free loopback port, and returns its path and directory.
func gmailConfig(t *testing.T, g *gmailtest.Server, extra string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "s.toml")
	t.Setenv("GMAIL_TEST_SECRET", "csecret")
	t.Setenv("GMAIL_TEST_REFRESH", "rtoken")
	err := os.WriteFile(path, []byte(fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
[database]
path = %q
[storage]
blob_dir = %q
[[mailbox]]
name = "gsupport"
kind = "gmail"
address = "support@acme.example"
client_id = "cid"
client_secret_env = "GMAIL_TEST_SECRET"
refresh_token_env = "GMAIL_TEST_REFRESH"
api_base_url = %q
token_url = %q
%s
`, filepath.Join(dir, "d.db"), filepath.Join(dir, "b"), g.URL(), g.TokenURL(), extra)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// TestServeGmailSend: a kind = "gmail" mailbox with gmail_send = true
// acknowledges and answers through users.messages.send (the upload URI)
// of a server speaking the Gmail REST API: both land in the Gmail thread
// of the customer's mail, with the thread's headers; a recipient Gmail
// refuses (400) marks the reply failed with Gmail's text.
func TestServeGmailSend(t *testing.T) {
	g := gmailtest.New(gmailtest.Options{User: "support@acme.example", RequireAuth: true, ClientID: "cid", ClientSecret: "csecret", RefreshToken: "rtoken"})
	defer g.Close()
	cfg, _ := gmailConfig(t, g, "gmail_send = true\nsent_folder = \"SENT\"\ngmail_poll_interval = \"100ms\"\n[ticket]\nack_enabled = true")
	var tokOut, errb bytes.Buffer
	if err := run(context.Background(), []string{"token", "create", "--name", "gs", "--scopes", "tickets:read,tickets:write", "--config", cfg}, nil, &tokOut, &errb); err != nil {
		t.Fatalf("token create: %v\n%s", err, errb.String())
	}
	token := strings.TrimSpace(tokOut.String())
	base, _ := startServe(t, cfg)
	api := func(method, path, body string) (int, map[string]any) { return apiJSON(base, token, method, path, body) }
	// Wait for the mail consumer to have started (it begins at the
	// outbox's end), then the customer writes.
	waitFor(t, 20*time.Second, "the Gmail mailbox's first sync", func() bool { return g.Requests()["messages.list"] > 0 })
	time.Sleep(300 * time.Millisecond)
	first := g.AddMessage("support@acme.example", []byte("From: Cora <cora@customer.example>\r\nTo: support@acme.example\r\n"+
		"Subject: Fax on fire\r\nMessage-ID: <fax@customer.example>\r\nDate: "+time.Now().Format(time.RFC1123Z)+"\r\n\r\nHelp.\r\n"), "INBOX", "UNREAD")
	waitFor(t, 20*time.Second, "the acknowledgement sent through Gmail", func() bool { return len(g.Sent("support@acme.example")) == 1 })
	ack := g.Sent("support@acme.example")[0]
	if ack.ThreadID != first || !bytes.Contains(ack.Raw, []byte("In-Reply-To: <fax@customer.example>")) ||
		!bytes.Contains(ack.Raw, []byte("Auto-Submitted: auto-replied")) {
		t.Errorf("acknowledgement in thread %s (want %s):\n%s", ack.ThreadID, first, ack.Raw)
	}
	code, v := api("POST", "/api/v1/tickets/1/replies", `{"body_text":"The brigade is coming."}`)
	if code != 202 {
		t.Fatalf("reply: %d %v", code, v)
	}
	waitFor(t, 20*time.Second, "the reply sent through Gmail", func() bool { return len(g.Sent("support@acme.example")) == 2 })
	if r := g.Sent("support@acme.example")[1]; r.ThreadID != first || !bytes.Contains(r.Raw, []byte("brigade")) {
		t.Errorf("reply in thread %s (want %s):\n%s", r.ThreadID, first, r.Raw)
	}

	// An agent answers in Gmail itself: the SENT label is captured, the
	// reply joins the ticket as outgoing and sets it pending. Our own two
	// sends in SENT are known by Message-ID and not filed again.
	g.AddMessage("support@acme.example", []byte("From: Ana <support@acme.example>\r\nTo: cora@customer.example\r\n"+
		"Subject: Re: Fax on fire\r\nMessage-ID: <ana-in-gmail@acme.example>\r\nIn-Reply-To: <fax@customer.example>\r\n"+
		"Date: "+time.Now().Format(time.RFC1123Z)+"\r\n\r\nWe are on it, Ana.\r\n"), "SENT")
	waitFor(t, 20*time.Second, "the reply from Gmail on the ticket", func() bool {
		_, l := api("GET", "/api/v1/tickets/1/messages", "")
		msgs, _ := l["messages"].([]any)
		if len(msgs) != 4 {
			return false
		}
		last, _ := msgs[3].(map[string]any)
		return last["direction"] == "outgoing" && last["message_id"] == "ana-in-gmail@acme.example"
	})
	if _, tk := api("GET", "/api/v1/tickets/1", ""); tk["status"] != "pending" {
		t.Errorf("ticket after the agent's Gmail reply: %v, want pending", tk["status"])
	}

	// Gmail refuses the next one outright: the reply is failed, with why.
	g.InjectFault(gmailtest.Fault{Op: "messages.send", Status: 400, Reason: "invalidArgument", Message: "Invalid To header"})
	_, v = api("POST", "/api/v1/tickets/1/replies", `{"body_text":"Again."}`)
	id, _ := v["id"].(float64)
	waitFor(t, 20*time.Second, "the refused reply marked failed", func() bool {
		_, m := api("GET", fmt.Sprintf("/api/v1/messages/%d", int64(id)), "")
		d, _ := m["delivery"].(map[string]any)
		return d["state"] == "failed" && strings.Contains(fmt.Sprint(d["error"]), "Invalid To header")
	})
}
