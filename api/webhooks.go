package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sidedesk/sidedesk/ticket"
)

// Webhooks manages outbound webhook subscriptions (package webhook).
type Webhooks interface {
	Create(ctx context.Context, tenant, url string, types []string) (ticket.Webhook, string, error)
	List(ctx context.Context, tenant string) ([]ticket.Webhook, error)
	Delete(ctx context.Context, tenant string, id int64) error
	Deliveries(ctx context.Context, tenant string, id int64, limit int) ([]ticket.WebhookDelivery, error)
	RotateSecret(ctx context.Context, tenant string, id int64) (string, error)
	Redeliver(ctx context.Context, tenant string, id int64, e ticket.Event) ([]ticket.WebhookDelivery, error)
}

type webhookJSON struct {
	ID             int64    `json:"id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"` // [] is every type
	Secret         string   `json:"secret,omitempty"`
	CreatedAt      string   `json:"created_at"`
	FailingSince   *string  `json:"failing_since"`
	DisabledAt     *string  `json:"disabled_at"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
}

func toWebhookJSON(w ticket.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, URL: w.URL, Events: append([]string{}, w.EventTypes...), CreatedAt: fmtTime(w.CreatedAt),
		FailingSince: fmtOptTime(w.FailingSince), DisabledAt: fmtOptTime(w.DisabledAt), DisabledReason: w.DisabledReason}
}

// postWebhook serves POST /api/v1/webhooks: 201 with the subscription and
// its secret, shown this once.
func (s *Server) postWebhook(w http.ResponseWriter, r *http.Request) {
	var b struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if !s.decodeBody(w, r, 64<<10, "the subscription", &b) {
		return
	}
	hook, secret, err := s.opts.Webhooks.Create(r.Context(), tenantOf(r), b.URL, b.Events)
	if err != nil {
		s.writeStoreError(w, r, "webhook", err)
		return
	}
	out := toWebhookJSON(hook)
	out.Secret = secret
	w.Header().Set("Location", s.link("/api/v1/webhooks/%d", hook.ID))
	s.writeJSON(w, r, http.StatusCreated, out)
}

// listWebhooks serves GET /api/v1/webhooks (secrets never shown again).
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	hooks, err := s.opts.Webhooks.List(r.Context(), tenantOf(r))
	if err != nil {
		s.writeStoreError(w, r, "webhooks", err)
		return
	}
	out := struct {
		Webhooks []webhookJSON `json:"webhooks"`
	}{Webhooks: []webhookJSON{}}
	for _, h := range hooks {
		out.Webhooks = append(out.Webhooks, toWebhookJSON(h))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// deleteWebhook serves DELETE /api/v1/webhooks/{id}: 204.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	if err := s.opts.Webhooks.Delete(r.Context(), tenantOf(r), id); err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("webhook %d", id), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookDeliveries serves GET /api/v1/webhooks/{id}/deliveries?limit=N.
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit: %q is not a number from 1 to 1000", v), nil)
			return
		}
		limit = n
	}
	ds, err := s.opts.Webhooks.Deliveries(r.Context(), tenantOf(r), id, limit)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("webhook %d", id), err)
		return
	}
	out := struct {
		Deliveries []hookDeliveryJSON `json:"deliveries"`
	}{Deliveries: []hookDeliveryJSON{}}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, hookDeliveryOf(d))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

type hookDeliveryJSON struct {
	EventID    int64  `json:"event_id"`
	WebhookID  string `json:"webhook_id"` // the message's webhook-id header
	Type       string `json:"type"`
	AttemptAt  string `json:"attempt_at"`
	StatusCode int    `json:"status_code"` // 0: no answer
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

func hookDeliveryOf(d ticket.WebhookDelivery) hookDeliveryJSON {
	return hookDeliveryJSON{EventID: d.EventID, WebhookID: d.MsgID, Type: d.EventType,
		AttemptAt: fmtTime(d.AttemptAt), StatusCode: d.StatusCode, Error: d.Error, DurationMS: d.Duration.Milliseconds()}
}

// redeliver serves POST /api/v1/webhooks/{id}/redeliver {"event_id": N}:
// the event is sent to the subscription again now (same webhook-id, fresh
// signature), disabled or not; 200 with the attempts.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var b struct {
		EventID int64 `json:"event_id"`
	}
	if !s.decodeBody(w, r, 4<<10, "the redelivery", &b) {
		return
	}
	if b.EventID <= 0 {
		s.writeError(w, r, http.StatusBadRequest, "invalid_request", "event_id: required, the id of an event (GET /api/v1/events, or the delivery log)", nil)
		return
	}
	es, err := s.opts.Events.TenantEvents(r.Context(), tenantOf(r), b.EventID-1, 1, nil)
	if err != nil {
		s.writeStoreError(w, r, "events", err)
		return
	}
	if len(es) == 0 || es[0].ID != b.EventID {
		s.writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("event %d not found", b.EventID), nil)
		return
	}
	ds, err := s.opts.Webhooks.Redeliver(r.Context(), tenantOf(r), id, es[0])
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("webhook %d", id), err)
		return
	}
	out := struct {
		Deliveries []hookDeliveryJSON `json:"deliveries"`
	}{Deliveries: []hookDeliveryJSON{}}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, hookDeliveryOf(d))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// rotateWebhookSecret serves POST /api/v1/webhooks/{id}/rotate-secret:
// {"secret": new} (shown once); the old secret keeps signing beside it for
// a day.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	secret, err := s.opts.Webhooks.RotateSecret(r.Context(), tenantOf(r), id)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("webhook %d", id), err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"id": id, "secret": secret, "previous_valid_for": "24h"})
}
