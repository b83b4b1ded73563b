package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Threading rules, as named in logs and in message.received payloads.
const (
	RuleReturnedMessage = "returned_message" // a bounce's original (ReturnedMessageID)
	RuleInReplyTo       = "in_reply_to"
	RuleReferences      = "references"
	RuleSubjectTag      = "subject_tag"
	RuleReplyToken      = "reply_token"
	RuleConversation    = "conversation"
	RuleSubject         = "subject"
	// RuleLateParent: stored replies name this mail; it arrived after them.
	RuleLateParent = "late_parent"
	// RuleSharedRoot: other stored replies name the same parent or thread
	// root, which was never captured.
	RuleSharedRoot = "shared_root"
)

// openTicketsForSubject bounds how many open tickets of a requester subject
// matching compares.
const openTicketsForSubject = 20

// thread finds the ticket g's message belongs to (DESIGN.md "Threading").
// It returns a zero Ticket when no rule matched, and the rule that did. A
// merged ticket leads to the ticket it was merged into.
func (g *ingestion) thread(ctx context.Context) (Ticket, string, error) {
	t, rule, err := g.threadRules(ctx)
	if err != nil || t.ID == 0 {
		return t, rule, err
	}
	t, err = followMerges(ctx, g.tx, t)
	return t, rule, err
}

func (g *ingestion) threadRules(ctx context.Context) (Ticket, string, error) {
	in, tx := g.in, g.tx
	// 1. Message-ID references: the bounce's original first, then
	// In-Reply-To, then References newest (last) first.
	type ref struct{ id, rule string }
	var refs []ref
	if g.class == ClassBounce && in.ReturnedMessageID != "" {
		refs = append(refs, ref{in.ReturnedMessageID, RuleReturnedMessage})
	}
	if in.InReplyTo != "" {
		refs = append(refs, ref{in.InReplyTo, RuleInReplyTo})
	}
	for i, n := len(in.References)-1, 0; i >= 0 && n < maxReferenceLookups; i, n = i-1, n+1 {
		refs = append(refs, ref{in.References[i], RuleReferences})
	}
	seen := map[string]bool{in.MessageID: true} // never thread onto our own Message-ID
	for _, r := range refs {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		ids, err := tx.TicketIDsByMessageIDs(ctx, in.Tenant, []string{r.id})
		if err != nil {
			return Ticket{}, "", fmt.Errorf("thread by %s: %w", r.rule, err)
		}
		if len(ids) == 0 {
			continue
		}
		t, err := tx.Ticket(ctx, in.Tenant, ids[0])
		if ok, err := found(err); err != nil || ok {
			return t, r.rule, err
		}
	}

	// 1b. A parent captured after its replies (a backlog sync, two
	// mailboxes, a slow server) joins their ticket.
	if in.MessageID != "" {
		if t, ok, err := g.ticketReferencing(ctx, []string{in.MessageID}); err != nil || ok {
			return t, RuleLateParent, err
		}
	}
	// 1c. None of the mail's references is stored: replies that name the
	// same parent or root are of the same thread (JWZ threading keeps the
	// missing root as a container).
	var roots []string
	if in.InReplyTo != "" {
		roots = append(roots, in.InReplyTo)
	}
	if len(in.References) > 0 {
		roots = append(roots, in.References[0])
	}
	if len(roots) > 0 {
		if t, ok, err := g.ticketReferencing(ctx, roots); err != nil || ok {
			return t, RuleSharedRoot, err
		}
	}

	// 2. Subject tag, for participants only: a tag is easily typed, so it
	// must not let a stranger into someone else's ticket.
	from := in.From.Email
	for _, n := range g.s.subject.tags(in.Subject) {
		t, err := tx.TicketByNumber(ctx, in.Tenant, n)
		if ok, err := found(err); err != nil {
			return Ticket{}, "", fmt.Errorf("thread by subject tag: %w", err)
		} else if !ok {
			continue
		}
		member := false
		if from != "" {
			if member, err = tx.IsParticipant(ctx, in.Tenant, t.ID, from); err != nil {
				return Ticket{}, "", fmt.Errorf("thread by subject tag: %w", err)
			}
		}
		if member {
			return t, RuleSubjectTag, nil
		}
		g.note("ticket: subject tag from a non-participant ignored", "ticket_number", n, "from", from)
	}

	// 3. Signed reply-address token on any address the mail was sent to.
	if len(g.s.opts.ReplySecret) > 0 {
		for _, addr := range recipients(*in) {
			n, ok := ParseReplyToken(g.s.opts.ReplySecret, in.Tenant, addr)
			if !ok {
				continue
			}
			t, err := tx.TicketByNumber(ctx, in.Tenant, n)
			if ok, err := found(err); err != nil || ok {
				return t, RuleReplyToken, err
			}
		}
	}

	// 4. Outlook conversation (Thread-Index).
	if in.ConversationID != "" {
		t, err := tx.TicketByConversation(ctx, in.Tenant, in.ConversationID)
		if ok, err := found(err); err != nil || ok {
			return t, RuleConversation, err
		}
	}

	// 5. Optional last resort: same requester, same normalised subject,
	// ticket still open.
	if g.s.opts.SubjectMatching && from != "" {
		if subj := g.s.subject.normalize(in.Subject); subj != "" {
			ts, err := tx.OpenTicketsByRequester(ctx, in.Tenant, from, openTicketsForSubject)
			if err != nil {
				return Ticket{}, "", fmt.Errorf("thread by subject: %w", err)
			}
			for _, t := range ts {
				if g.s.subject.normalize(t.Subject) == subj {
					return t, RuleSubject, nil
				}
			}
		}
	}
	return Ticket{}, "", nil
}

// ticketReferencing is the ticket of the latest stored message whose
// references name any of ids.
func (g *ingestion) ticketReferencing(ctx context.Context, ids []string) (Ticket, bool, error) {
	tids, err := g.tx.TicketIDsReferencing(ctx, g.in.Tenant, ids)
	if err != nil {
		return Ticket{}, false, fmt.Errorf("thread by references to %v: %w", ids, err)
	}
	if len(tids) == 0 {
		return Ticket{}, false, nil
	}
	t, err := g.tx.Ticket(ctx, g.in.Tenant, tids[0])
	ok, err := found(err)
	return t, ok, err
}

// found turns a look-up error into (found, error): ErrNotFound is no error.
func found(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// recipients lists the addresses a mail was delivered to: To, Cc and the
// envelope recipient headers MTAs add (Delivered-To, X-Original-To), which
// carry a token even when the customer's client dropped it from To.
func recipients(in Inbound) []string {
	var out []string
	for _, list := range [][]Address{in.To, in.Cc} {
		for _, a := range list {
			out = append(out, a.Email)
		}
	}
	for _, k := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range in.Header[CanonicalKey(k)] {
			out = append(out, strings.Split(v, ",")...)
		}
	}
	return out
}

// normalizeInbound applies the storage conventions: tenant default,
// Message-IDs without angle brackets, addresses normalised. It copies every
// slice it changes, so the caller's value is left alone.
func normalizeInbound(in Inbound) Inbound {
	if in.Tenant == "" {
		in.Tenant = DefaultTenant
	}
	in.MessageID = cleanMsgID(in.MessageID)
	in.InReplyTo = cleanMsgID(in.InReplyTo)
	in.ReturnedMessageID = cleanMsgID(in.ReturnedMessageID)
	var refs []string
	for _, r := range in.References {
		for _, f := range strings.Fields(r) {
			if id := cleanMsgID(f); id != "" {
				refs = append(refs, id)
			}
		}
	}
	in.References = refs
	in.From.Email = NormEmail(in.From.Email)
	in.To, in.Cc, in.ReplyTo = normAddresses(in.To), normAddresses(in.Cc), normAddresses(in.ReplyTo)
	in.ReturnPath = NormEmail(strings.Trim(strings.TrimSpace(in.ReturnPath), "<>"))
	in.Subject = strings.TrimSpace(in.Subject)
	return in
}

// cleanMsgID returns the first Message-ID in v without angle brackets
// (RFC 5322 §3.6.4 msg-id), dropping comments and what follows.
func cleanMsgID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if f := strings.Fields(v); len(f) > 0 {
		return strings.Trim(f[0], "<>")
	}
	return ""
}

func normAddresses(as []Address) []Address {
	if as == nil {
		return nil
	}
	out := make([]Address, len(as))
	for i, a := range as {
		out[i] = Address{Name: strings.TrimSpace(a.Name), Email: NormEmail(a.Email)}
	}
	return out
}
