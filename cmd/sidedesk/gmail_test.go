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
