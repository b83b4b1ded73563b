package calendar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	gcal "google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// GoogleOptions configures a Google Calendar source. Exactly one of the
// two credentials is needed: a user's OAuth2 refresh token (ClientID,
// ClientSecret, RefreshToken), or a service account key (CredentialsJSON)
// with domain-wide delegation impersonating Subject.
type GoogleOptions struct {
	// CalendarIDs are asked for busy time; default ["primary"].
	CalendarIDs []string

	ClientID     string
	ClientSecret string
	RefreshToken string

	CredentialsJSON []byte
	Subject         string // the user impersonated with CredentialsJSON

	// BaseURL overrides the API root (default
	// "https://www.googleapis.com/calendar/v3/"); TokenURL the OAuth2
	// token endpoint. Both are for tests and proxies.
	BaseURL  string
	TokenURL string

	// HTTPClient is the base client for API and token requests.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// GoogleSource reads busy time with Google Calendar's freebusy.query,
// which by design returns only busy periods, never event details.
type GoogleSource struct {
	svc *gcal.Service
	ids []string
}

// googleBatch is the most calendars one freebusy.query may name
// (calendarExpansionMax is at most 50).
const googleBatch = 50

// NewGoogle returns a Google Calendar source. No request is made until Busy.
func NewGoogle(opts GoogleOptions) (*GoogleSource, error) {
	base := opts.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 60 * time.Second}
	}
	// The token source keeps this context for every refresh; it only
	// carries the base HTTP client.
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, base)
	var ts oauth2.TokenSource
	switch {
	case len(opts.CredentialsJSON) > 0:
		if opts.Subject == "" {
			return nil, fmt.Errorf("calendar: google: a service account needs Subject (the user to impersonate)")
		}
		conf, err := google.JWTConfigFromJSON(opts.CredentialsJSON, gcal.CalendarFreebusyScope)
		if err != nil {
			// The parse error may quote the key file; do not wrap it.
			return nil, fmt.Errorf("calendar: google: invalid service account credentials")
		}
		conf.Subject = opts.Subject
		if opts.TokenURL != "" {
			conf.TokenURL = opts.TokenURL
		}
		ts = conf.TokenSource(tctx)
	case opts.RefreshToken != "":
		if opts.ClientID == "" {
			return nil, fmt.Errorf("calendar: google: OAuth2 needs ClientID")
		}
		conf := &oauth2.Config{
			ClientID:     opts.ClientID,
			ClientSecret: opts.ClientSecret,
			Endpoint:     google.Endpoint,
			Scopes:       []string{gcal.CalendarFreebusyScope},
		}
		if opts.TokenURL != "" {
			conf.Endpoint = oauth2.Endpoint{TokenURL: opts.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
		}
		ts = conf.TokenSource(tctx, &oauth2.Token{RefreshToken: opts.RefreshToken})
	default:
		return nil, fmt.Errorf("calendar: google: need a refresh token or service account credentials")
	}
	copts := []option.ClientOption{option.WithHTTPClient(&http.Client{
		Transport: &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, ts), Base: base.Transport},
		Timeout:   base.Timeout,
	})}
	if opts.BaseURL != "" {
		u := opts.BaseURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		copts = append(copts, option.WithEndpoint(u))
	}
	svc, err := gcal.NewService(context.Background(), copts...)
	if err != nil {
		return nil, fmt.Errorf("calendar: google: %w", err)
	}
	ids := opts.CalendarIDs
	if len(ids) == 0 {
		ids = []string{"primary"}
	}
	return &GoogleSource{svc: svc, ids: ids}, nil
}

// Busy implements Source. A calendar the API reports an error for fails the
// whole call: publishing its owner as free could double-book them.
func (g *GoogleSource) Busy(ctx context.Context, from, to time.Time) ([]Interval, error) {
	var out []Interval
	for i := 0; i < len(g.ids); i += googleBatch {
		batch := g.ids[i:min(i+googleBatch, len(g.ids))]
		req := &gcal.FreeBusyRequest{
			TimeMin:  from.UTC().Format(time.RFC3339),
			TimeMax:  to.UTC().Format(time.RFC3339),
			TimeZone: "UTC",
		}
		for _, id := range batch {
			req.Items = append(req.Items, &gcal.FreeBusyRequestItem{Id: id})
		}
		resp, err := g.svc.Freebusy.Query(req).Context(ctx).Do()
		if err != nil {
			return nil, fmt.Errorf("calendar: google: freebusy.query: %w", googleErr(err))
		}
		var errs []error
		for _, id := range batch {
			c, ok := resp.Calendars[id]
			if !ok {
				errs = append(errs, fmt.Errorf("calendar: google: calendar %q missing from the answer", id))
				continue
			}
			if len(c.Errors) > 0 {
				errs = append(errs, fmt.Errorf("calendar: google: calendar %q: %s", id, c.Errors[0].Reason))
				continue
			}
			for _, p := range c.Busy {
				s, err1 := time.Parse(time.RFC3339, p.Start)
				e, err2 := time.Parse(time.RFC3339, p.End)
				if err1 != nil || err2 != nil {
					errs = append(errs, fmt.Errorf("calendar: google: calendar %q: invalid busy period", id))
					break
				}
				out = append(out, Interval{Start: s, End: e})
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// googleErr keeps the status and reason of an API error but drops the
// response body it may carry.
func googleErr(err error) error {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		reason := ""
		if len(gerr.Errors) > 0 {
			reason = ": " + gerr.Errors[0].Reason
		}
		return &sanitizedError{msg: fmt.Sprintf("HTTP %d%s", gerr.Code, reason), cause: err}
	}
	return err
}
