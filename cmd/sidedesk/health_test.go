package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/config"
)

// TestHealthDetailsPerTenantWithoutSecretRefs: the details of /healthz
// show the caller's tenant's mailboxes only, and a login error there does
// not name the env variable or file that holds the password.
func TestHealthDetailsPerTenantWithoutSecretRefs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.toml")
	os.WriteFile(path, []byte(fmt.Sprintf(`[database]
path = %q
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "imap.acme.example"
username = "support@acme.example"
password_env = "SUPPORT_IMAP_PASSWORD"
[[mailbox]]
name = "globex-desk"
address = "desk@globex.example"
tenant = "globex"
host = "imap.globex.example"
username = "desk@globex.example"
password_file = %q
`, filepath.Join(dir, "d.db"), filepath.Join(dir, "pw"))), 0o600)
	os.WriteFile(filepath.Join(dir, "pw"), []byte("x"), 0o600)
	cfg, err := config.Load(path, []string{"SUPPORT_IMAP_PASSWORD=x"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), schemaMigrate)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.status.Update("support", func(m *capture.MailboxStatus) {
		m.Kind, m.LastError = "imap", "login failed for support@acme.example: NO: check password_env SUPPORT_IMAP_PASSWORD"
	})
	a.status.Update("globex-desk", func(m *capture.MailboxStatus) { m.Kind, m.Connected = "imap", true })

	_, d := a.health(context.Background(), "default")
	r := d.(healthReport)
	if r.Status != "degraded" || len(r.Mailboxes) != 1 || r.Mailboxes[0].Name != "support" {
		t.Fatalf("default tenant's report %+v: want its one mailbox, degraded", r)
	}
	if e := r.Mailboxes[0].LastError; strings.Contains(e, "SUPPORT_IMAP_PASSWORD") || !strings.Contains(e, "login failed") {
		t.Errorf("last error %q: want the failure without the env variable's name", e)
	}
	_, d = a.health(context.Background(), "globex")
	if r := d.(healthReport); len(r.Mailboxes) != 1 || r.Mailboxes[0].Name != "globex-desk" || r.Status != "degraded" {
		t.Errorf("globex's report %+v: want only its mailbox (the status still counts every tenant)", r)
	}
}
