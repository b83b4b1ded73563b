package chat

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives interactions and slash commands over Slack's
// Socket Mode (a WebSocket sidedesk opens, so no public URL is needed)
// until ctx ends; then it returns nil. Lost connections are re-opened with
// backoff. Every request is acknowledged at once (Slack wants an answer
// within 3 seconds); a slash command's acknowledgement carries its answer.
func (b *Bot) RunSocketMode(ctx context.Context) error {
	if b.opts.AppToken == "" {
		return errors.New("chat: socket mode needs Options.AppToken")
	}
	sm := socketmode.New(b.api, socketmode.OptionLog(slog.NewLogLogger(b.log.Handler(), slog.LevelDebug)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.socketEvents(ctx, sm)
	}()
	backoff := firstBackoff
	for ctx.Err() == nil {
		start := b.now()
		err := sm.RunContext(ctx)
		if ctx.Err() != nil {
			break
		}
		if b.now().Sub(start) > time.Minute {
			backoff = firstBackoff // it ran a while: a fresh failure
		}
		b.log.WarnContext(ctx, "chat: socket mode connection ended, reconnecting", "error", err, "wait", backoff)
		if b.sleep(ctx, backoff) != nil {
			break
		}
		backoff = min(backoff*2, b.opts.MaxBackoff)
	}
	cancel()
	<-done
	return nil
}

func (b *Bot) socketEvents(ctx context.Context, sm *socketmode.Client) {
	for {
		var ev socketmode.Event
		select {
		case <-ctx.Done():
			return
		case ev = <-sm.Events:
		}
		switch ev.Type {
		case socketmode.EventTypeConnected:
			b.log.InfoContext(ctx, "chat: socket mode connected")
		case socketmode.EventTypeInvalidAuth:
			b.log.ErrorContext(ctx, "chat: socket mode: Slack refused the app token")
		case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
			b.log.WarnContext(ctx, "chat: socket mode", "event", ev.Type, "data", ev.Data)
		case socketmode.EventTypeInteractive:
			cb, ok := ev.Data.(slack.InteractionCallback)
			if !ok || ev.Request == nil {
				continue
			}
			b.ack(ctx, sm, ev.Request, nil)
			if err := b.HandleInteraction(ctx, cb); err != nil {
				b.log.WarnContext(ctx, "chat: interaction", "error", err)
			}
		case socketmode.EventTypeSlashCommand:
			cmd, ok := ev.Data.(slack.SlashCommand)
			if !ok || ev.Request == nil {
				continue
			}
			b.ack(ctx, sm, ev.Request, b.HandleCommand(ctx, cmd))
		case socketmode.EventTypeEventsAPI:
			if ev.Request != nil {
				b.ack(ctx, sm, ev.Request, nil)
			}
		}
	}
}

func (b *Bot) ack(ctx context.Context, sm *socketmode.Client, req *socketmode.Request, payload any) {
	if err := sm.AckCtx(ctx, req.EnvelopeID, payload); err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "chat: socket mode ack", "envelope", req.EnvelopeID, "error", err)
	}
}
