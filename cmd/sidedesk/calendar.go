package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/sidedesk/sidedesk/calendar"
	"github.com/sidedesk/sidedesk/config"
	"github.com/sidedesk/sidedesk/ticket"
)

// calendarService builds the free/busy service from [calendar], or nil when
// it is disabled.
func (a *app) calendarService() (*calendar.Service, error) {
	c := a.cfg.Calendar
	if !c.Enabled {
		return nil, nil
	}
	agents := make([]calendar.Agent, 0, len(c.Agents))
	// One set of gates for all agents: those on one CalDAV server share its
	// limit of requests in flight.
	gates := calendar.NewServerGates(0)
	for _, ag := range c.Agents {
		loc, err := ag.Location()
		if err != nil {
			return nil, err
		}
		wh, err := ag.Hours()
		if err != nil {
			return nil, err
		}
		hours := make(calendar.WorkingHours, 0, len(wh))
		for _, p := range wh {
			hours = append(hours, calendar.WorkPeriod{Weekday: p.Weekday, Start: p.Start, End: p.End})
		}
		src, err := a.calendarSource(ag, loc, gates)
		if err != nil {
			return nil, err
		}
		agents = append(agents, calendar.Agent{ID: ag.ID, Name: ag.Name, Email: ag.Email, Location: loc, Hours: hours, Source: src})
	}
	return calendar.New(calendar.Options{
		Store:      a.store,
		Agents:     agents,
		Window:     c.Window,
		Interval:   c.SyncInterval,
		FeedSecret: subkey(a.secret, "calendar-feed"),
		Logger:     a.log.With("component", "calendar"),
	})
}

func (a *app) calendarSource(ag config.Agent, loc *time.Location, gates *calendar.ServerGates) (calendar.Source, error) {
	switch ag.Source {
	case "google":
		opts := calendar.GoogleOptions{
			CalendarIDs: ag.GoogleCalendarIDs,
			ClientID:    ag.ClientID,
			Subject:     ag.Email,
			BaseURL:     ag.APIBaseURL,
			TokenURL:    ag.TokenURL,
			Logger:      a.log.With("agent", ag.ID),
		}
		var err error
		if ag.GoogleAuth == "service_account" {
			if opts.CredentialsJSON, err = os.ReadFile(ag.CredentialsFile); err != nil {
				return nil, fmt.Errorf("calendar.agent %q: credentials_file: %w", ag.ID, err)
			}
		} else {
			if opts.ClientSecret, err = ag.ClientSecret().Resolve(a.cfg.Getenv); err != nil {
				return nil, err
			}
			if opts.RefreshToken, err = ag.RefreshToken().Resolve(a.cfg.Getenv); err != nil {
				return nil, err
			}
		}
		return calendar.NewGoogle(opts)
	default:
		return calendar.NewCalDAV(calendar.CalDAVOptions{
			URL:       ag.CalDAVURL,
			Username:  ag.Username,
			Password:  a.secretFunc(ag.Password()),
			Calendars: ag.Calendars,
			Location:  loc,
			Gates:     gates,
			Logger:    a.log.With("agent", ag.ID),
		})
	}
}

func cmdCalendar(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "feeds" || args[0] == "rotate-feed") {
		return cmdCalendarFeeds(ctx, args[0], args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "sync" {
		return usageError{"calendar: expected `calendar sync --once`, `calendar feeds` or `calendar rotate-feed --agent ID`"}
	}
	fs := flags("calendar sync", stderr)
	cfgPath := configFlag(fs)
	once := fs.Bool("once", false, "sync every agent once, then exit (required; sidedesk serve syncs continuously)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if !*once {
		return usageError{"calendar sync: only --once is supported; `sidedesk serve` syncs continuously"}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	cal, err := a.calendarService()
	if err != nil {
		return err
	}
	if cal == nil {
		// Not an error: a cron job that runs it on a host without
		// calendars must not fail.
		fmt.Fprintln(stdout, "calendar sync: [calendar] enabled = false in the config: nothing to sync")
		return nil
	}
	rep, err := cal.SyncOnce(ctx)
	for _, st := range cal.Status() {
		if st.LastError != "" {
			fmt.Fprintf(stdout, "agent %s: FAILED: %s\n", st.AgentID, st.LastError)
			continue
		}
		fmt.Fprintf(stdout, "agent %s: %d busy intervals\n", st.AgentID, st.Intervals)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "synced %d agents (%d failed, %d unchanged since their last sync), %d busy intervals in %s\n",
		rep.Agents, rep.Failed, rep.Unchanged, rep.Intervals, rep.Duration.Round(1e6))
	if rep.Failed > 0 {
		return fmt.Errorf("calendar sync: %d agent(s) failed", rep.Failed)
	}
	return nil
}

// cmdCalendarFeeds lists every agent's free/busy feed URL (feeds) or gives
// one agent a new one (rotate-feed --agent ID; the old URL stops working,
// the others do not change).
func cmdCalendarFeeds(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flags("calendar "+verb, stderr)
	cfgPath := configFlag(fs)
	var agent *string
	if verb == "rotate-feed" {
		agent = fs.String("agent", "", "the agent's id in [[calendar.agent]] (required)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if agent != nil && *agent == "" {
		return usageError{"calendar rotate-feed: --agent is required (see `sidedesk calendar feeds`)"}
	}
	a, err := setup(ctx, *cfgPath, stderr, schemaMigrate)
	if err != nil {
		return err
	}
	defer a.Close()
	cal, err := a.calendarService()
	if err != nil {
		return err
	}
	if cal == nil {
		fmt.Fprintf(stdout, "calendar %s: [calendar] enabled = false in the config: no feeds\n", verb)
		return nil
	}
	public := a.cfg.Server.PublicURL
	if agent != nil {
		u, err := cal.RotateFeed(ctx, public, *agent)
		if errors.Is(err, ticket.ErrNotFound) {
			return fmt.Errorf("calendar rotate-feed: no agent %q in [[calendar.agent]] (see `sidedesk calendar feeds`)", *agent)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "agent %s: new free/busy feed %s (the old URL answers 404 from now on)\n", *agent, u)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tEMAIL\tFREE/BUSY FEED")
	for _, ag := range a.cfg.Calendar.Agents {
		u, err := cal.FeedURL(ctx, public, ag.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ag.ID, ag.Email, u)
	}
	return tw.Flush()
}
