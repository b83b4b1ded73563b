package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

const outboxUsage = "outbox: expected `outbox dead-letters [--consumer C]`, `outbox retry --consumer C (--event N | --all)` or `outbox drop --consumer C --event N`"

// cmdOutbox shows and handles the events an outbox consumer gave up on.
func cmdOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{outboxUsage}
	}
	sub := args[0]
	fs := flags("outbox "+sub, stderr)
	cfgPath := configFlag(fs)
	consumer := fs.String("consumer", "", `the consumer, e.g. "slack:default"`)
	var (
		event *int64
		all   *bool
		limit *int
	)
	switch sub {
	case "dead-letters":
		limit = fs.Int("limit", 100, "list at most this many (1..1000)")
	case "retry":
		event = fs.Int64("event", 0, "the event id of the dead letter to deliver again")
		all = fs.Bool("all", false, "deliver every dead letter of the consumer again")
	case "drop":
		event = fs.Int64("event", 0, "the event id of the dead letter to drop (required)")
	default:
		return usageError{outboxUsage}
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case sub != "dead-letters" && *consumer == "":
		return usageError{"outbox " + sub + ": --consumer is required (see `sidedesk outbox dead-letters`)"}
	case sub == "retry" && (*event == 0) == !*all:
		return usageError{"outbox retry: give exactly one of --event N and --all"}
	case sub == "drop" && *event <= 0:
		return usageError{"outbox drop: --event N is required"}
	case sub == "dead-letters" && (*limit < 1 || *limit > 1000):
		return usageError{fmt.Sprintf("outbox dead-letters: --limit %d: want 1..1000", *limit)}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	switch sub {
	case "retry":
		n, err := a.store.RedeliverDeadLetters(ctx, *consumer, *event)
		if errors.Is(err, ticket.ErrNotFound) {
			return fmt.Errorf("outbox retry: %w (see `sidedesk outbox dead-letters`)", err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d dead letter(s) of %s queued for delivery; the running `sidedesk serve` delivers them within its poll interval\n", n, *consumer)
		return nil
	case "drop":
		if err := a.store.DeleteDeadLetter(ctx, *consumer, *event); err != nil {
			return fmt.Errorf("outbox drop: %w", err)
		}
		fmt.Fprintf(stdout, "dropped the dead letter of event %d of %s\n", *event, *consumer)
		return nil
	}
	dls, err := a.store.DeadLetters(ctx, *consumer, *limit)
	if err != nil {
		return err
	}
	if len(dls) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tEVENT\tTYPE\tTICKET\tATTEMPTS\tDEAD SINCE\tSTATE\tLAST ERROR")
	for _, d := range dls {
		state := "dead"
		if d.Redeliver {
			state = "retry queued"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n", d.Consumer, d.Event.ID, d.Event.Type, d.Event.TicketID,
			d.Attempts, d.DeadAt.UTC().Format(time.RFC3339), state, oneLine(d.LastError, 200))
	}
	return tw.Flush()
}

// oneLine is s on one line (a table cell), cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
