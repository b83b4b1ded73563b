package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
	"github.com/sidedesk/sidedesk/demo"
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
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	t.Setenv("GMAIL_TEST_SECRET", "csecret")
	t.Setenv("GMAIL_TEST_REFRESH", "rtoken")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[database]
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
label_after_capture = "sidedesk/captured"
api_base_url = %q
token_url = %q
`, filepath.Join(dir, "d.db"), filepath.Join(dir, "b"), g.URL(), g.TokenURL())), 0o600)

	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"capture", "--once", "--config", cfg}, nil, &out, &errb); err != nil {
		t.Fatalf("capture --once: %v\n%s", err, errb.String())
	}
	if want := fmt.Sprintf("new %d,", len(corpus)); !strings.Contains(out.String(), want) {
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
}
