package calendar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
)

// CalDAVOptions configures a CalDAV source.
type CalDAVOptions struct {
	// URL is the CalDAV endpoint (the server root, a principal or a
	// calendar home; with Calendars empty the home set is discovered from it).
	URL      string
	Username string
	// Password returns the password; it is called for every sync so a
	// rotated secret is picked up. Nil means no authentication.
	Password func(ctx context.Context) (string, error)
	// Calendars are calendar collection paths (absolute, or relative to
	// URL). Empty: every calendar of the user's home set that can hold
	// VEVENTs (RFC 4791 section 6.2.1 discovery).
	Calendars []string
	// Location is the agent's zone, for floating times and all-day events.
	// Nil means UTC; set it to Agent.Location.
	Location   *time.Location
	HTTPClient *http.Client
	// Gates limits the requests in flight to each server; share one among
	// all sources (see ServerGates). Nil: the source has gates of its own.
	Gates  *ServerGates
	Logger *slog.Logger
}

// CalDAVSource computes busy time from a CalDAV server (RFC 4791) with
// time-range calendar-queries, expanding recurrences here: many servers
// (Radicale among them) do not implement the free-busy-query REPORT. It is
// a VersionedSource: the calendars' CTags tell when nothing changed.
type CalDAVSource struct {
	opts   CalDAVOptions
	logger *slog.Logger

	mu         sync.Mutex
	discovered []string
	discovAt   time.Time
	// noCTag is set once the server answered without a CTag: Version asks
	// for the sync-token from then on.
	noCTag bool
}

// discoveryTTL is how long a discovered calendar list is reused.
const discoveryTTL = 15 * time.Minute

// NewCalDAV returns a CalDAV source.
func NewCalDAV(opts CalDAVOptions) (*CalDAVSource, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("calendar: caldav: URL must be an http(s) URL")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.Gates == nil {
		opts.Gates = NewServerGates(0)
	}
	hc := *opts.HTTPClient
	hc.Transport = opts.Gates.transport(hc.Transport)
	opts.HTTPClient = &hc
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &CalDAVSource{opts: opts, logger: logger}, nil
}

// client returns an HTTP client that authenticates as the configured user,
// and a CalDAV client on top of it.
func (c *CalDAVSource) client(ctx context.Context) (webdav.HTTPClient, *caldav.Client, error) {
	var hc webdav.HTTPClient = c.opts.HTTPClient
	if c.opts.Password != nil {
		pw, err := c.opts.Password(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("calendar: caldav: password: %w", err)
		}
		hc = webdav.HTTPClientWithBasicAuth(hc, c.opts.Username, pw)
	}
	client, err := caldav.NewClient(hc, c.opts.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("calendar: caldav: %w", err)
	}
	return hc, client, nil
}

// Busy implements Source.
func (c *CalDAVSource) Busy(ctx context.Context, from, to time.Time) ([]Interval, error) {
	hc, client, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	cals, _, err := c.calendars(ctx, hc, client)
	if err != nil {
		return nil, err
	}
	body := calendarQueryBody(from)
	x := &expander{from: from, to: to, local: c.opts.Location}
	var out []Interval
	skipped := 0
	for _, cal := range cals {
		u, err := c.calendarURL(cal)
		if err != nil {
			return nil, err
		}
		err = queryCalendar(ctx, hc, c.opts.Gates, u, body, func(data []byte) {
			obj, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
			if err != nil {
				// go-ical's message may quote the object: count only.
				skipped++
				return
			}
			ivs, err := x.busyFromObject(obj)
			if err != nil {
				// One broken event must not hide the rest of the calendar;
				// the error text carries no event data.
				c.logger.Warn("calendar: caldav: event skipped", "err", err)
				return
			}
			out = append(out, ivs...)
		})
		if err != nil {
			return nil, err
		}
	}
	if skipped > 0 {
		c.logger.Warn("calendar: caldav: unreadable calendar objects skipped", "count", skipped)
	}
	if x.unknownTZ > 0 {
		c.logger.Warn("calendar: caldav: unknown TZID, agent zone used", "count", x.unknownTZ)
	}
	return out, nil
}

// davDo sends a WebDAV request (method, Depth header, XML body) and returns
// the answer when it is a 207 Multi-Status. Any other answer is drained and
// returned as an error "NNN Status text", which sanitize reports as
// "server answered HTTP NNN".
func davDo(ctx context.Context, hc webdav.HTTPClient, method, u, depth, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		return nil, &sanitizedError{msg: "calendar: caldav: bad request URL", cause: err}
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("Depth", depth)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPropfindAnswer))
		resp.Body.Close()
		return nil, fmt.Errorf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}

// calendarURL resolves a calendar path against the configured URL.
func (c *CalDAVSource) calendarURL(cal string) (string, error) {
	base, err := url.Parse(c.opts.URL)
	if err != nil {
		return "", fmt.Errorf("calendar: caldav: URL: %w", err)
	}
	ref, err := url.Parse(cal)
	if err != nil {
		return "", &sanitizedError{msg: "calendar: caldav: calendar path is not a URL path", cause: err}
	}
	return base.ResolveReference(ref).String(), nil
}

// sanitizedError keeps the cause for errors.Is/As but prints only a message
// free of server-sent content: a parse error of go-ical or a multistatus
// error may quote event data or an object path (often the event's UID).
type sanitizedError struct {
	msg   string
	cause error
}

func (e *sanitizedError) Error() string { return e.msg }
func (e *sanitizedError) Unwrap() error { return e.cause }

var httpStatusPrefix = regexp.MustCompile(`^([1-5][0-9]{2}) `)

func sanitize(op string, err error) error {
	if se := (*sanitizedError)(nil); errors.As(err, &se) {
		return err // already free of server content
	}
	msg := "calendar: caldav: " + op + ": "
	var uerr *url.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		msg += err.Error()
	case errors.As(err, &uerr):
		msg += uerr.Op + " request failed: " + uerr.Err.Error()
	case httpStatusPrefix.MatchString(err.Error()):
		code := httpStatusPrefix.FindStringSubmatch(err.Error())[1]
		msg += "server answered HTTP " + code
	case strings.Contains(err.Error(), "unauthenticated"):
		msg += "unauthenticated"
	default:
		msg += "malformed server response"
	}
	return &sanitizedError{msg: msg, cause: err}
}
