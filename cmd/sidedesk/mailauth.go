package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/internal/mailauth"
	"github.com/sidedesk/sidedesk/internal/seal"
	"github.com/sidedesk/sidedesk/sidebar"
)

// mailAuth is the token source of a mailbox that logs in by XOAUTH2 with
// refreshed tokens (oauth_client_id), made once per process and shared by
// its IMAP source, Sent-folder source and SMTP transport; nil otherwise.
func (a *app) mailAuth(mb config.Mailbox) (*mailauth.Source, error) {
	if !mb.UsesOAuth() {
		return nil, nil
	}
	if s := a.mailAuths.Find(mb.Tenant, mb.Name); s != nil {
		return s, nil
	}
	box, err := seal.New(subkey(a.secret, "mailbox-oauth"))
	if err != nil {
		return nil, err
	}
	s, err := mailauth.New(mailauth.Options{
		Tenant: mb.Tenant, Mailbox: mb.Name, Provider: mb.OAuthProvider, AzureTenant: mb.OAuthTenant,
		Grant: mb.OAuthGrant, ClientID: mb.OAuthClientID,
		ClientSecret: a.secretFunc(mb.OAuthClientSecret()), RefreshToken: a.secretFunc(mb.OAuthRefreshToken()),
		AuthURL: mb.OAuthAuthURL, TokenURL: mb.OAuthTokenURL, Scopes: mb.OAuthScopes,
		ConnectHint: strings.TrimSuffix(a.cfg.Server.PublicURL, "/") + "/sidebar/mailboxes",
		Store:       a.store, Seal: box,
		Logger: a.log.With("mailbox", mb.Name),
	})
	if err != nil {
		return nil, err
	}
	a.mailAuths = append(a.mailAuths, s)
	return s, nil
}

// mailAuthSources makes the token source of every mailbox that has one
// (the panel's "Connect" page lists them).
func (a *app) mailAuthSources() (mailauth.Sources, error) {
	for _, mb := range a.cfg.Mailboxes {
		if _, err := a.mailAuth(mb); err != nil {
			return nil, err
		}
	}
	return a.mailAuths, nil
}

// mailOAuthHealth is /healthz's mailbox_oauth entry.
type mailOAuthHealth struct {
	Mailbox string `json:"mailbox"`
	mailauth.Health
}

// checkMailAuth is doctor's line for a mailbox's OAuth: a token now.
func (a *app) checkMailAuth(ctx context.Context, mb config.Mailbox) (string, error) {
	s, err := a.mailAuth(mb)
	if err != nil || s == nil {
		return "", err
	}
	if _, err := s.Token(ctx); err != nil {
		return "", err
	}
	h := s.Health()
	return fmt.Sprintf("%s grant, token valid until %s", h.Grant, h.Expires.Format("15:04:05 MST")), nil
}

// mailboxPanel connects OAuth mailboxes from the panel (sidebar.MailboxConnector).
type mailboxPanel struct{ sources mailauth.Sources }

func (p mailboxPanel) MailboxAuths(tenant string) []sidebar.MailboxAuthState {
	var out []sidebar.MailboxAuthState
	for _, s := range p.sources {
		if s.Tenant() != tenant {
			continue
		}
		h := s.Health()
		out = append(out, sidebar.MailboxAuthState{Name: s.Mailbox(), Grant: h.Grant, OK: h.OK, Error: h.Error,
			Refreshed: h.Refreshed, CanConsent: s.CanConsent()})
	}
	return out
}

func (p mailboxPanel) AuthorizeMailbox(tenant, agent, mailbox, redirectURL string) (string, error) {
	s := p.sources.Find(tenant, mailbox)
	if s == nil {
		return "", sidebar.ErrUnknownMailbox
	}
	return s.AuthorizeURL(agent, redirectURL)
}

func (p mailboxPanel) CompleteMailbox(ctx context.Context, tenant, agent, redirectURL, code, state string) (string, error) {
	name, err := p.sources.Complete(ctx, tenant, agent, redirectURL, code, state)
	if errors.Is(err, mailauth.ErrConsentState) {
		return "", sidebar.ErrMailboxState
	}
	return name, err
}
