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

	"github.com/sidedesk/sidedesk/api"
	"github.com/sidedesk/sidedesk/sidebar"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
)

// TestTokenAndUserLifecycle: tokens are listed, a duplicate name is
// refused, a revoked token authenticates nothing; agents are listed,
// disabled (sessions ended, sign-in refused), enabled, given a new password
// and another role.
func TestTokenAndUserLifecycle(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s.toml")
	db := filepath.Join(dir, "d.db")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\npath = %q\n[storage]\nblob_dir = %q\n", db, filepath.Join(dir, "b"))), 0o600)
	cli := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), append(args, "--config", cfg), strings.NewReader(stdin), &out, &errb)
		return out.String(), err
	}
	tok, err := cli("", "token", "create", "--name", "zapier")
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)
	if _, err := cli("", "token", "create", "--name", "zapier"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("duplicate token name: %v, want refused", err)
	}
	if _, err := cli("", "token", "create", "--name", "zapier", "--tenant", "other"); err != nil {
		t.Errorf("the same name in another tenant: %v", err)
	}
	out, err := cli("", "token", "list")
	if err != nil || !regexp.MustCompile(`(?m)^1\s+default\s+zapier\s.*active$`).MatchString(out) || !strings.Contains(out, "other") {
		t.Fatalf("token list:\n%s%v", out, err)
	}
	open := func() *store.Store {
		st, err := store.Open(context.Background(), store.Options{Path: db, BlobDir: filepath.Join(dir, "b")})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	if _, err := st.TokenByHash(context.Background(), api.HashToken(tok)); err != nil {
		t.Fatalf("the new token does not authenticate: %v", err)
	}
	st.Close()
	if out, err := cli("", "token", "revoke", "1"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %q, %v", out, err)
	}
	if _, err := cli("", "token", "revoke", "99"); err == nil || !strings.Contains(err.Error(), "no token with ID 99") {
		t.Errorf("revoke of a missing token: %v", err)
	}
	if _, err := cli("", "token", "revoke", "x"); err == nil || !strings.Contains(err.Error(), "not a token ID") {
		t.Errorf("revoke x: %v", err)
	}
	st = open()
	defer st.Close()
	if _, err := st.TokenByHash(context.Background(), api.HashToken(tok)); err == nil {
		t.Error("a revoked token still authenticates")
	}
	if out, _ := cli("", "token", "list"); !regexp.MustCompile(`(?m)^1\s.*revoked`).MatchString(out) {
		t.Errorf("token list after revoke:\n%s", out)
	}
	if _, err := cli("", "token", "create", "--name", "zapier"); err != nil {
		t.Errorf("a revoked token's name is free again: %v", err)
	}

	// Agents.
	if _, err := cli("correct horse battery\n", "user", "add", "--email", "ana@acme.example", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(context.Background(), "default", "ana@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("ab", 32)
	if _, err := st.CreateSession(context.Background(), "default", u.ID, hash, "csrf", nowPlus(t)); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("", "user", "disable", "--email", "Ana@acme.example"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("user disable: %q, %v", out, err)
	}
	if _, err := st.SessionByHash(context.Background(), hash); err == nil {
		t.Error("disabling left the agent's session")
	}
	if u, _ := st.UserByEmail(context.Background(), "default", "ana@acme.example"); u.DisabledAt.IsZero() {
		t.Error("the user is not disabled")
	}
	if out, _ := cli("", "user", "list"); !regexp.MustCompile(`(?m)^default\s+ana@acme\.example\s.*agent\s+disabled`).MatchString(out) {
		t.Errorf("user list:\n%s", out)
	}
	if _, err := cli("", "user", "enable", "--email", "ana@acme.example"); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("", "user", "set-role", "--email", "ana@acme.example", "--role", "admin"); err != nil || !strings.Contains(out, "admin") {
		t.Errorf("set-role: %q %v", out, err)
	}
	if _, err := cli("", "user", "set-role", "--email", "ana@acme.example", "--role", "boss"); err == nil || !strings.Contains(err.Error(), "admin or agent") {
		t.Errorf("set-role boss: %v", err)
	}
	out, err = cli("", "user", "reset-password", "--email", "ana@acme.example", "--generate-password")
	pw := regexp.MustCompile(`password \(shown once\): (\S+)`).FindStringSubmatch(out)
	if err != nil || pw == nil {
		t.Fatalf("reset-password: %q %v", out, err)
	}
	u, _ = st.UserByEmail(context.Background(), "default", "ana@acme.example")
	if u.Role != ticket.RoleAdmin || !u.DisabledAt.IsZero() || sidebar.VerifyPassword(u.PasswordHash, pw[1]) != nil {
		t.Errorf("after enable, set-role and reset-password: %+v", u)
	}
	if _, err := cli("", "user", "disable", "--email", "nobody@acme.example"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("disable of a missing user: %v", err)
	}
}

func nowPlus(t *testing.T) time.Time { return time.Now().Add(time.Hour) }
