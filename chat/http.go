package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxRequestBody bounds a Slack request body (interaction payloads with
// full message blocks stay well below).
const maxRequestBody = 1 << 20

// Register mounts the HTTP endpoints Slack calls in HTTP mode:
// POST /slack/events, /slack/interactions and /slack/commands. Every
// request must carry a valid v0 signature made with the signing secret
// and a timestamp within five minutes, or it gets 401
// (https://api.slack.com/authentication/verifying-requests-from-slack);
// the same signed request a second time (a replay) gets 409.
func (b *Bot) Register(mux *http.ServeMux) {
	mux.Handle("POST /slack/events", b.verified(b.serveEvents))
	mux.Handle("POST /slack/interactions", b.verified(b.serveInteractions))
	mux.Handle("POST /slack/commands", b.verified(b.serveCommands))
}

// replayWindow is how long a signed Slack request's signature is
// remembered after its timestamp: the five minutes slack-go accepts it for,
// plus a minute for clock skew.
const replayWindow = 6 * time.Minute

// verified checks the request signature over the raw body before next
// sees the request (with the body restored).
func (b *Bot) verified(next func(http.ResponseWriter, *http.Request, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.opts.SigningSecret == "" {
			http.Error(w, "slack endpoints are not configured", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err != nil {
			http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		sv, err := slack.NewSecretsVerifier(r.Header, b.opts.SigningSecret)
		if err == nil {
			_, _ = sv.Write(body) // hash.Hash writes never fail
			err = sv.Ensure()
		}
		if err != nil {
			b.log.WarnContext(r.Context(), "chat: rejected Slack request", "path", r.URL.Path,
				"remote", r.RemoteAddr, "error", err)
			http.Error(w, "invalid or stale Slack signature", http.StatusUnauthorized)
			return
		}
		// A valid signature is accepted for five minutes: remember it that
		// long (and a minute for clock skew), so that a captured request
		// replayed in that window is refused, not acted on twice.
		ts, _ := strconv.ParseInt(r.Header.Get("X-Slack-Request-Timestamp"), 10, 64)
		until := time.Unix(ts, 0).Add(replayWindow)
		first, err := b.opts.Store.ClaimOnce(r.Context(), "slack:"+r.Header.Get("X-Slack-Signature"), until)
		if err != nil {
			b.log.ErrorContext(r.Context(), "chat: replay check", "path", r.URL.Path, "error", err)
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable) // Slack retries
			return
		}
		if !first {
			b.log.WarnContext(r.Context(), "chat: refused a replayed Slack request", "path", r.URL.Path,
				"remote", r.RemoteAddr)
			http.Error(w, "replayed request", http.StatusConflict)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next(w, r, body)
	})
}

func (b *Bot) serveEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		http.Error(w, "bad event payload", http.StatusBadRequest)
		return
	}
	if ev.Type == slackevents.URLVerification {
		var ch slackevents.ChallengeResponse
		if err := json.Unmarshal(body, &ch); err != nil {
			http.Error(w, "bad challenge", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, ch.Challenge)
		return
	}
	// No Events API subscriptions are needed yet; acknowledge whatever comes.
	w.WriteHeader(http.StatusOK)
}

func (b *Bot) serveInteractions(w http.ResponseWriter, r *http.Request, _ []byte) {
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "bad interaction payload", http.StatusBadRequest)
		return
	}
	// Slack shows the user an error when the answer takes more than 3
	// seconds (https://api.slack.com/interactivity/handling#acknowledgment_response),
	// and an action makes Slack API calls of its own (who the user is, an
	// ephemeral reply): acknowledge first, act after, as Socket Mode does.
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), actionTimeout)
	b.actions.Go(func() {
		defer cancel()
		if err := b.HandleInteraction(ctx, cb); err != nil {
			b.log.WarnContext(ctx, "chat: interaction", "error", err)
		}
	})
}

// actionTimeout bounds an interaction acted on after its HTTP answer.
const actionTimeout = time.Minute

func (b *Bot) serveCommands(w http.ResponseWriter, r *http.Request, _ []byte) {
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "bad command payload", http.StatusBadRequest)
		return
	}
	msg := b.HandleCommand(r.Context(), cmd)
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(msg); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		b.log.WarnContext(r.Context(), "chat: write command answer", "error", err)
	}
}
