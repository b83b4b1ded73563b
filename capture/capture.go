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

// Blobs is where raw messages and decoded attachments go (package store
// implements it).
type Blobs interface {
	// Put stores everything r yields and names it by content.
	Put(ctx context.Context, r io.Reader) (ticket.BlobRef, error)
	// Open reads back the bytes stored under a hex SHA-256.
	Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// Sink consumes parsed mail (*ticket.Service implements it).
type Sink interface {
	Ingest(ctx context.Context, in ticket.Inbound) (ticket.Result, error)
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
}

// Deliver is what every capture source calls per message: it stores the raw
// bytes (streaming r into the blob store) and parses them, fills
// Tenant, Mailbox, SourceKey, Raw and ReceivedAt, and hands the
// result to sink.Ingest. Malformed mail is delivered with ParseError set; an
// error means the message was not ingested (I/O, blob store, or sink) and
// the source must not advance past it.
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

// Deliver stores, parses and ingests one message; see the package func
// Deliver. It counts captured messages (not duplicates), parse errors and
// capture errors in p.Metrics.
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

// Prepared is a message stored and parsed, ready to Commit. It holds the
// message's text and HTML (each at most ParseOptions.MaxBodyBytes); the
// raw bytes and attachments are in the blob store.
type Prepared struct {
	Delivery Delivery
	Inbound  ticket.Inbound
}

// Prepare is the first half of Deliver: it stores the raw bytes (streaming
// r into the blob store, parsing them on the way) and the attachments, and fills
// Tenant, Mailbox, SourceKey, Raw and ReceivedAt. Nothing is
// ingested yet: the blobs stay pending (see store.Blobs) until Commit. An
// error means the message could not be read or stored; it is counted as a
// capture error.
func (p *Pipeline) Prepare(ctx context.Context, d Delivery, r io.Reader) (*Prepared, error) {
	pr, err := p.prepare(ctx, d, r)
	if err != nil {
		p.Metrics.CaptureError(d.Mailbox)
		return nil, err
	}
	return pr, nil
}

func (p *Pipeline) prepare(ctx context.Context, d Delivery, r io.Reader) (*Prepared, error) {
	var ref ticket.BlobRef
	var in ticket.Inbound
	var err error
	if bc, ok := p.Blobs.(blobCreator); ok {
		create := bc.Create
		if nc, ok := p.Blobs.(newBlobCreator); ok && d.New {
			create = nc.CreateNew
		}
		ref, in, err = p.teeParse(ctx, r, create)
	} else {
		ref, in, err = p.putParse(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	in.Tenant = d.Tenant
	if in.Tenant == "" {
		in.Tenant = ticket.DefaultTenant
	}
	in.Mailbox = d.Mailbox
	in.SourceKey = d.SourceKey
	in.Raw = ref
	// BodyHash stays empty: the store works it out from the raw blob only
	// when a stored message has the same Message-ID (ticket.Tx
	// MessageByBody), instead of a second SHA-256 over every message.
	in.ReceivedAt = p.Options.now()
	if pc, ok := p.Sink.(precomputer); ok {
		pc.Precompute(ctx, &in) // here, on a preparing goroutine, not in the commit's
	}
	if in.ParseError != "" {
		p.Metrics.ParseError(d.Mailbox)
		p.logger().Warn("capture: malformed message kept", "mailbox", d.Mailbox, "source_key", d.SourceKey,
			"message_id", in.MessageID, "raw_sha256", ref.SHA256, "parse_error", in.ParseError)
	}
	return &Prepared{Delivery: d, Inbound: in}, nil
}

// newBlobCreator also takes blobs known to be new (store.Blobs).
type newBlobCreator interface {
	CreateNew() (ticket.BlobWriter, error)
}

// precomputer is a sink that can work out ahead what needs no
// transaction (ticket.Service).
type precomputer interface {
	Precompute(ctx context.Context, in *ticket.Inbound)
}

// blobCreator is a blob store that takes a blob as a stream of writes
// (store.Blobs).
type blobCreator interface {
	Create() (ticket.BlobWriter, error)
}

// teeParse parses the message as it streams into the blob store: the
// bytes are read once, and a message is parsed without being read back.
// What the parser leaves unread (it stops at the end of the last part)
// is stored too: the raw bytes are kept whole.
func (p *Pipeline) teeParse(ctx context.Context, r io.Reader, create func() (ticket.BlobWriter, error)) (ticket.BlobRef, ticket.Inbound, error) {
	w, err := create()
	if err != nil {
		return ticket.BlobRef{}, ticket.Inbound{}, fmt.Errorf("capture: store raw message: %w", err)
	}
	tee := io.TeeReader(ctxReader{ctx, r}, w)
	in, err := Parse(ctx, tee, p.Blobs, p.Options)
	if err == nil {
		if _, err = io.Copy(io.Discard, tee); err != nil {
			err = fmt.Errorf("capture: read message: %w", err)
		}
	}
	if err != nil {
		w.Abort()
		return ticket.BlobRef{}, in, err
	}
	ref, err := w.Commit(ctx)
	if err != nil {
		return ticket.BlobRef{}, in, fmt.Errorf("capture: store raw message: %w", err)
	}
	return ref, in, nil
}

// putParse stores the message, then reads it back to parse it: for blob
// stores that only Put.
func (p *Pipeline) putParse(ctx context.Context, r io.Reader) (ticket.BlobRef, ticket.Inbound, error) {
	ref, err := p.Blobs.Put(ctx, r)
	if err != nil {
		return ticket.BlobRef{}, ticket.Inbound{}, fmt.Errorf("capture: store raw message: %w", err)
	}
	rc, err := p.Blobs.Open(ctx, ref.SHA256)
	if err != nil {
		return ticket.BlobRef{}, ticket.Inbound{}, fmt.Errorf("capture: reopen raw message: %w", err)
	}
	defer rc.Close()
	in, err := Parse(ctx, rc, p.Blobs, p.Options)
	return ref, in, err
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
