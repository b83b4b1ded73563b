package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/internal/sftest"
)

// sfConfig writes a config with [crm] kind = "salesforce" against sf.
func sfConfig(t *testing.T, sf *sftest.Server, secretEnv string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.toml")
	body := fmt.Sprintf(`[database]
path = %q
[storage]
blob_dir = %q
[crm]
kind = "salesforce"
login_url = %q
client_id = %q
client_secret_env = %q
service_agent = "ana@acme.example"
`, filepath.Join(dir, "d.db"), filepath.Join(dir, "blobs"), sf.URL, sf.ClientID, secretEnv)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// doctor checks the connected app against the org; serve's health shows
// the CRM; crm import refuses to write a local CRM nobody reads.
func TestSalesforceConfigured(t *testing.T) {
	sf := sftest.New()
	t.Cleanup(sf.Close)
	t.Setenv("SF_GOOD_SECRET", sf.ClientSecret)
	t.Setenv("SF_BAD_SECRET", "not-the-secret")
	path := sfConfig(t, sf, "SF_GOOD_SECRET")
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--config", path}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"doctor", "--config", path}, nil, &out, &errb); err != nil {
		t.Fatalf("doctor: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "connected app accepted") || !strings.Contains(out.String(), "service agent ana@acme.example has not connected yet") {
		t.Fatalf("doctor output:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	bad := sfConfig(t, sf, "SF_BAD_SECRET")
	err := run(context.Background(), []string{"doctor", "--config", bad}, nil, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "crm.client_secret") {
		t.Fatalf("doctor with a wrong secret: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String()+errb.String(), "not-the-secret") {
		t.Fatal("doctor printed the secret")
	}

	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), schemaMigrate)
	if err != nil {
		t.Fatal(err)
	}
	_, d := a.health(context.Background(), "default")
	r := d.(healthReport)
	if r.CRM == nil || r.CRM.Kind != "salesforce" || len(r.CRM.Connected) != 0 || r.CRM.ServiceAgentConnected {
		t.Fatalf("health CRM %+v", r.CRM)
	}
	a.Close()

	csv := filepath.Join(t.TempDir(), "a.csv")
	os.WriteFile(csv, []byte("name,website\nGlobex,globex.example\n"), 0o600)
	out.Reset()
	err = run(context.Background(), []string{"crm", "import", "--object", "account", "--config", path, csv}, nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "Data Import Wizard") {
		t.Fatalf("crm import with Salesforce: %v", err)
	}
}
