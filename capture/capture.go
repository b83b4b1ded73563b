// Package capture turns mailbox messages into ticket.Inbound values: the
// MIME parser (Parse) and the plumbing every capture source shares
// (Deliver/Pipeline, Metrics, Status). The sources themselves live in
// capture/imapsource and capture/gmailsource.
//
// Parsing is lenient by design: real mail is often malformed, and a
// support desk must never drop a customer's message. Whatever cannot be
// read is noted in Inbound.ParseError; the raw bytes are always kept.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Blobs is the blob store port of a capture (package store implements
// it): where raw messages and decoded attachments go.
type Blobs interface {
	BlobCreator
	// CreateNew starts a blob whose content is most likely not stored
	// yet (a message its source never delivered before): the store may
	// skip looking for it among the stored blobs.
	CreateNew() (ticket.BlobWriter, error)
	// Sync makes every blob committed so far durable. A Committer calls
	// it for a group's blobs while the group before is in its
	// transaction; the sink's own transaction must still make sure of
	// them (package store's does), which then costs little.
	Sync(ctx context.Context) error
	// Open reads back the bytes stored under a hex SHA-256; an error
	// wrapping ticket.ErrNotFound when there are none.
	Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// BlobCreator starts blobs: what Parse needs to store attachments.
type BlobCreator interface {
	// Create starts a blob, written as a stream: the caller must Commit
	// (to get its content address) or Abort it.
	Create() (ticket.BlobWriter, error)
}

// Sink is where captured mail goes, in two steps (*ticket.Service
// implements it).
type Sink interface {
	// Prepare works out what ingesting in needs and no transaction does
	// (classification, a new ticket's priority with the CRM tier). It runs
	// on the goroutines that read and parse mail, never in a commit.
	Prepare(ctx context.Context, in ticket.Inbound) *ticket.Pending
	// Commit ingests prepared messages, in order, in one transaction.
	// One Result per message; the error is nil or a *ticket.BatchError
	// naming the messages not ingested.
	Commit(ctx context.Context, ps []*ticket.Pending) ([]ticket.Result, error)
}

// ParseOptions bounds Parse's memory: the text and HTML bodies kept in the
// row are each truncated at MaxBodyBytes (default DefaultMaxBodyBytes, 4 MiB)
// with a note; the raw blob always has everything.
type ParseOptions struct {
	MaxBodyBytes int
	// Now is the clock for ReceivedAt (default time.Now).
	Now func() time.Time
	// lineByLine makes parts' bodies be split one line at a time, without
	// the bulk copy of lines that cannot be delimiters: the reference the
	// differential fuzz compares the bulk path with.
	lineByLine bool
}

func (o ParseOptions) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// Delivery names where a message came from.
type Delivery struct {
	Tenant    string // "" means ticket.DefaultTenant
	Mailbox   string // configured mailbox name
	SourceKey string // "imap:<uidvalidity>:<uid>" or "gmail:<id>"
	// New says the source has never delivered this message before (an
	// IMAP UID above what the mailbox captured under the same
	// UIDVALIDITY): its raw bytes are stored without first looking for
	// them among the stored blobs (store.Blobs.CreateNew).
	New bool
	// Outgoing: from the mailbox's Sent folder (ticket.Inbound.Outgoing).
	Outgoing bool
}

// Deliver is Pipeline.Deliver with blobs, sink and opts bound for one
// call.
func Deliver(ctx context.Context, d Delivery, r io.Reader, blobs Blobs, sink Sink, opts ParseOptions) (ticket.Result, error) {
	p := Pipeline{Blobs: blobs, Sink: sink, Options: opts}
	return p.Deliver(ctx, d, r)
}

// Pipeline is Deliver with its dependencies bound, plus metrics and logging.
// The zero Metrics and Logger are allowed.
type Pipeline struct {
	Blobs   Blobs
	Sink    Sink
	Metrics *Metrics     // nil: no metrics
	Options ParseOptions //
	Logger  *slog.Logger // nil: slog.Default()
}

// Deliver stores, parses and ingests one message, in a transaction of its
// own: Prepare then Commit. It streams r into the blob store while parsing
// it, fills Tenant, Mailbox, SourceKey, Raw and ReceivedAt, and
// hands the result to the sink. Malformed mail is delivered with
// ParseError set; an error means the message was not ingested (I/O, blob
// store, or sink) and the source must not advance past it. It counts
// captured messages (not duplicates), parse errors and capture errors in
// p.Metrics. A source that delivers many messages uses a Committer.
func (p *Pipeline) Deliver(ctx context.Context, d Delivery, r io.Reader) (ticket.Result, error) {
	pr, err := p.Prepare(ctx, d, r)
	if err != nil {
		return ticket.Result{}, err
	}
	res, err := p.Commit(ctx, []*Prepared{pr})
	if err != nil {
		var be *ticket.BatchError
		if errors.As(err, &be) && len(be.Errs) == 1 {
			err = be.Errs[0] // one message: its own error
		}
		return ticket.Result{}, err
	}
	return res[0], nil
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

// Prepared is a message stored, parsed and prepared by the sink, ready to
// Commit. It holds the message's text and HTML (each at most
// ParseOptions.MaxBodyBytes); the raw bytes and attachments are in the
// blob store, not yet made durable.
type Prepared struct {
	Delivery Delivery
	Inbound  ticket.Inbound
	pending  *ticket.Pending
}

// Prepare is the first half of Deliver: it stores the raw bytes (streaming
// r into the blob store, parsing them on the way) and the attachments,
// fills Tenant, Mailbox, SourceKey, Raw and ReceivedAt, and lets the sink
// prepare the result. Nothing
// is ingested yet. An error means the message could not be read or
// stored; it is counted as a capture error.
func (p *Pipeline) Prepare(ctx context.Context, d Delivery, r io.Reader) (*Prepared, error) {
	pr, err := p.prepare(ctx, d, r)
	if err != nil {
		p.Metrics.CaptureError(d.Mailbox)
		return nil, err
	}
	return pr, nil
}

func (p *Pipeline) prepare(ctx context.Context, d Delivery, r io.Reader) (*Prepared, error) {
	create := p.Blobs.Create
	if d.New {
		create = p.Blobs.CreateNew
	}
	w, err := create()
	if err != nil {
		return nil, fmt.Errorf("capture: store raw message: %w", err)
	}
	// One read of the bytes: they go into the blob and the parser
	// together. What the parser leaves unread (it stops at the end of the
	// last part) is stored too. The body hash is left to the duplicate
	// look-up, which works it out only for a Message-ID already stored
	// (ticket.BodyKey).
	tee := io.TeeReader(ctxReader{ctx, r}, w)
	cw, _ := w.(ticket.CutWriter)
	in, err := parse(ctx, tee, p.Blobs, p.Options, cw)
	if err == nil {
		if _, err = io.Copy(io.Discard, tee); err != nil {
			err = fmt.Errorf("capture: read message: %w", err)
		}
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("capture: store raw message: %w", err)
	}
	in.Tenant = d.Tenant
	if in.Tenant == "" {
		in.Tenant = ticket.DefaultTenant
	}
	in.Mailbox = d.Mailbox
	in.SourceKey = d.SourceKey
	in.Outgoing = d.Outgoing
	in.Raw = ref
	in.ReceivedAt = p.Options.now()
	if in.ParseError != "" {
		p.Metrics.ParseError(d.Mailbox)
		p.logger().Warn("capture: malformed message kept", "mailbox", d.Mailbox, "source_key", d.SourceKey,
			"message_id", in.MessageID, "raw_sha256", ref.SHA256, "parse_error", in.ParseError)
	}
	return &Prepared{Delivery: d, Inbound: in, pending: p.Sink.Prepare(ctx, in)}, nil
}

// ctxReader stops reading when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
