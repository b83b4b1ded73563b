// Command sidedesk captures support mailboxes into tickets and serves the
// agent API. Run `sidedesk help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `sidedesk — email-native helpdesk backend

Usage:
  sidedesk serve   [--config FILE]             capture every mailbox continuously and serve HTTP
  sidedesk demo    [--data DIR] [--listen ADDR] [--imap ADDR]
                                               run on embedded defaults with sample mail (no setup)
  sidedesk capture --once [--config FILE] [--mailbox NAME]
                                               one pass over every mailbox, then exit
  sidedesk migrate [--config FILE]             create or upgrade the database schema
  sidedesk token create --name NAME [--tenant T] [--config FILE]
                                               create an API token (printed once, stored hashed)
  sidedesk token list [--tenant T] | revoke ID  list tokens; revoke one (effective on the next request)
  sidedesk oauth client create --name N --scopes S [--redirect-uri U]... [--public] [--tenant T]
                                               register an OAuth 2.0 client (client_id and secret printed once)
  sidedesk oauth client list [--tenant T] | revoke ID [--tenant T]
                                               list OAuth clients; revoke one and every token it holds
  sidedesk user add --email E [--role admin|agent] [--name N] [--password-stdin | --generate-password]
                                               add an agent who signs in to the sidebar panel
  sidedesk user list [--tenant T] | disable|enable --email E | set-role --email E --role R
              | reset-password --email E [--password-stdin | --generate-password]
                                               manage agents (disabling or a new password ends their sessions)
  sidedesk crm import --object account|contact|lead|opportunity FILE.csv [--map col=field,...] [--errors OUT.csv]
                                               import CRM records (upsert), reporting refused rows
  sidedesk calendar sync --once [--config FILE]
                                               sync every agent's free/busy once
  sidedesk calendar feeds | rotate-feed --agent ID
                                               list the free/busy feed URLs; give one agent a new one
  sidedesk outbox dead-letters [--consumer C] | retry --consumer C (--event N | --all) | drop --consumer C --event N
  sidedesk store usage                  blob packs: bytes referenced and reclaimable (also the metric sidedesk_blob_reclaimable_bytes)
  sidedesk store gc [--dry-run] [--min-bytes N]   compact the packs of gone processes (safe while serve runs)
                                               events a consumer (e.g. slack:default) gave up on: list, deliver again, drop
  sidedesk doctor  [--config FILE]             check config, database and each mailbox login
  sidedesk version                             print the version

The config file defaults to $SIDEDESK_CONFIG, else ./sidedesk.toml if it exists, else the
built-in defaults. Every key is documented in sidedesk.example.toml.
`

// defaultMemoryLimit is the Go runtime's soft memory limit when
// GOMEMLIMIT is not set: the collector works harder as the heap nears it
// (at most half the CPU when the live heap is above it, so it can never
// stall the process). A capture's live heap is some 20 MB; with the limit
// a 2,000-mail capture peaks at ~88 MB RSS instead of ~100 MB, at no
// measured cost in time (imapbench, 2,000 and 10,000 mails; README
// "Memory"). GOGC is Go's default (100): at 300, as before, the same
// capture took the same time for 160 MB RSS.
const defaultMemoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // the command's flags were printed
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			// One line with the fix; the whole usage is `sidedesk help`.
			if strings.Contains(err.Error(), "--help") {
				fmt.Fprintf(os.Stderr, "sidedesk: %v\n", err)
			} else {
				fmt.Fprintf(os.Stderr, "sidedesk: %v (see `sidedesk help`)\n", err)
			}
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "sidedesk: %v\n", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run dispatches one command. It returns errors instead of exiting so that
// tests can run commands in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	if len(rest) > 0 && isHelp(rest[0]) && hasSubcommands[cmd] {
		// `sidedesk token --help`: the command's own usage lines, exit 0.
		// Its flags answer --help after the subcommand (`sidedesk token
		// create --help`), as every other command's do.
		if u := commandUsage(cmd); u != "" {
			fmt.Fprint(stdout, u)
			return nil
		}
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "capture":
		return cmdCapture(ctx, rest, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "token":
		return cmdToken(ctx, rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, rest, stdout, stderr)
	case "calendar":
		return cmdCalendar(ctx, rest, stdout, stderr)
	case "user":
		return cmdUser(ctx, rest, stdin, stdout, stderr)
	case "crm":
		return cmdCRM(ctx, rest, stdout, stderr)
	case "outbox":
		return cmdOutbox(ctx, rest, stdout, stderr)
	case "oauth":
		return cmdOAuth(ctx, rest, stdout, stderr)
	case "store":
		return cmdStore(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "sidedesk %s\n", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// hasSubcommands are the commands whose first argument is a subcommand.
var hasSubcommands = map[string]bool{"token": true, "user": true, "crm": true, "calendar": true, "outbox": true, "oauth": true, "store": true}

func isHelp(s string) bool { return s == "--help" || s == "-help" || s == "-h" || s == "help" }

// commandUsage is the part of usage about cmd ("" for an unknown one).
func commandUsage(cmd string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  sidedesk "+cmd+" "):
			in = true
		case strings.HasPrefix(line, "  sidedesk "), !strings.HasPrefix(line, "  "):
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "Usage:\n" + b.String()
}

// flags makes a FlagSet for a command whose errors come back as usageError.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// A mistake is one line with the fix (main); the flags are printed
	// for -h / --help only.
	fs.Usage = func() {}
	return fs
}

// printUsage lists fs's flags (-h / --help).
func printUsage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "Usage of sidedesk %s:\n", fs.Name())
	fs.PrintDefaults()
}

func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the error is returned, one line
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs)
			return err
		}
		return usageError{fmt.Sprintf("%s: %v; `sidedesk %s --help` lists its flags", fs.Name(), err, fs.Name())}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
