package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sidedesk/sidedesk/oauth"
	"github.com/sidedesk/sidedesk/ticket"
)

// cmdOAuth: `sidedesk oauth client create|list|revoke`.
func cmdOAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "client" {
		return usageError{"oauth: expected `oauth client create --name N --scopes S`, `oauth client list` or `oauth client revoke ID`"}
	}
	args = args[1:]
	if len(args) == 0 {
		return usageError{"oauth client: expected create, list or revoke"}
	}
	switch args[0] {
	case "create":
		return cmdOAuthClientCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return listCommand(ctx, "oauth client list", "clients", args[1:], stdout, stderr, func(a *app, tenant string, tw io.Writer) error {
			srv, err := a.oauthServer()
			if err != nil {
				return err
			}
			cs, err := srv.Clients(ctx, tenant)
			if err != nil {
				return err
			}
			fmt.Fprintln(tw, "CLIENT ID\tTENANT\tNAME\tTYPE\tSCOPES\tREDIRECT URIS\tCREATED\tSTATE")
			for _, c := range cs {
				kind, state := "confidential", "active"
				if c.Public() {
					kind = "public"
				}
				if !c.RevokedAt.IsZero() {
					state = "revoked " + stamp(c.RevokedAt)
				}
				redirects := strings.Join(c.RedirectURIs, " ")
				if redirects == "" {
					redirects = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Tenant, c.Name, kind,
					strings.Join(c.Scopes, ","), redirects, stamp(c.CreatedAt), state)
			}
			return nil
		})
	case "revoke":
		return cmdOAuthClientRevoke(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("oauth client: unknown subcommand %q: want create, list or revoke", args[0])}
}

// setupOAuth opens the app and its authorization server.
func setupOAuth(ctx context.Context, cfgPath string, stderr io.Writer) (*app, *oauth.Server, error) {
	a, err := setup(ctx, cfgPath, stderr, schemaMigrate)
	if err != nil {
		return nil, nil, err
	}
	srv, err := a.oauthServer()
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, srv, nil
}

// repeated is a flag that may be given more than once.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error {
	*r = append(*r, v)
	return nil
}

func cmdOAuthClientCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("oauth client create", stderr)
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "what the client is (required), e.g. \"Zapier\"; shown on the consent page")
	tenant := fs.String("tenant", ticket.DefaultTenant, "tenant the client belongs to")
	scopeList := fs.String("scopes", "", "the most the client may be granted, comma- or space-separated (required): "+
		strings.Join(ticket.AllScopes, ", "))
	var redirects repeated
	fs.Var(&redirects, "redirect-uri", "a redirect URI of the code flow (repeatable; exact match). Without one the client may use only the client credentials grant")
	public := fs.Bool("public", false, "a native or browser app that cannot keep a secret: no secret, code flow with PKCE only")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"oauth client create: --name is required"}
	}
	var scopes []string
	for _, sc := range strings.FieldsFunc(*scopeList, func(r rune) bool { return r == ',' || r == ' ' }) {
		if !slices.Contains(ticket.AllScopes, sc) {
			return usageError{fmt.Sprintf("oauth client create: --scopes: %q is not a scope (want %s)", sc, strings.Join(ticket.AllScopes, ", "))}
		}
		scopes = append(scopes, sc)
	}
	if len(scopes) == 0 {
		return usageError{"oauth client create: --scopes is required, e.g. --scopes tickets:read,tickets:write"}
	}
	if *public && len(redirects) == 0 {
		return usageError{"oauth client create: a --public client needs at least one --redirect-uri"}
	}
	a, srv, err := setupOAuth(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	c, secret, err := srv.CreateClient(ctx, oauth.NewClient{Tenant: *tenant, Name: *name, Scopes: scopes,
		RedirectURIs: redirects, Public: *public})
	switch {
	case errors.Is(err, oauth.ErrExists):
		return fmt.Errorf("oauth client create: tenant %q has a client named %q already; pick another --name, or `sidedesk oauth client revoke ID` the old one (see `sidedesk oauth client list`)", *tenant, *name)
	case errors.Is(err, ticket.ErrInvalid):
		return usageError{"oauth client create: " + strings.TrimPrefix(err.Error(), "oauth: invalid: ")}
	case err != nil:
		return err
	}
	base := strings.TrimRight(a.cfg.Server.PublicURL, "/")
	if base == "" {
		base = "http://" + a.cfg.Server.Listen
	}
	fmt.Fprintf(stderr, "OAuth client %q for tenant %q (scopes %s) created. Token endpoint %s%s, metadata %s%s.\n",
		c.Name, c.Tenant, strings.Join(c.Scopes, ","), base, oauth.PathToken, base, oauth.PathMetadata)
	fmt.Fprintf(stdout, "client_id=%s\n", c.ID)
	if secret != "" {
		fmt.Fprintf(stderr, "The secret is shown once and stored only as a hash:\n")
		fmt.Fprintf(stdout, "client_secret=%s\n", secret)
	}
	return nil
}

func cmdOAuthClientRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("oauth client revoke", stderr)
	cfgPath := configFlag(fs)
	tenant := fs.String("tenant", ticket.DefaultTenant, "tenant the client belongs to")
	ids, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 || !strings.HasPrefix(ids[0], oauth.ClientIDPrefix) {
		return usageError{"oauth client revoke: give one client ID (sdc_..., see `sidedesk oauth client list`)"}
	}
	a, srv, err := setupOAuth(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := srv.RevokeClient(ctx, *tenant, ids[0]); errors.Is(err, oauth.ErrNotFound) {
		return fmt.Errorf("oauth client revoke: tenant %q has no client %s (see `sidedesk oauth client list`)", *tenant, ids[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "client %s revoked; its tokens stop working on their next use\n", ids[0])
	return nil
}
