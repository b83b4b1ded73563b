package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
)

// APIError is the REST API's refusal: its HTTP status and the error array
// ([{"errorCode","message","fields"}]) Salesforce answers.
type APIError struct {
	Status int
	Errors []APIErrorItem
}

// APIErrorItem is one entry of the error array.
type APIErrorItem struct {
	ErrorCode string   `json:"errorCode"`
	Message   string   `json:"message"`
	Fields    []string `json:"fields,omitempty"`
}

func (e *APIError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("salesforce: HTTP %d", e.Status)
	}
	var parts []string
	for _, it := range e.Errors {
		p := it.ErrorCode + ": " + it.Message
		if len(it.Fields) > 0 {
			p += " (fields: " + strings.Join(it.Fields, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return "salesforce: " + strings.Join(parts, "; ")
}

// refused turns the API's refusal of a record (HTTP 400: a required
// field, a validation or duplicate rule) into a crm.RecordError naming
// the field, so the panel says what to fix.
func refused(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || len(ae.Errors) == 0 {
		return err
	}
	it := ae.Errors[0]
	re := crm.RecordError{Err: fmt.Errorf("%w: %s (%s)", crm.ErrRefused, it.Message, it.ErrorCode)}
	if len(it.Fields) > 0 {
		re.Field = it.Fields[0]
	}
	return re
}

// Code is the first error code ("" when none).
func (e *APIError) Code() string {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].ErrorCode
}

// ErrLimited: the org spent its API allowance (REQUEST_LIMIT_EXCEEDED);
// calls fail fast for limitBackoff instead of adding to the refusals.
var ErrLimited = fmt.Errorf("salesforce: the org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED); retrying later: %w", crm.ErrUnavailable)

const limitBackoff = 5 * time.Minute

// do calls the REST API as the agent of ctx: path is relative to
// /services/data/vXX.X/ or absolute ("/services/data/..."), body is JSON
// encoded when not nil, out decoded when not nil. A 401
// INVALID_SESSION_ID refreshes the access token once and retries.
func (c *Connector) do(ctx context.Context, tenant, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(path, "/") {
		path = "/services/data/" + c.opts.APIVersion + "/" + path
	}
	return c.withSession(ctx, tenant, func(access, instance string) (bool, error) {
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(instance, "/")+path, rd)
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.opts.HTTP.Do(req)
		if err != nil {
			return false, fmt.Errorf("salesforce: %s %s: %w", method, path, err)
		}
		data, rerr := io.ReadAll(io.LimitReader(res.Body, 32<<20))
		res.Body.Close()
		if rerr != nil {
			return false, fmt.Errorf("salesforce: %s %s: reading the answer: %w", method, path, rerr)
		}
		c.noteLimit(res.Header.Get("Sforce-Limit-Info"))
		if res.StatusCode >= 200 && res.StatusCode < 300 {
			if out == nil || len(data) == 0 || res.StatusCode == http.StatusNoContent {
				return false, nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return false, fmt.Errorf("salesforce: %s %s answered JSON we cannot read: %w", method, path, err)
			}
			return false, nil
		}
		ae := &APIError{Status: res.StatusCode}
		if json.Unmarshal(data, &ae.Errors) != nil {
			ae.Errors = []APIErrorItem{{ErrorCode: "HTTP_" + strconv.Itoa(res.StatusCode), Message: strings.TrimSpace(string(data[:min(len(data), 300)]))}}
		}
		if res.StatusCode == http.StatusUnauthorized {
			return true, ae // INVALID_SESSION_ID: the access token expired
		}
		if res.StatusCode == http.StatusNotFound && (ae.Code() == "NOT_FOUND" || ae.Code() == "ENTITY_IS_DELETED") {
			return false, fmt.Errorf("%w: %w", crm.ErrNotFound, ae)
		}
		return false, c.limited(ae)
	})
}

// withSession runs call as the agent of ctx, with their access token and
// instance URL, unless the org's API limit pauses calls. When call says
// the session expired (REST 401, SOAP INVALID_SESSION_ID), the token is
// refreshed once and call runs again; a second expiry is call's error.
func (c *Connector) withSession(ctx context.Context, tenant string, call func(access, instance string) (expired bool, err error)) error {
	agent, err := c.actor(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	blocked := c.opts.Now().Before(c.blocked)
	c.mu.Unlock()
	if blocked {
		return ErrLimited
	}
	stale := ""
	for attempt := 0; ; attempt++ {
		access, instance, err := c.accessToken(ctx, tenant, agent, attempt > 0, stale)
		if err != nil {
			return err
		}
		expired, err := call(access, instance)
		if !expired || attempt > 0 {
			return err
		}
		stale = access
	}
}

// limited turns REQUEST_LIMIT_EXCEEDED into ErrLimited and pauses every
// call for limitBackoff; other errors pass.
func (c *Connector) limited(ae *APIError) error {
	if ae.Code() != "REQUEST_LIMIT_EXCEEDED" {
		return ae
	}
	c.mu.Lock()
	c.blocked = c.opts.Now().Add(limitBackoff)
	c.mu.Unlock()
	c.log.Error("salesforce: the org's API request limit is exceeded; calls pause", "for", limitBackoff)
	return fmt.Errorf("%w: %w", ErrLimited, ae)
}

// noteLimit reads Sforce-Limit-Info ("api-usage=18/15000") and warns when
// the org's daily budget is nearly spent.
func (c *Connector) noteLimit(h string) {
	if h == "" {
		return
	}
	for _, part := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "api-usage" {
			continue
		}
		used, max, ok := strings.Cut(v, "/")
		u, err1 := strconv.Atoi(used)
		m, err2 := strconv.Atoi(max)
		if !ok || err1 != nil || err2 != nil || m <= 0 {
			return
		}
		now := c.opts.Now()
		c.mu.Lock()
		c.usage = Usage{Used: u, Max: m, At: now}
		warn := float64(u)/float64(m) >= c.opts.BudgetWarn && now.Sub(c.warned) > 10*time.Minute
		if warn {
			c.warned = now
		}
		c.mu.Unlock()
		if warn {
			c.log.Warn("salesforce: the org's daily API budget is nearly spent", "used", u, "max", m)
		}
	}
}

type queryPage struct {
	TotalSize      int               `json:"totalSize"`
	Done           bool              `json:"done"`
	NextRecordsURL string            `json:"nextRecordsUrl"`
	Records        []json.RawMessage `json:"records"`
}

// maxQueryRows bounds what one query reads across pages.
const maxQueryRows = 10000

// query runs SOQL and follows nextRecordsUrl, decoding each record with
// decode.
func (c *Connector) query(ctx context.Context, tenant, soql string, decode func(json.RawMessage) error) error {
	var p queryPage
	if err := c.do(ctx, tenant, http.MethodGet, "query?q="+url.QueryEscape(soql), nil, &p); err != nil {
		return err
	}
	n := 0
	for {
		for _, r := range p.Records {
			if err := decode(r); err != nil {
				return fmt.Errorf("salesforce: reading a record: %w", err)
			}
			n++
		}
		if p.Done || p.NextRecordsURL == "" || n >= maxQueryRows {
			return nil
		}
		if !strings.HasPrefix(p.NextRecordsURL, "/services/data/") {
			return fmt.Errorf("salesforce: nextRecordsUrl %q is not an API path", p.NextRecordsURL)
		}
		next := p.NextRecordsURL
		p = queryPage{}
		if err := c.do(ctx, tenant, http.MethodGet, next, nil, &p); err != nil {
			return err
		}
	}
}

// Quote is s as a SOQL string literal: quotes, backslashes and control
// characters escaped (the SOQL reference's escape sequences), so a value
// from an email can never change a query's meaning.
func Quote(s string) string {
	return "'" + escape(s, false) + "'"
}

// QuoteLike is s as a SOQL LIKE pattern literal matching s itself: the
// wildcards % and _ are escaped as well.
func QuoteLike(prefix, s, suffix string) string {
	return "'" + prefix + escape(s, true) + suffix + "'"
}

func escape(s string, like bool) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '%', '_':
			if like {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		default:
			if r < 0x20 || r == 0x7f {
				continue // no SOQL escape; never meaningful in a value
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

var idRE = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

// checkID refuses what is not a Salesforce record id, so an id never
// reaches a URL path or a query unchecked.
func checkID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("salesforce: %q is not a Salesforce record id (15 or 18 letters and digits): %w", id, crm.ErrNotFound)
	}
	return nil
}
