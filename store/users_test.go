package store

import (
	"context"
	"errors"
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s := openChatStore(t)
	u, err := s.CreateUser(ctx, "a", " Alice@Example.COM ", "Alice", ticket.RoleAgent, "")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Email != "alice@example.com" || u.CreatedAt.IsZero() {
		t.Fatalf("created %+v", u)
	}
	if _, err := s.CreateUser(ctx, "a", "alice@example.com", "Again", ticket.RoleAdmin, ""); !errors.Is(err, ticket.ErrUserExists) {
		t.Errorf("duplicate email: err = %v, want ticket.ErrUserExists", err)
	}
	// The same email in another tenant is another user.
	if _, err := s.CreateUser(ctx, "b", "alice@example.com", "Alice B", ticket.RoleAdmin, "$argon2id$x"); err != nil {
		t.Errorf("other tenant: %v", err)
	}
	for name, c := range map[string][3]string{
		"bad role":       {"a", "x@example.com", "owner"},
		"bad email":      {"a", "not an email", ticket.RoleAgent},
		"display name":   {"a", "X <x@example.com>", ticket.RoleAgent},
		"no tenant":      {"", "x@example.com", ticket.RoleAgent},
		"empty email":    {"a", "", ticket.RoleAgent},
		"two addresses ": {"a", "x@example.com, y@example.com", ticket.RoleAgent},
	} {
		if _, err := s.CreateUser(ctx, c[0], c[1], "", c[2], ""); !errors.Is(err, ticket.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}

	got, err := s.UserByEmail(ctx, "a", "ALICE@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Errorf("UserByEmail = %+v, want %+v", got, u)
	}
	b, err := s.UserByEmail(ctx, "b", "alice@example.com")
	if err != nil || b.Role != ticket.RoleAdmin || b.PasswordHash != "$argon2id$x" || b.ID == u.ID {
		t.Errorf("tenant b user = %+v, %v", b, err)
	}
	for _, c := range [][2]string{{"a", "bob@example.com"}, {"c", "alice@example.com"}} {
		if _, err := s.UserByEmail(ctx, c[0], c[1]); !errors.Is(err, ticket.ErrNotFound) {
			t.Errorf("UserByEmail(%q, %q): err = %v, want ErrNotFound", c[0], c[1], err)
		}
	}
}
