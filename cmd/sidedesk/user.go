package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"

	"golang.org/x/term"

	"github.com/sidedesk/sidedesk/sidebar"
)

// minPasswordLen is the shortest password `user add` accepts from a person.
const minPasswordLen = 10

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"user: expected add, list, disable, enable, reset-password or set-role"}
	}
	switch args[0] {
	case "add":
		return cmdUserAdd(ctx, args, stdin, stdout, stderr)
	case "list":
		return cmdUserList(ctx, args[1:], stdout, stderr)
	case "disable", "enable", "reset-password", "set-role":
		return cmdUserChange(ctx, args[0], args[1:], stdin, stdout, stderr)
	}
	return usageError{fmt.Sprintf("user: unknown subcommand %q: want add, list, disable, enable, reset-password or set-role", args[0])}
}

func cmdUserList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return listCommand(ctx, "user list", "users", args, stdout, stderr, func(a *app, tenant string, tw io.Writer) error {
		users, err := a.store.Users(ctx, tenant)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "TENANT\tEMAIL\tNAME\tROLE\tSTATE")
		for _, u := range users {
			state := "active"
			switch {
			case !u.DisabledAt.IsZero():
				state = "disabled " + stamp(u.DisabledAt)
			case u.PasswordHash == "":
				state = "no password"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Tenant, u.Email, u.Name, u.Role, state)
		}
		return nil
	})
}

// cmdUserChange runs disable, enable, reset-password and set-role.
func cmdUserChange(ctx context.Context, verb string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flags("user "+verb, stderr)
	cfgPath := configFlag(fs)
	email := fs.String("email", "", "the agent's email address (required)")
	tenant := fs.String("tenant", ticket.DefaultTenant, "the agent's tenant")
	var role *string
	var fromStdin, generate *bool
	switch verb {
	case "set-role":
		role = fs.String("role", "", "admin or agent (required)")
	case "reset-password":
		fromStdin = fs.Bool("password-stdin", false, "read the new password from standard input (one line) instead of prompting")
		generate = fs.Bool("generate-password", false, "generate a password and print it once")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"user " + verb + ": --email is required"}
	}
	if role != nil && *role != ticket.RoleAdmin && *role != ticket.RoleAgent {
		return usageError{fmt.Sprintf("user set-role: --role %q: want admin or agent", *role)}
	}
	var pw string
	var generated bool
	if verb == "reset-password" {
		var err error
		if pw, generated, err = readPassword(stdin, stderr, *fromStdin, *generate); err != nil {
			return err
		}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	var done string
	switch verb {
	case "disable":
		err, done = a.store.SetUserDisabled(ctx, *tenant, *email, true), "disabled; their sessions are ended"
	case "enable":
		err, done = a.store.SetUserDisabled(ctx, *tenant, *email, false), "enabled"
	case "set-role":
		err, done = a.store.SetUserRole(ctx, *tenant, *email, *role), "is now "+*role
	case "reset-password":
		var hash string
		if hash, err = sidebar.HashPassword(pw); err == nil {
			err, done = a.store.SetPassword(ctx, *tenant, *email, hash), "has a new password; their sessions are ended"
		}
	}
	if errors.Is(err, ticket.ErrNotFound) {
		return fmt.Errorf("user %s: tenant %q has no user %s (see `sidedesk user list`)", verb, *tenant, *email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s (tenant %q) %s\n", ticket.NormEmail(*email), *tenant, done)
	if generated {
		fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
	}
	return nil
}

func cmdUserAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flags("user add", stderr)
	cfgPath := configFlag(fs)
	email := fs.String("email", "", "the agent's email address, their login (required)")
	role := fs.String("role", ticket.RoleAgent, "admin or agent")
	name := fs.String("name", "", "display name")
	tenant := fs.String("tenant", "default", "tenant the agent works in")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input (one line) instead of prompting")
	generate := fs.Bool("generate-password", false, "generate a password and print it once")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"user add: --email is required"}
	}
	if *role != ticket.RoleAdmin && *role != ticket.RoleAgent {
		return usageError{fmt.Sprintf("user add: --role %q: want admin or agent", *role)}
	}
	pw, generated, err := readPassword(stdin, stderr, *fromStdin, *generate)
	if err != nil {
		return err
	}
	hash, err := sidebar.HashPassword(pw)
	if err != nil {
		return err
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.store.CreateUser(ctx, *tenant, *email, *name, *role, hash)
	if errors.Is(err, ticket.ErrUserExists) {
		return fmt.Errorf("user add: %s already exists in tenant %q", *email, *tenant)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s (%s) added to tenant %q\n", u.Email, u.Role, u.Tenant)
	if generated {
		fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
	}
	return nil
}

// readPassword takes the password from stdin (--password-stdin), a prompt
// on a terminal (asked twice), or generates one (--generate-password, or no
// terminal to ask on).
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin, generate bool) (pw string, generated bool, err error) {
	switch {
	case generate:
		return sidebar.GeneratePassword(), true, nil
	case fromStdin:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("user add: read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	default:
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return sidebar.GeneratePassword(), true, nil
		}
		fmt.Fprint(stderr, "Password: ")
		b1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", false, fmt.Errorf("user add: read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", false, fmt.Errorf("user add: read password: %w", err)
		}
		if string(b1) != string(b2) {
			return "", false, errors.New("user add: the passwords differ")
		}
		pw = string(b1)
	}
	if len(pw) < minPasswordLen {
		return "", false, fmt.Errorf("user add: the password has %d characters; use at least %d (or --generate-password)", len(pw), minPasswordLen)
	}
	return pw, false, nil
}
