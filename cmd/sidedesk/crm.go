package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/crm/salesforce"
	"github.com/sidedesk/sidedesk/store"
)

// openCRM opens the local CRM connector on the app's database (imports
// and the demo write it) and the connector the sidebar asks: the local
// one, or Salesforce when [crm] kind = "salesforce". The demo treats
// example.com as free mail (its sample customers write from there).
func (a *app) openCRM(demo bool) error {
	opts := store.LocalCRMOptions{Logger: a.log.With("component", "crm")}
	if demo {
		opts.FreeMailDomains = crm.DemoFreeMailDomains()
	}
	l, err := a.store.NewLocalCRM(opts)
	if err != nil {
		return err
	}
	if a.crm != nil {
		a.crm.Close()
	}
	a.crm, a.conn = l, l
	if demo {
		return nil
	}
	return a.openSalesforce()
}

// openSalesforce builds the Salesforce connector when [crm] kind says so.
func (a *app) openSalesforce() error {
	if a.cfg.CRM.Kind != config.CRMSalesforce {
		return nil
	}
	c := a.cfg.CRM
	secret, err := c.ClientSecret().Resolve(a.cfg.Getenv)
	if err != nil {
		return fmt.Errorf("config: crm.client_secret: %w", err)
	}
	opts := salesforce.Options{
		LoginURL: c.LoginURL, ClientID: c.ClientID, ClientSecret: secret,
		RedirectURL: strings.TrimRight(a.cfg.Server.PublicURL, "/") + "/sidebar/crm/callback",
		APIVersion:  c.APIVersion, Store: a.store, Key: subkey(a.secret, "crm-tokens"),
		ServiceAgent: c.ServiceAgent, CacheTTL: cacheTTL(c.CacheTTL),
		Saved: a.store, SaveAs: c.SaveEmailAs,
		ContactEmailFields: c.ContactEmailFields, LeadEmailFields: c.LeadEmailFields,
		Logger: a.log.With("component", "crm", "crm", "salesforce"),
	}
	if c.JWTUsername != "" {
		key, err := c.JWTKey().Resolve(a.cfg.Getenv)
		if err != nil {
			return fmt.Errorf("config: crm.jwt_key: %w", err)
		}
		opts.JWT = &salesforce.JWTOptions{Username: c.JWTUsername, KeyPEM: []byte(key)}
	}
	if c.MaxAttachmentMB > 0 {
		opts.Blobs, opts.MaxAttachmentBytes = a.store.Blobs(), int64(c.MaxAttachmentMB)<<20
	}
	sf, err := salesforce.New(opts)
	if err != nil {
		return err
	}
	a.sf, a.conn = sf, sf
	return nil
}

// cacheTTL maps the config's 0 (no cache) to the connector's negative.
func cacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// crmTier is the ticket service's Tier hook: the tier of the requester's
// account in the CRM, "" when unknown. A CRM failure must not stop capture:
// it is logged and the ticket simply gets no tier-based priority.
func (a *app) crmTier(ctx context.Context, tenant, email string) string {
	// Salesforce accounts carry no tier (no field is mapped to one), so a
	// look-up there would cost every captured mail a round of API
	// requests for nothing: the tier comes from the local CRM only.
	if a.crm == nil || a.sf != nil {
		return ""
	}
	tier, err := a.crm.Tier(ctx, tenant, email)
	if err != nil {
		a.log.Warn("crm: tier look-up failed", "tenant", tenant, "err", err)
		return ""
	}
	return tier
}

// crmAccounts gives the Slack alert the requester's account name.
type crmAccounts struct{ c crm.Connector }

func (c crmAccounts) AccountName(ctx context.Context, tenant, email string) (string, error) {
	m, err := c.c.Match(ctx, tenant, email)
	if errors.Is(err, crm.ErrNotConnected) {
		return "", nil // Salesforce without a connected service agent
	}
	if err != nil {
		return "", err
	}
	if len(m.Accounts) == 0 {
		return "", nil
	}
	return m.Accounts[0].Name, nil
}

func cmdCRM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		return usageError{"crm: expected `crm import --object account|contact|lead|opportunity FILE.csv`"}
	}
	fs := flags("crm import", stderr)
	cfgPath := configFlag(fs)
	object := fs.String("object", "", "what the rows are: account, contact, lead or opportunity (required)")
	mapping := fs.String("map", "", "column=field pairs overriding the header mapping, e.g. \"E-Mail=email,Firma=company\"; field \"-\" ignores a column")
	tenant := fs.String("tenant", "default", "tenant the records belong to")
	source := fs.String("source", "csv", "source name of the records' external ids (upsert key)")
	errorsOut := fs.String("errors", "", "write the refused rows as CSV to this file (row,column,field,value,reason)")
	// The file is the one positional argument, anywhere among the flags.
	var files []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return usageError{fmt.Sprintf("crm import: %v", err)}
		}
		if fs.NArg() == 0 {
			break
		}
		files, rest = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) != 1 {
		return usageError{fmt.Sprintf("crm import: name exactly one CSV file (got %d)", len(files))}
	}
	file := files[0]
	obj := crm.Object(*object)
	switch obj {
	case crm.ObjAccount, crm.ObjContact, crm.ObjLead, crm.ObjOpportunity:
	default:
		return usageError{fmt.Sprintf("crm import: --object %q: want account, contact, lead or opportunity", *object)}
	}
	m, err := crm.ParseMap(*mapping)
	if err != nil {
		return usageError{fmt.Sprintf("crm import: --map: %v", err)}
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("crm import: %w", err)
	}
	defer f.Close()
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.sf != nil {
		return fmt.Errorf("crm import: [crm] kind is \"salesforce\": the sidebar reads Salesforce, so records imported into sidedesk's local CRM would never show; import them into Salesforce (Data Import Wizard or Data Loader), or set kind = \"local\"")
	}
	rep, err := crm.Import(ctx, a.crm, *tenant, obj, f, crm.ImportOptions{Map: m, Source: *source, Progress: crm.ProgressBar(stderr)})
	if err != nil {
		return fmt.Errorf("crm import %s: %w", file, err)
	}
	fmt.Fprintf(stdout, "%s: %d rows: %d inserted, %d updated, %d skipped, %d refused\n", file, rep.Rows, rep.Inserted, rep.Updated, rep.Skipped, rep.Failed)
	if len(rep.Ignored) > 0 {
		fmt.Fprintf(stdout, "columns not imported: %s\n", strings.Join(rep.Ignored, ", "))
	}
	for i, e := range rep.Errors {
		if i == 20 {
			fmt.Fprintf(stdout, "... and %d more refused rows", rep.Failed-20)
			if *errorsOut == "" {
				fmt.Fprint(stdout, " (--errors FILE writes them all)")
			}
			fmt.Fprintln(stdout)
			break
		}
		fmt.Fprintln(stdout, e.String())
	}
	if *errorsOut != "" && rep.Failed > 0 {
		ef, err := os.Create(*errorsOut)
		if err != nil {
			return fmt.Errorf("crm import: --errors: %w", err)
		}
		if err := errors.Join(rep.WriteErrors(ef), ef.Close()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "refused rows written to %s\n", *errorsOut)
	}
	if rep.Failed > 0 {
		// The good rows are kept; the exit status tells a script that
		// some were not.
		return fmt.Errorf("crm import %s: %d of %d rows refused (see above)", file, rep.Failed, rep.Rows)
	}
	return nil
}
