// Package webhook delivers sidedesk's events to subscribers' HTTP
// endpoints, signed per the Standard Webhooks specification: headers
// webhook-id (the same on every retry of a message), webhook-timestamp and
// webhook-signature ("v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" under the subscription's secret), body
// {"type","timestamp","data"}. Each subscription is its own outbox consumer
// (webhook:<id>), so a failing endpoint holds up no other: at least once,
// in order, retried with backoff; an endpoint that keeps failing for
// FailFor, or answers 410 Gone, is disabled with the reason. Targets that
// resolve to loopback, private or link-local addresses are refused unless
// allowed, at subscription and at every connection (no DNS rebinding), and
// redirects are not followed.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sidedesk/sidedesk/internal/seal"

	"github.com/sidedesk/sidedesk/ticket"
)

// Store keeps subscriptions and their delivery log; *store.Store
// implements it.
type Store interface {
	CreateWebhook(ctx context.Context, w ticket.Webhook) (ticket.Webhook, error)
	Webhook(ctx context.Context, tenant string, id int64) (ticket.Webhook, error)
	Webhooks(ctx context.Context, tenant string) ([]ticket.Webhook, error)
	DeleteWebhook(ctx context.Context, tenant string, id int64) error
	SetWebhookFailing(ctx context.Context, tenant string, id int64, since time.Time) error
	DisableWebhook(ctx context.Context, tenant string, id int64, reason string) error
	RotateWebhookSecret(ctx context.Context, tenant string, id int64, sealed []byte, until time.Time) error
	AddWebhookDelivery(ctx context.Context, d ticket.WebhookDelivery) error
	WebhookDeliveries(ctx context.Context, tenant string, id int64, limit int) ([]ticket.WebhookDelivery, error)
}

// Types are the public event types a subscription can ask for.
var Types = []string{"ticket.created", "ticket.updated", "ticket.escalated", "ticket.solved",
	"message.created", "message.failed", "note.created", "crm.linked"}

// Options configures a Service.
type Options struct {
	Store Store // required
	// Key seals the subscriptions' secrets at rest (32 bytes).
	Key []byte
	// AllowPrivate lets subscriptions target loopback, private and
	// link-local addresses (a receiver on the same network).
	AllowPrivate bool
	// FailFor: an endpoint failing for this long is disabled (default 3
	// days).
	FailFor time.Duration
	Timeout time.Duration // per delivery (default 15 s)
	Logger  *slog.Logger
	Now     func() time.Time
}

// Service manages subscriptions and delivers to them.
type Service struct {
	opts   Options
	log    *slog.Logger
	box    *seal.Box
	client *http.Client
}

// New builds a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || len(opts.Key) != 32 {
		return nil, errors.New("webhook: Options.Store and a 32-byte Key are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FailFor <= 0 {
		opts.FailFor = 72 * time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	box, err := seal.New(opts.Key)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, log: opts.Logger, box: box}
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: s.checkDial}
	s.client = &http.Client{
		Timeout: opts.Timeout,
		Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil,
			TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// ErrForbiddenTarget: the URL resolves to an address subscriptions may
// not reach.
var ErrForbiddenTarget = errors.New("webhook: the target resolves to a loopback, private or link-local address")

// checkDial refuses connections to addresses subscriptions may not reach;
// it runs on the resolved address of every connection.
func (s *Service) checkDial(_, address string, _ syscall.RawConn) error {
	if s.opts.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if forbidden(ip) {
		return fmt.Errorf("%w (%s)", ErrForbiddenTarget, ip)
	}
	return nil
}

func forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) // carrier-grade NAT
}

// Create validates and stores a subscription of tenant with a new secret,
// returned once ("whsec_" + base64: give it to the receiver). Errors for
// bad input wrap ticket.ErrInvalid and name the field.
func (s *Service) Create(ctx context.Context, tenant, rawURL string, types []string) (ticket.Webhook, string, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return ticket.Webhook{}, "", fmt.Errorf("webhook: %w url: %q is not an http(s) URL without credentials (like https://hooks.example.com/sidedesk)", ticket.ErrInvalid, rawURL)
	}
	for _, t := range types {
		if !slices.Contains(Types, t) {
			return ticket.Webhook{}, "", fmt.Errorf("webhook: %w events: %q is not one of %s", ticket.ErrInvalid, t, strings.Join(Types, ", "))
		}
	}
	if !s.opts.AllowPrivate {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
		if err != nil {
			return ticket.Webhook{}, "", fmt.Errorf("webhook: %w url: %s does not resolve: %v", ticket.ErrInvalid, u.Hostname(), err)
		}
		for _, a := range addrs {
			if forbidden(a) {
				return ticket.Webhook{}, "", fmt.Errorf("webhook: %w url: %s resolves to %s, a loopback, private or link-local address (allowed only with [webhooks] allow_private = true)",
					ticket.ErrInvalid, u.Hostname(), a)
			}
		}
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	w, err := s.opts.Store.CreateWebhook(ctx, ticket.Webhook{Tenant: tenant, URL: u.String(),
		EventTypes: slices.Compact(slices.Sorted(slices.Values(types))), SecretSealed: s.seal(raw)})
	if err != nil {
		return ticket.Webhook{}, "", err
	}
	return w, secret, nil
}

func (s *Service) seal(plain []byte) []byte { return s.box.Seal(plain, "sidedesk webhook secret") }

func (s *Service) open(sealed []byte) ([]byte, error) {
	return s.box.Open(sealed, "sidedesk webhook secret")
}

// RotationOverlap is how long a rotated secret keeps signing beside the
// new one.
const RotationOverlap = 24 * time.Hour

// RotateSecret gives a subscription a new secret (returned once); for
// RotationOverlap every message carries both signatures, so the receiver
// can switch to the new secret without missing a message.
func (s *Service) RotateSecret(ctx context.Context, tenant string, id int64) (string, error) {
	if _, err := s.opts.Store.Webhook(ctx, tenant, id); err != nil {
		return "", err
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	if err := s.opts.Store.RotateWebhookSecret(ctx, tenant, id, s.seal(raw), s.opts.Now().Add(RotationOverlap)); err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(raw), nil
}

// List, Delete and Deliveries serve the API.
func (s *Service) List(ctx context.Context, tenant string) ([]ticket.Webhook, error) {
	return s.opts.Store.Webhooks(ctx, tenant)
}

// Delete removes a subscription; its consumer stops within a poll.
func (s *Service) Delete(ctx context.Context, tenant string, id int64) error {
	return s.opts.Store.DeleteWebhook(ctx, tenant, id)
}

// Deliveries is a subscription's delivery log, newest first.
func (s *Service) Deliveries(ctx context.Context, tenant string, id int64, limit int) ([]ticket.WebhookDelivery, error) {
	if _, err := s.opts.Store.Webhook(ctx, tenant, id); err != nil {
		return nil, err
	}
	return s.opts.Store.WebhookDeliveries(ctx, tenant, id, limit)
}

// message is one webhook message made from an event.
type message struct {
	id, typ string
	body    []byte
}

// messages maps an outbox event to the public messages it makes (none for
// events of no public type).
func messages(e ticket.Event) []message {
	var p ticket.EventPayload
	_ = json.Unmarshal(e.Payload, &p)
	var types []string
	switch e.Type {
	case ticket.EventTicketCreated:
		types = []string{"ticket.created"}
	case ticket.EventTicketUpdated:
		types = []string{"ticket.updated"}
		if c, ok := p.Changes["status"]; ok && c.To == string(ticket.StatusSolved) {
			types = append(types, "ticket.solved")
		}
		if c, ok := p.Changes["priority"]; ok && rank(c.To) > rank(c.From) && rank(c.To) >= rank(string(ticket.PriorityHigh)) {
			types = append(types, "ticket.escalated")
		}
	case ticket.EventMessageReceived, ticket.EventMessageQueued:
		types = []string{"message.created"}
	case ticket.EventMessageFailed:
		types = []string{"message.failed"}
	case ticket.EventNoteAdded:
		types = []string{"note.created"}
	case ticket.EventCRMLinked:
		types = []string{"crm.linked"}
	}
	data := map[string]any{}
	_ = json.Unmarshal(e.Payload, &data)
	if e.TicketID != 0 {
		data["ticket_id"] = e.TicketID
	}
	if e.MessageID != 0 {
		data["message_row_id"] = e.MessageID
	}
	data["event_id"] = e.ID
	switch e.Type {
	case ticket.EventMessageReceived:
		data["direction"] = string(ticket.DirectionInbound)
	case ticket.EventMessageQueued:
		data["direction"] = string(ticket.DirectionOutgoing)
	}
	var out []message
	for _, t := range types {
		body, _ := json.Marshal(struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}{t, e.CreatedAt.UTC().Format(time.RFC3339Nano), data})
		out = append(out, message{id: "evt_" + strconv.FormatInt(e.ID, 10) + "_" + strings.ReplaceAll(t, ".", "_"), typ: t, body: body})
	}
	return out
}

func rank(p string) int {
	return slices.Index([]string{"low", "normal", "high", "urgent"}, p)
}

// Sign is the Standard Webhooks signature header value of a message.
func Sign(secret []byte, msgID string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s.%d.", msgID, ts.Unix())
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Deliver is the outbox consumer of subscription id of tenant: it sends
// the event's messages of the types subscribed to, each signed, and
// returns an error (retried with backoff, or after Retry-After) while the
// endpoint fails.
func (s *Service) Deliver(ctx context.Context, tenant string, id int64, e ticket.Event) error {
	w, err := s.opts.Store.Webhook(ctx, tenant, id)
	if errors.Is(err, ticket.ErrNotFound) {
		return nil // deleted: its consumer stops soon
	}
	if err != nil {
		return err
	}
	if !w.DisabledAt.IsZero() {
		return nil
	}
	secret, err := s.open(w.SecretSealed)
	if err != nil {
		return &permanent{fmt.Errorf("webhook %d: the secret cannot be unsealed (was the secret key changed?): %w", id, err)}
	}
	secrets := [][]byte{secret}
	if len(w.PreviousSealed) > 0 && s.opts.Now().Before(w.PreviousUntil) {
		if prev, err := s.open(w.PreviousSealed); err == nil {
			secrets = append(secrets, prev) // the overlap after a rotation
		}
	}
	for _, m := range messages(e) {
		if len(w.EventTypes) > 0 && !slices.Contains(w.EventTypes, m.typ) {
			continue
		}
		if _, err := s.post(ctx, w, secrets, e.ID, m); err != nil {
			return err
		}
	}
	return nil
}

// Redeliver sends event e to subscription id again now, an admin's
// request (after fixing an endpoint, or for one disabled meanwhile): each
// message of the subscribed types with its own webhook-id, as first sent,
// freshly signed. It returns the attempts, which the delivery log also
// shows, and which count like any other toward the failing clock; a
// failed attempt is no error of Redeliver's.
func (s *Service) Redeliver(ctx context.Context, tenant string, id int64, e ticket.Event) ([]ticket.WebhookDelivery, error) {
	w, err := s.opts.Store.Webhook(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	secret, err := s.open(w.SecretSealed)
	if err != nil {
		return nil, fmt.Errorf("webhook %d: the secret cannot be unsealed (was the secret key changed?): %w", id, err)
	}
	var out []ticket.WebhookDelivery
	for _, m := range messages(e) {
		if len(w.EventTypes) > 0 && !slices.Contains(w.EventTypes, m.typ) {
			continue
		}
		d, _ := s.post(ctx, w, [][]byte{secret}, e.ID, m)
		out = append(out, d)
	}
	return out, nil
}

// post sends one message and handles the answer.
func (s *Service) post(ctx context.Context, w ticket.Webhook, secrets [][]byte, eventID int64, m message) (ticket.WebhookDelivery, error) {
	now := s.opts.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(m.body))
	if err != nil {
		return ticket.WebhookDelivery{}, &permanent{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sidedesk-webhooks")
	req.Header.Set("webhook-id", m.id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	sigs := make([]string, len(secrets))
	for i, sec := range secrets {
		sigs[i] = Sign(sec, m.id, now, m.body)
	}
	req.Header.Set("webhook-signature", strings.Join(sigs, " ")) // space-separated, the new one first
	start := time.Now()
	resp, err := s.client.Do(req)
	d := ticket.WebhookDelivery{WebhookID: w.ID, Tenant: w.Tenant, EventID: eventID, MsgID: m.id, EventType: m.typ,
		AttemptAt: now, Duration: time.Since(start)}
	var retryAfter time.Duration
	if err != nil {
		d.Error = err.Error()
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		d.StatusCode = resp.StatusCode
		if v, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && v > 0 {
			retryAfter = time.Duration(min(v, 3600)) * time.Second
		}
	}
	if lerr := s.opts.Store.AddWebhookDelivery(ctx, d); lerr != nil {
		s.log.WarnContext(ctx, "webhook: log delivery", "webhook", w.ID, "error", lerr)
	}
	if err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if !w.FailingSince.IsZero() {
			return d, s.opts.Store.SetWebhookFailing(ctx, w.Tenant, w.ID, time.Time{})
		}
		return d, nil
	}
	if ctx.Err() != nil {
		return d, ctx.Err()
	}
	why := d.Error
	if why == "" {
		why = fmt.Sprintf("HTTP %d", d.StatusCode)
	}
	if d.StatusCode == http.StatusGone {
		return d, s.disable(ctx, w, "the endpoint answered 410 Gone")
	}
	if w.FailingSince.IsZero() {
		if err := s.opts.Store.SetWebhookFailing(ctx, w.Tenant, w.ID, now); err != nil {
			return d, err
		}
	} else if now.Sub(w.FailingSince) > s.opts.FailFor {
		return d, s.disable(ctx, w, fmt.Sprintf("failing since %s (last: %s)", w.FailingSince.UTC().Format(time.RFC3339), why))
	}
	err = fmt.Errorf("webhook %d: %s: %s", w.ID, w.URL, why)
	if retryAfter > 0 {
		return d, &retry{err, retryAfter}
	}
	return d, err
}

func (s *Service) disable(ctx context.Context, w ticket.Webhook, reason string) error {
	s.log.WarnContext(ctx, "webhook: subscription disabled", "webhook", w.ID, "tenant", w.Tenant, "url", w.URL, "reason", reason)
	return s.opts.Store.DisableWebhook(ctx, w.Tenant, w.ID, reason)
}

// permanent and retry tell the outbox runner how to go on.
type permanent struct{ err error }

func (e *permanent) Error() string   { return e.err.Error() }
func (e *permanent) Unwrap() error   { return e.err }
func (e *permanent) Permanent() bool { return true }

type retry struct {
	err   error
	after time.Duration
}

func (e *retry) Error() string             { return e.err.Error() }
func (e *retry) Unwrap() error             { return e.err }
func (e *retry) RetryAfter() time.Duration { return e.after }

// Consumer is what a runner needs to deliver one subscription.
type Consumer struct {
	Name    string // "webhook:<id>"
	Tenant  string
	Deliver func(ctx context.Context, e ticket.Event) error
}

// RunFunc runs one consumer until ctx ends (outbox.Runner.Run, adapted).
type RunFunc func(ctx context.Context, c Consumer) error

// Run keeps one consumer running per active subscription, checking the
// subscriptions every poll: new ones start (from the events committed
// after they were created), deleted and disabled ones stop.
func (s *Service) Run(ctx context.Context, poll time.Duration, run RunFunc) error {
	if poll <= 0 {
		poll = 5 * time.Second
	}
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	live := map[int64]running{}
	var wg sync.WaitGroup
	defer func() {
		for _, r := range live {
			r.cancel()
		}
		wg.Wait()
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		subs, err := s.opts.Store.Webhooks(ctx, "")
		if err != nil {
			if ctx.Err() == nil {
				// Keep what runs: a failed read says nothing about the
				// subscriptions.
				s.log.WarnContext(ctx, "webhook: list subscriptions", "error", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			continue
		}
		want := map[int64]bool{}
		for _, w := range subs {
			if !w.DisabledAt.IsZero() {
				continue
			}
			want[w.ID] = true
			if r, ok := live[w.ID]; ok {
				select {
				case <-r.done: // stopped on an error: start it again
					delete(live, w.ID)
				default:
					continue
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			r := running{cancel: cancel, done: make(chan struct{})}
			live[w.ID] = r
			id, tenant := w.ID, w.Tenant
			wg.Go(func() {
				defer close(r.done)
				c := Consumer{Name: "webhook:" + strconv.FormatInt(id, 10), Tenant: tenant,
					Deliver: func(ctx context.Context, e ticket.Event) error { return s.Deliver(ctx, tenant, id, e) }}
				if err := run(cctx, c); err != nil && cctx.Err() == nil {
					s.log.ErrorContext(ctx, "webhook: consumer stopped", "webhook", id, "error", err)
				}
			})
		}
		for id, r := range live {
			if !want[id] {
				r.cancel()
				<-r.done
				delete(live, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
