package ticket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
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
	// IsAgent, when set, tells whether email is an active agent of tenant:
	// only agents can be assigned tickets (Update, Create). Nil: any
	// address is accepted.
	IsAgent func(ctx context.Context, tenant, email string) (bool, error)
	// Agents, when set, lists the active agents' addresses of tenant:
	// captured mail from one of them that threads onto a ticket they did
	// not open is their reply (copied to the support address). Read at
	// most once a minute per tenant. Nil: no mail is taken for an agent's.
	Agents func(ctx context.Context, tenant string) ([]string, error)
	// Priority sets a new ticket's priority from its first mail. Nil: the
	// sender's Importance / X-Priority headers only.
	Priority *Prioritizer
	// Tier, when set, returns the CRM account tier of a requester ("" when
	// unknown) for the Priority rules' tier map.
	Tier func(ctx context.Context, tenant, email string) string
}

// Defaults of Options.
const (
	DefaultTagPrefix    = "#"
	DefaultReopenWindow = 30 * 24 * time.Hour
	DefaultFloodLimit   = 20
	DefaultFloodWindow  = 10 * time.Minute
)

// maxReferenceLookups bounds how many References ids (the newest) threading
// looks up; a long thread's first ids name the same ticket as its last ones.
const maxReferenceLookups = 100

// Service applies the domain rules to inbound mail and agent actions.
type Service struct {
	opts     Options
	log      *slog.Logger
	subject  subjectRules
	agentsMu sync.Mutex
	agents   map[string]agentSet // by tenant: Options.Agents, read once a minute
}

type agentSet struct {
	emails map[string]bool
	at     time.Time
}

// fromAgent reports whether email is an active agent of tenant. It runs
// for every captured mail: the tenant's agents are read once a minute, not
// per sender. An error counts as "no": the mail is then filed as a
// customer's, which loses nothing.
func (s *Service) fromAgent(ctx context.Context, tenant, email string) bool {
	if s.opts.Agents == nil || email == "" {
		return false
	}
	s.agentsMu.Lock()
	defer s.agentsMu.Unlock()
	set, ok := s.agents[tenant]
	if !ok || time.Since(set.at) >= time.Minute {
		list, err := s.opts.Agents(ctx, tenant)
		if err != nil {
			s.log.WarnContext(ctx, "ticket: read the agents", "tenant", tenant, "err", err)
			return false
		}
		set = agentSet{emails: make(map[string]bool, len(list)), at: time.Now()}
		for _, e := range list {
			set.emails[NormEmail(e)] = true
		}
		if s.agents == nil {
			s.agents = map[string]agentSet{}
		}
		s.agents[tenant] = set
	}
	return set.emails[NormEmail(email)]
}

// NewService checks opts and fills defaults.
func NewService(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("ticket: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TagPrefix == "" {
		opts.TagPrefix = DefaultTagPrefix
	}
	if strings.ContainsAny(opts.TagPrefix, "[]\r\n") {
		return nil, fmt.Errorf("ticket: Options.TagPrefix %q: must not contain brackets or line breaks", opts.TagPrefix)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"ReopenWindow", &opts.ReopenWindow, DefaultReopenWindow}, {"FloodWindow", &opts.FloodWindow, DefaultFloodWindow}} {
		if *d.v < 0 {
			return nil, fmt.Errorf("ticket: Options.%s %v: must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if opts.FloodLimit < 0 {
		return nil, fmt.Errorf("ticket: Options.FloodLimit %d: must not be negative", opts.FloodLimit)
	}
	if opts.FloodLimit == 0 {
		opts.FloodLimit = DefaultFloodLimit
	}
	if opts.Priority == nil {
		p, err := NewPrioritizer(PriorityRules{})
		if err != nil {
			return nil, err
		}
		opts.Priority = p
	}
	return &Service{opts: opts, log: opts.Logger, subject: newSubjectRules(opts.TagPrefix)}, nil
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// Ingest stores one captured message and applies it to a ticket, all in one
// transaction: dedupe, classify, loop guard, thread, write, outbox events.
// It is idempotent on (tenant, mailbox, source key) and on (Message-ID,
// body hash) within the tenant.
//
// What it decides, in order (DESIGN.md "Threading" and "Loop guard"):
//   - a known source key, or a known Message-ID with the same body hash,
//     is a duplicate: only the source is recorded;
//   - more than FloodLimit messages from the sender within FloodWindow:
//     the message is stored held, on no ticket;
//   - the ticket is found by In-Reply-To, References (newest first), subject
//     tag (sender must be a participant), reply-address token, Outlook
//     conversation id, then (if enabled) normalised subject + requester;
//     a bounce first by the Message-ID of the mail it returns;
//   - bounces, auto-replies and list mail are attached to the ticket found
//     but never create, reopen or otherwise change one (not even its
//     updated_at: they are not activity an agent must see first); unthreaded
//     they are stored held;
//   - normal mail with no ticket found creates one; its requester is From
//     (who wrote the mail; Reply-To is kept on the message for answering,
//     but web forms and spoofers set it freely), first Reply-To when From is
//     empty. Normal mail on a solved or closed ticket reopens it, unless it
//     was closed longer than ReopenWindow ago: then a new ticket linked to
//     it is created. On a pending ticket it sets the ticket open.
func (s *Service) Ingest(ctx context.Context, in Inbound) (Result, error) {
	return s.commitOne(ctx, s.prepareIngest(ctx, in))
}

// commitOne ingests one prepared message in a transaction of its own.
func (s *Service) commitOne(ctx context.Context, p *pendingIngest) (Result, error) {
	var g *ingestion
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		// The store may run this again after a serialisation failure:
		// start from scratch every time.
		g = p.start(tx, s.now())
		return g.run(ctx)
	})
	if err == nil && g == nil {
		err = errors.New("store committed without running the transaction")
	}
	if err != nil {
		return Result{}, fmt.Errorf("ticket: ingest %s/%s: %w", p.in.Mailbox, p.in.SourceKey, err)
	}
	return s.finishIngest(ctx, g), nil
}

// pendingIngest is an Inbound normalised and classified, ready to run in a
// transaction (Ingest, Commit).
type pendingIngest struct {
	s           *Service
	in          Inbound
	class       Classification
	classReason string
	// requester, prio and prioWhy are what a new ticket from this mail
	// gets. They are worked out here, before the transaction: the CRM tier
	// look-up and the keyword scan must not hold the store's write lock.
	requester Address
	prio      Priority
	prioWhy   []string
	// fromAgent: normal mail sent by an agent of the tenant (a reply they
	// wrote in their own client with the support address in Cc or Bcc).
	fromAgent bool
	words     []string // Message.SearchWords
}

func (s *Service) prepareIngest(ctx context.Context, in Inbound) *pendingIngest {
	p := &pendingIngest{s: s, in: normalizeInbound(in)}
	p.class, p.classReason = classify(p.in)
	if p.class == ClassBounce && p.in.ReturnedMessageID == "" {
		// A plain-text bounce (qmail, Domino, gateways) quotes the
		// returned mail's header in its text instead of attaching it.
		p.in.ReturnedMessageID = returnedInText(p.in.Text, p.in.MessageID)
	}
	if wi, ok := s.opts.Store.(WordIndexer); ok {
		p.words = wi.SearchWords(p.in.Subject, p.in.Text, p.in.From.Email, p.in.From.Name)
	}
	p.requester = p.in.From
	if p.requester.Email == "" && len(p.in.ReplyTo) > 0 {
		p.requester = p.in.ReplyTo[0]
	}
	p.prio = PriorityNormal
	if p.class == ClassNormal && !p.in.Outgoing {
		p.fromAgent = s.fromAgent(ctx, p.in.Tenant, p.in.From.Email)
	}
	if p.class == ClassNormal { // only normal mail opens tickets
		tier := ""
		if s.opts.Tier != nil {
			tier = s.opts.Tier(ctx, p.in.Tenant, p.requester.Email)
		}
		p.prio, p.prioWhy = s.opts.Priority.prioritizeNormal(p.in, tier)
	}
	return p
}

// start begins a fresh attempt of p in tx.
func (p *pendingIngest) start(tx Tx, now time.Time) *ingestion {
	g := &ingestion{s: p.s, tx: tx, in: &p.in, now: now, class: p.class, reason: p.classReason, p: p}
	g.res.Classification = p.class
	return g
}

// finishIngest logs a committed ingestion's notes and returns its result.
func (s *Service) finishIngest(ctx context.Context, g *ingestion) Result {
	in := g.in
	for _, n := range g.notes {
		s.log.InfoContext(ctx, n.msg, append(n.args, "tenant", in.Tenant, "mailbox", in.Mailbox, "message_id", in.MessageID)...)
	}
	r := g.res
	s.log.DebugContext(ctx, "ticket: ingested", "tenant", in.Tenant, "mailbox", in.Mailbox, "source", in.SourceKey,
		"message", r.MessageID, "ticket", r.TicketID, "number", r.TicketNumber, "duplicate", r.Duplicate,
		"new_ticket", r.NewTicket, "reopened", r.Reopened, "held", r.Held, "class", g.class, "class_reason", g.reason)
	return r
}

// ingestion is the state of one Ingest attempt inside its transaction.
type ingestion struct {
	s      *Service
	tx     Tx
	in     *Inbound
	now    time.Time
	class  Classification
	reason string // why class
	res    Result
	notes  []note // logged after commit, so a retried attempt logs nothing twice
	p      *pendingIngest
}

type note struct {
	msg  string
	args []any
}

func (g *ingestion) note(msg string, args ...any) { g.notes = append(g.notes, note{msg, args}) }

func (g *ingestion) run(ctx context.Context) error {
	if dup, err := g.dedupe(ctx); err != nil || dup {
		return err
	}
	msg := g.message()
	if g.in.Outgoing {
		return g.outgoing(ctx, &msg)
	}
	if g.p.fromAgent {
		// An agent's own answer, copied to the support address (Cc, Bcc):
		// on the ticket it threads onto it is their outgoing reply. Mail
		// an agent writes about no ticket, or on a ticket they opened
		// themselves, stays a customer's mail.
		t, _, err := g.thread(ctx)
		if err != nil {
			return err
		}
		if t.ID != 0 && !strings.EqualFold(t.Requester.Email, msg.From.Email) {
			g.note("ticket: an agent's copied reply filed as outgoing", "from", msg.From.Email, "ticket", t.Number)
			return g.outgoing(ctx, &msg)
		}
	}
	if from := msg.From.Email; from != "" {
		// The window is on the mail's own Date, not on capture time: an
		// initial sync of a year of backlog must not hold a customer's
		// twenty-first mail as a flood, while a loop's mails, dated as
		// they are sent, still fall into one window.
		at := g.in.Date
		if at.IsZero() || at.After(g.now) {
			at = g.now
		}
		n, err := g.tx.CountFromSender(ctx, g.in.Tenant, from, at.Add(-g.s.opts.FloodWindow), at, g.s.opts.FloodLimit)
		if err != nil {
			return fmt.Errorf("count from sender: %w", err)
		}
		if n >= g.s.opts.FloodLimit {
			g.note("ticket: flood limit reached, message held", "from", from, "count", n, "window", g.s.opts.FloodWindow)
			return g.hold(ctx, &msg, "flood")
		}
	}
	if g.class == ClassFeedback {
		// A complaint about mail we sent is for the admins, not a
		// customer's conversation: never a ticket, never on one.
		return g.hold(ctx, &msg, "feedback")
	}
	t, rule, err := g.thread(ctx)
	if err != nil {
		return err
	}
	if g.class != ClassNormal {
		if t.ID == 0 {
			return g.hold(ctx, &msg, "unthreaded_"+string(g.class))
		}
		return g.attach(ctx, &msg, t, rule, false)
	}
	if t.ID == 0 {
		return g.create(ctx, &msg, "new", 0)
	}
	if t.Status == StatusSolved || t.Status == StatusClosed {
		closed := t.ClosedAt
		if closed.IsZero() { // closed without a time: its last change is the best guess
			closed = t.UpdatedAt
		}
		if closed.Before(g.now.Add(-g.s.opts.ReopenWindow)) {
			return g.create(ctx, &msg, "reopen_window_passed", t.ID)
		}
	}
	return g.attach(ctx, &msg, t, rule, true)
}

// dedupe answers a message stored before. It reports whether it did.
func (g *ingestion) dedupe(ctx context.Context) (bool, error) {
	in := g.in
	if in.SourceKey != "" {
		id, err := g.tx.SourceMessage(ctx, in.Tenant, in.Mailbox, in.SourceKey)
		switch {
		case err == nil:
			m, err := g.tx.Message(ctx, in.Tenant, id)
			if err != nil {
				return false, fmt.Errorf("load message %d of source: %w", id, err)
			}
			return true, g.duplicate(ctx, m, "")
		case !errors.Is(err, ErrNotFound):
			return false, fmt.Errorf("source look-up: %w", err)
		}
	}
	var (
		m   Message
		err error
		by  = "message_id_and_body"
	)
	switch {
	case in.MessageID == "" && in.Raw.SHA256 != "":
		by = "raw_bytes"
		// No Message-ID to go by: the same bytes are the same mail.
		m, err = g.tx.MessageByRaw(ctx, in.Tenant, in.Raw.SHA256)
	case in.MessageID == "" || in.BodyHash == "" && in.Raw.SHA256 == "":
		return false, nil
	default:
		m, err = g.tx.MessageByBody(ctx, in.Tenant, in.MessageID, BodyKey{Hash: in.BodyHash, Raw: in.Raw.SHA256})
	}
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("message-id look-up: %w", err)
	}
	if err := g.addSource(ctx, m.ID); err != nil {
		return false, err
	}
	return true, g.duplicate(ctx, m, by)
}

// duplicate answers a mail stored before as m. by says how a new copy
// (another mailbox, alias or folder) was matched: its log line names the
// stored message; a source fetched again (after a crash) is matched by
// its key (by "") and logs nothing.
func (g *ingestion) duplicate(ctx context.Context, m Message, by string) error {
	g.res = Result{MessageID: m.ID, TicketID: m.TicketID, Duplicate: true, Held: m.Held, Classification: m.Classification}
	if m.TicketID != 0 {
		t, err := g.tx.Ticket(ctx, g.in.Tenant, m.TicketID)
		if err != nil {
			return fmt.Errorf("load ticket %d: %w", m.TicketID, err)
		}
		g.res.TicketNumber = t.Number
	}
	if by != "" {
		g.note("ticket: mail already stored; this copy is recorded as another source of it", "matched_by", by,
			"stored_message", m.ID, "stored_mailbox", m.Mailbox, "stored_message_id", m.MessageID,
			"ticket_number", g.res.TicketNumber, "source", g.in.SourceKey)
	}
	return nil
}

func (g *ingestion) addSource(ctx context.Context, messageID int64) error {
	if g.in.SourceKey == "" {
		return nil
	}
	if err := g.tx.AddSource(ctx, g.in.Tenant, g.in.Mailbox, g.in.SourceKey, messageID); err != nil {
		return fmt.Errorf("add source: %w", err)
	}
	return nil
}

// message builds the row to store from the inbound mail.
func (g *ingestion) message() Message {
	in := g.in
	date := in.Date
	if date.IsZero() {
		date = in.ReceivedAt
	}
	if date.IsZero() {
		date = g.now
	}
	return Message{
		Tenant:         in.Tenant,
		Mailbox:        in.Mailbox,
		MessageID:      in.MessageID,
		InReplyTo:      in.InReplyTo,
		References:     in.References,
		ConversationID: in.ConversationID,
		Direction:      DirectionInbound,
		Classification: g.class,
		From:           in.From,
		To:             in.To,
		Cc:             in.Cc,
		ReplyTo:        in.ReplyTo,
		Subject:        in.Subject,
		Date:           date.UTC(),
		Text:           in.Text,
		HTML:           in.HTML,
		Raw:            in.Raw,
		BodyHash:       in.BodyHash,
		ParseError:     in.ParseError,
		ParseFlags:     in.ParseFlags,
		Attachments:    append([]Attachment(nil), in.Attachments...),
		CreatedAt:      g.now,
		SearchWords:    g.p.words,
	}
}

// store inserts msg and records its source.
func (g *ingestion) store(ctx context.Context, msg *Message) error {
	if err := g.tx.InsertMessage(ctx, msg); err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	g.res.MessageID = msg.ID
	return g.addSource(ctx, msg.ID)
}

// hold stores msg on no ticket.
func (g *ingestion) hold(ctx context.Context, msg *Message, reason string) error {
	msg.TicketID, msg.Held = 0, true
	if err := g.store(ctx, msg); err != nil {
		return err
	}
	g.res.Held = true
	return g.event(ctx, EventMessageHeld, 0, msg.ID, EventPayload{MessageID: msg.MessageID, Reason: reason, Classification: g.class})
}

// create opens a new ticket for msg.
func (g *ingestion) create(ctx context.Context, msg *Message, reason string, linked int64) error {
	in := g.in
	requester, prio, why := g.p.requester, g.p.prio, g.p.prioWhy
	t := Ticket{
		Tenant:         in.Tenant,
		Subject:        strings.TrimSpace(in.Subject),
		Status:         StatusNew,
		Priority:       prio,
		Requester:      requester,
		Mailbox:        in.Mailbox,
		ConversationID: in.ConversationID,
		LinkedTicketID: linked,
		CreatedAt:      g.now,
		UpdatedAt:      g.now,
	}
	if err := g.tx.CreateTicket(ctx, &t); err != nil {
		return fmt.Errorf("create ticket: %w", err)
	}
	msg.TicketID = t.ID
	if err := g.store(ctx, msg); err != nil {
		return err
	}
	g.res.TicketID, g.res.TicketNumber, g.res.NewTicket = t.ID, t.Number, true
	if err := g.event(ctx, EventTicketCreated, t.ID, msg.ID, EventPayload{
		TicketNumber: t.Number, MessageID: msg.MessageID, Reason: reason, LinkedTicketID: linked,
		Priority: prio, PriorityReasons: why,
	}); err != nil {
		return err
	}
	return g.event(ctx, EventMessageReceived, t.ID, msg.ID, EventPayload{
		TicketNumber: t.Number, MessageID: msg.MessageID, Reason: "new_ticket", Classification: g.class,
	})
}

// attach adds msg to t. A customer's (normal) message sets a pending,
// solved or closed ticket open and bumps updated_at; other mail leaves the
// ticket untouched.
func (g *ingestion) attach(ctx context.Context, msg *Message, t Ticket, rule string, customer bool) error {
	msg.TicketID = t.ID
	if err := g.store(ctx, msg); err != nil {
		return err
	}
	g.res.TicketID, g.res.TicketNumber = t.ID, t.Number
	if err := g.event(ctx, EventMessageReceived, t.ID, msg.ID, EventPayload{
		TicketNumber: t.Number, MessageID: msg.MessageID, Reason: rule, Classification: g.class,
	}); err != nil {
		return err
	}
	if rule == RuleReturnedMessage {
		if err := g.bounced(ctx, t, msg); err != nil {
			return err
		}
	}
	if !customer {
		return nil
	}
	old := t.Status
	reason := ""
	switch t.Status {
	case StatusSolved, StatusClosed:
		t.Status, t.ClosedAt, reason = StatusOpen, time.Time{}, "reopened"
		g.res.Reopened = true
	case StatusPending:
		t.Status, reason = StatusOpen, "customer_reply"
	}
	t.UpdatedAt = g.now
	if err := g.tx.UpdateTicket(ctx, t); err != nil {
		return fmt.Errorf("update ticket %d: %w", t.ID, err)
	}
	if reason == "" {
		return nil
	}
	return g.event(ctx, EventTicketUpdated, t.ID, msg.ID, EventPayload{
		TicketNumber: t.Number, MessageID: msg.MessageID, Reason: reason,
		Changes: map[string]FieldChange{"status": {From: string(old), To: string(t.Status)}},
	})
}

// bounced marks the outgoing message of ours that a bounce returns as
// failed, with the bounce's reason, unless it is failed already.
func (g *ingestion) bounced(ctx context.Context, t Ticket, bounce *Message) error {
	orig, err := g.tx.MessageByBody(ctx, g.in.Tenant, g.in.ReturnedMessageID, BodyKey{})
	if errors.Is(err, ErrNotFound) {
		return nil // not ours (the customer's own mail bouncing back to them)
	}
	if err != nil {
		return fmt.Errorf("bounced message look-up: %w", err)
	}
	d, err := g.tx.Delivery(ctx, g.in.Tenant, orig.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || d.State == DeliveryFailed {
		return err
	}
	d.State, d.LastError = DeliveryFailed, "bounced: "+bounceReason(bounce.Text)
	if err := g.tx.UpdateDelivery(ctx, d); err != nil {
		return err
	}
	g.note("ticket: outgoing message bounced", "message", orig.ID, "reason", d.LastError)
	return g.event(ctx, EventMessageFailed, t.ID, orig.ID, EventPayload{TicketNumber: t.Number,
		MessageID: orig.MessageID, Reason: d.LastError})
}

// bounceReason is what a bounce says went wrong: its Diagnostic-Code
// (RFC 3464) or the line with the server's answer ("said: 550 5.1.1 ...",
// with its continuation lines), else its first line of text; at most 300
// bytes.
func bounceReason(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	reason, first := "", ""
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(t, "Diagnostic-Code:"); ok {
			reason = strings.TrimSpace(v)
			break
		}
		if first == "" && t != "" {
			first = t
		}
		if smtpReplyRE.MatchString(t) || strings.Contains(t, " said: ") {
			reason = t
			for _, next := range lines[i+1:] {
				if next == "" || (next[0] != ' ' && next[0] != '\t') {
					break
				}
				reason += " " + strings.TrimSpace(next)
			}
			break
		}
	}
	if reason == "" {
		reason = first
	}
	if len(reason) > 300 {
		reason = strings.ToValidUTF8(reason[:300], "")
	}
	if reason == "" {
		reason = "the mail was returned"
	}
	return reason
}

// smtpReplyRE finds an SMTP reply with its enhanced status code: "550 5.1.1".
var smtpReplyRE = regexp.MustCompile(`\b[45][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3}\b`)

func (g *ingestion) event(ctx context.Context, typ string, ticketID, messageID int64, p EventPayload) error {
	return appendEvent(ctx, g.tx, g.in.Tenant, typ, ticketID, messageID, p, g.now)
}

// outgoing files mail an agent sent from their own mail client (captured
// from the Sent folder) on the ticket it threads onto, as an outgoing
// message, and sets the ticket pending (the customer owes the next
// answer). Unthreaded (not about a ticket), it is kept held.
func (g *ingestion) outgoing(ctx context.Context, msg *Message) error {
	msg.Direction, msg.Classification, g.class = DirectionOutgoing, ClassNormal, ClassNormal
	t, rule, err := g.thread(ctx)
	if err != nil {
		return err
	}
	if t.ID == 0 {
		return g.hold(ctx, msg, "unthreaded_outgoing")
	}
	msg.TicketID = t.ID
	if err := g.store(ctx, msg); err != nil {
		return err
	}
	g.res.TicketID, g.res.TicketNumber = t.ID, t.Number
	if err := g.event(ctx, EventMessageReceived, t.ID, msg.ID, EventPayload{
		TicketNumber: t.Number, MessageID: msg.MessageID, Reason: rule, Classification: ClassNormal,
		Actor: msg.From.Email,
	}); err != nil {
		return err
	}
	if t.Status != StatusNew && t.Status != StatusOpen {
		return nil // pending already, or solved by the agent before the mail was captured
	}
	old := t.Status
	t.Status, t.UpdatedAt = StatusPending, g.now
	if err := g.tx.UpdateTicket(ctx, t); err != nil {
		return fmt.Errorf("update ticket %d: %w", t.ID, err)
	}
	return g.event(ctx, EventTicketUpdated, t.ID, msg.ID, EventPayload{
		TicketNumber: t.Number, MessageID: msg.MessageID, Reason: "agent_reply", Actor: msg.From.Email,
		Changes: map[string]FieldChange{"status": {From: string(old), To: string(t.Status)}},
	})
}
