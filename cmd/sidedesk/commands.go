package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sidedesk/sidedesk/api"
	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/capture/gmailsource"
	"github.com/sidedesk/sidedesk/capture/imapsource"
	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/ticket"
)

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default $SIDEDESK_CONFIG, else ./sidedesk.toml when present, else built-in defaults)")
}

// loadConfig resolves the config path and loads it with the process env.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(configPath(path), os.Environ())
}

// configPath is the config file to read: --config, else $SIDEDESK_CONFIG,
// else ./sidedesk.toml when it exists; "" for the built-in defaults.
func configPath(path string) string {
	if path == "" {
		path = os.Getenv("SIDEDESK_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("sidedesk.toml"); err == nil {
			path = "sidedesk.toml"
		}
	}
	return path
}

// setup loads the config, builds the logger and opens the app.
func setup(ctx context.Context, cfgPath string, stderr io.Writer, mode schemaMode) (*app, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	return openApp(ctx, cfg, newLogger(cfg.Log, stderr), mode)
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("migrate", stderr)
	cfgPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	cur, _, err := a.store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s is at schema version %d\n", a.cfg.Database.Path, cur)
	return nil
}

func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"token: expected `token create --name NAME`, `token list` or `token revoke ID`"}
	}
	switch args[0] {
	case "create":
		return cmdTokenCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return cmdTokenList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return cmdTokenRevoke(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("token: unknown subcommand %q: want create, list or revoke", args[0])}
}

func cmdTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("token create", stderr)
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "what the token is for (required), e.g. \"zapier\"")
	tenant := fs.String("tenant", ticket.DefaultTenant, "tenant the token may read")
	scopeList := fs.String("scopes", strings.Join(ticket.DefaultScopes, ","),
		"what the token may do, comma-separated: "+strings.Join(ticket.AllScopes, ", ")+" (admin: everything)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageError{"token create: --name is required"}
	}
	var scopes []string
	for _, sc := range strings.Split(*scopeList, ",") {
		if sc = strings.TrimSpace(sc); sc == "" {
			continue
		}
		if !slices.Contains(ticket.AllScopes, sc) {
			return usageError{fmt.Sprintf("token create: --scopes: %q is not a scope (want %s)", sc, strings.Join(ticket.AllScopes, ", "))}
		}
		scopes = append(scopes, sc)
	}
	if len(scopes) == 0 {
		return usageError{"token create: --scopes is empty; give at least one, e.g. tickets:read"}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	tok, err := createToken(ctx, a, *tenant, *name, scopes...)
	if errors.Is(err, ticket.ErrTokenExists) {
		return fmt.Errorf("token create: tenant %q has a token named %q already; pick another --name, or `sidedesk token revoke ID` the old one (see `sidedesk token list`)", *tenant, *name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token %q for tenant %q (scopes %s) created; it is shown once and stored only as a hash:\n",
		*name, *tenant, strings.Join(scopes, ","))
	fmt.Fprintln(stdout, tok)
	return nil
}

// listCommand runs a `... list [--tenant T]` command: table writes the
// rows of what (the noun in the flag's help) for tenant ("" for every
// tenant) under a header.
func listCommand(ctx context.Context, name, what string, args []string, stdout, stderr io.Writer,
	table func(a *app, tenant string, tw io.Writer) error) error {
	fs := flags(name, stderr)
	cfgPath := configFlag(fs)
	tenant := fs.String("tenant", "", "only this tenant's "+what+" (default: every tenant's)")
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if err := table(a, *tenant, tw); err != nil {
		return err
	}
	return tw.Flush()
}

func cmdTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand(ctx, "token list", "tokens", args, stdout, stderr, func(a *app, tenant string, tw io.Writer) error {
		toks, err := a.store.Tokens(ctx, tenant)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "ID\tTENANT\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATE")
		for _, t := range toks {
			state := "active"
			if !t.RevokedAt.IsZero() {
				state = "revoked " + stamp(t.RevokedAt)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Tenant, t.Name, strings.Join(t.Scopes, ","),
				stamp(t.CreatedAt), stamp(t.LastUsedAt), state)
		}
		return nil
	})
}

// parseWithArgs parses flags that may come before or after the
// positional arguments (`revoke ID --config F`), which it returns.
func parseWithArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		out := fs.Output()
		fs.SetOutput(io.Discard) // the error is returned, one line
		err := fs.Parse(args)
		fs.SetOutput(out)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(fs)
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%s: %v; `sidedesk %s --help` lists its flags", fs.Name(), err, fs.Name())}
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	return pos, nil
}

// stamp shows a time in lists; "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func cmdTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("token revoke", stderr)
	cfgPath := configFlag(fs)
	ids, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return usageError{"token revoke: give one token ID (see `sidedesk token list`)"}
	}
	id, err := strconv.ParseInt(ids[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError{fmt.Sprintf("token revoke: %q is not a token ID (a number from `sidedesk token list`)", ids[0])}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	tok, err := a.store.RevokeToken(ctx, id)
	if errors.Is(err, ticket.ErrNotFound) {
		return fmt.Errorf("token revoke: no token with ID %d (see `sidedesk token list`)", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d (%q, tenant %q) revoked: it authenticates nothing from the next request on\n", id, tok.Name, tok.Tenant)
	return nil
}

func createToken(ctx context.Context, a *app, tenant, name string, scopes ...string) (string, error) {
	tok, hash, err := api.GenerateToken()
	if err != nil {
		return "", err
	}
	if _, err := a.store.CreateToken(ctx, tenant, name, hash, scopes...); err != nil {
		return "", err
	}
	return tok, nil
}

func cmdCapture(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("capture", stderr)
	cfgPath := configFlag(fs)
	once := fs.Bool("once", false, "one pass over every mailbox, then exit (required; sidedesk serve captures continuously)")
	only := fs.String("mailbox", "", "capture only this mailbox")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*once {
		return usageError{"capture: only --once is supported; use `sidedesk serve` to capture continuously"}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	srcs, err := a.sources(ctx)
	if err != nil {
		return err
	}
	if *only != "" {
		s, ok := srcs[*only]
		if !ok {
			return fmt.Errorf("capture: no enabled mailbox named %q in the config", *only)
		}
		srcs = map[string]source{*only: s}
	}
	if len(srcs) == 0 {
		return errors.New("capture: no enabled [[mailbox]] in the config: nothing to capture (see sidedesk.example.toml)")
	}
	var failed []string
	for _, name := range sortedKeys(srcs) {
		start := time.Now()
		stats, err := onceStats(ctx, srcs[name])
		if err != nil {
			fmt.Fprintln(stderr, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(stdout, "mailbox %s: %s in %s\n", name, stats, time.Since(start).Round(time.Millisecond))
	}
	if len(failed) > 0 {
		return fmt.Errorf("capture failed for mailbox %s", strings.Join(failed, ", "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("doctor", stderr)
	cfgPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer w.Flush()
	bad := 0
	line := func(what string, err error) {
		if err != nil {
			bad++
			fmt.Fprintf(w, "FAIL\t%s\t%v\n", what, err)
			return
		}
		fmt.Fprintf(w, "ok\t%s\t\n", what)
	}
	file := configPath(*cfgPath)
	what := "config " + file
	if file == "" {
		what = "config (no file: the built-in defaults)"
	}
	cfg, err := config.Load(file, os.Environ())
	line(what, err)
	if err != nil {
		w.Flush()
		return fmt.Errorf("doctor: %d check(s) failed", bad)
	}
	// doctor only looks: on a fresh install the database does not exist
	// yet, and serve creates it. The mailbox checks then run on a
	// throwaway database, so nothing is written where sidedesk will live.
	dbPath := cfg.Database.Path
	if _, statErr := os.Stat(dbPath); errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintf(w, "note\tdatabase %s\tnot created yet: `sidedesk serve` (or `sidedesk migrate`) creates it\n", dbPath)
		tmp, err := os.MkdirTemp("", "sidedesk-doctor")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		c := *cfg
		c.Database.Path = filepath.Join(tmp, "doctor.db")
		c.Storage.BlobDir = filepath.Join(tmp, "blobs")
		cfg = &c
	}
	a, err := openApp(ctx, cfg, newLogger(config.Log{Level: "error"}, stderr), schemaReport)
	if err == nil && cfg.Database.Path == dbPath {
		if err = a.store.Ping(ctx); err == nil && a.schemaErr != nil {
			if cur, known, verr := a.store.SchemaVersion(ctx); verr == nil && cur < known {
				// Not a failure: serve migrates at start.
				fmt.Fprintf(w, "note\tdatabase %s\tat schema version %d of %d: `sidedesk serve` migrates it at start (or run `sidedesk migrate`)\n",
					dbPath, cur, known)
			} else {
				err = a.schemaErr
			}
		}
		line("database "+dbPath, err)
	} else if err != nil {
		line("database "+dbPath, err)
	}
	if a == nil {
		w.Flush()
		return fmt.Errorf("doctor: %d check(s) failed", bad)
	}
	defer a.Close()
	srcs, err := a.sources(ctx)
	if err != nil {
		line("mailboxes", err)
	}
	for _, name := range sortedKeys(srcs) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := srcs[name].Check(cctx)
		cancel()
		line("mailbox "+name, err)
	}
	if len(srcs) == 0 && err == nil {
		fmt.Fprintf(w, "note\tmailboxes\tnone enabled: nothing will be captured\n")
	}
	for _, mb := range cfg.Mailboxes {
		if !mb.Enabled || !mb.UsesOAuth() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		detail, err := a.checkMailAuth(cctx, mb)
		cancel()
		if err != nil {
			line("mailbox "+mb.Name+" oauth", err)
		} else {
			fmt.Fprintf(w, "ok\tmailbox %s oauth\t%s\n", mb.Name, detail)
		}
	}
	if a.sf != nil && a.schemaErr != nil {
		// No connections table to read yet: the connected app only.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		line("crm salesforce (connected app)", a.sf.CheckApp(cctx))
		cancel()
	} else if a.sf != nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		note, err := a.sf.Check(cctx, ticket.DefaultTenant)
		cancel()
		if err == nil {
			fmt.Fprintf(w, "ok\tcrm salesforce\t%s\n", note)
		} else {
			line("crm salesforce", err)
		}
		sts, err := a.sf.Statuses(ctx)
		if err != nil {
			line("crm connections", err)
		}
		for _, st := range sts {
			if st.State != "connected" {
				fmt.Fprintf(w, "note\tcrm agent %s\tmust reconnect Salesforce from the panel: %s\n", st.Agent, st.LastError)
			}
		}
	}
	for _, mb := range cfg.Mailboxes {
		if mb.Kind == config.KindGmail && mb.Enabled && mb.GmailPubSubTopic == "" {
			fmt.Fprintf(w, "note\tmailbox %s\tpolled every %v: set gmail_pubsub_topic (and push_token_env) for push\n",
				mb.Name, mb.GmailPollInterval)
		}
	}
	w.Flush()
	if bad > 0 {
		return fmt.Errorf("doctor: %d check(s) failed", bad)
	}
	return nil
}

// onceStats runs one capture pass of s and describes what it did.
func onceStats(ctx context.Context, s source) (string, error) {
	switch s := s.(type) {
	case *imapsource.Source:
		st, err := s.Once(ctx)
		return fmt.Sprintf("fetched %d, %s, duplicates %d, %s", st.Fetched, capture.NewWithHeld(st.New, st.Held), st.Duplicates, mib(st.Bytes)), err
	case *gmailsource.Source:
		st, err := s.Once(ctx)
		return fmt.Sprintf("fetched %d, %s, duplicates %d, already captured %d, %s, %d API requests", st.Fetched, capture.NewWithHeld(st.New, st.Held), st.Duplicates, st.Skipped, mib(st.Bytes), st.Requests), err
	}
	return "", fmt.Errorf("capture: unsupported source %T", s)
}

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
