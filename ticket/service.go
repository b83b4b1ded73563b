package ticket

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Options configures a Service. Zero fields take the documented defaults.
type Options struct {
	Store  Store        // required
	Logger *slog.Logger // default: discard
	Now    func() time.Time
	// TagPrefix is what precedes the number in a subject tag: "[#123]".
	TagPrefix string // default "#"
	// ReplySecret signs and verifies reply-address tokens
	// (support+t123.sig@example.com). Without it rule 3 is off.
	ReplySecret []byte
	// ReopenWindow: a reply to a ticket closed longer ago starts a new,
	// linked ticket. Default 30 days.
	ReopenWindow time.Duration
	// FloodLimit messages from one sender within FloodWindow: further ones
	// are held, not ticketed. Defaults 20 and 10 minutes.
	FloodLimit  int
	FloodWindow time.Duration
	// SubjectMatching enables threading by normalised subject + requester
	// as a last resort. Off by default (DESIGN.md "Threading").
	SubjectMatching bool
}

// Service applies the domain rules to inbound mail and agent actions.
type Service struct {
	opts Options
}

// NewService checks opts and fills defaults.
func NewService(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("ticket: Options.Store is required")
	}
	return &Service{opts: opts}, nil
}

// Ingest stores one captured message and applies it to a ticket, all in one
// transaction: dedupe, classify, loop guard, thread, write, outbox events.
// It is idempotent on (tenant, mailbox, source key) and on (Message-ID,
// body hash) within the tenant.
func (s *Service) Ingest(ctx context.Context, in Inbound) (Result, error) {
	return Result{}, errors.New("ticket: Ingest not implemented yet")
}
