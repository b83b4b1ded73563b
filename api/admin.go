package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// Admin is what the admin routes need (agents, tokens); *store.Store
// implements it.
type Admin interface {
	Users(ctx context.Context, tenant string) ([]ticket.User, error)
	Tokens(ctx context.Context, tenant string) ([]ticket.Token, error)
	CreateToken(ctx context.Context, tenant, name, hash string, scopes ...string) (ticket.Token, error)
	RevokeToken(ctx context.Context, id int64) (ticket.Token, error)
}

type userJSON struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

// listUsers serves GET /api/v1/users: the tenant's agents (who can be
// assigned tickets).
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.opts.Admin.Users(r.Context(), tenantOf(r))
	if err != nil {
		s.writeStoreError(w, r, "users", err)
		return
	}
	out := struct {
		Users []userJSON `json:"users"`
	}{Users: []userJSON{}}
	for _, u := range users {
		out.Users = append(out.Users, userJSON{Email: u.Email, Name: u.Name, Role: u.Role, Disabled: !u.DisabledAt.IsZero()})
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

type tokenJSON struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	Token      string   `json:"token,omitempty"` // only when created
	CreatedAt  string   `json:"created_at"`
	LastUsedAt *string  `json:"last_used_at"`
	RevokedAt  *string  `json:"revoked_at"`
}

func toTokenJSON(t ticket.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Scopes: append([]string{}, t.Scopes...), CreatedAt: fmtTime(t.CreatedAt),
		LastUsedAt: fmtOptTime(t.LastUsedAt), RevokedAt: fmtOptTime(t.RevokedAt)}
}

// listTokens serves GET /api/v1/tokens (never the tokens themselves).
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	toks, err := s.opts.Admin.Tokens(r.Context(), tenantOf(r))
	if err != nil {
		s.writeStoreError(w, r, "tokens", err)
		return
	}
	out := struct {
		Tokens []tokenJSON `json:"tokens"`
	}{Tokens: []tokenJSON{}}
	for _, t := range toks {
		out.Tokens = append(out.Tokens, toTokenJSON(t))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// postToken serves POST /api/v1/tokens {"name", "scopes"}: 201 with the
// token, shown once.
func (s *Server) postToken(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !s.decodeBody(w, r, 16<<10, "the token", &b) {
		return
	}
	if strings.TrimSpace(b.Name) == "" || len(b.Name) > 200 {
		s.writeError(w, r, http.StatusBadRequest, "invalid_request", "name: required, at most 200 characters (what the token is for)", nil)
		return
	}
	for _, sc := range b.Scopes {
		if !slices.Contains(ticket.AllScopes, sc) {
			s.writeError(w, r, http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("scopes: %q is not a scope (want %s)", sc, strings.Join(ticket.AllScopes, ", ")), nil)
			return
		}
	}
	tok, hash, err := GenerateToken()
	if err != nil {
		s.writeError(w, r, http.StatusInternalServerError, "internal", "internal server error", err)
		return
	}
	t, err := s.opts.Admin.CreateToken(r.Context(), tenantOf(r), strings.TrimSpace(b.Name), hash, b.Scopes...)
	if errors.Is(err, ticket.ErrTokenExists) {
		s.writeError(w, r, http.StatusConflict, "conflict", "name: the tenant has a token of that name; pick another or revoke it", err)
		return
	}
	if err != nil {
		s.writeStoreError(w, r, "token", err)
		return
	}
	out := toTokenJSON(t)
	out.Token = tok
	s.writeJSON(w, r, http.StatusCreated, out)
}

// deleteToken serves DELETE /api/v1/tokens/{id}: the token is revoked
// (it authenticates nothing from the next request on); 204.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	toks, err := s.opts.Admin.Tokens(r.Context(), tenantOf(r))
	if err != nil {
		s.writeStoreError(w, r, "tokens", err)
		return
	}
	if !slices.ContainsFunc(toks, func(t ticket.Token) bool { return t.ID == id }) {
		s.writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("token %d not found", id), nil)
		return
	}
	if _, err := s.opts.Admin.RevokeToken(r.Context(), id); err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("token %d", id), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
