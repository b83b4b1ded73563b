package ticket

import (
	"regexp"
	"strings"
)

// Classify is the loop guard's verdict on one inbound message (DESIGN.md
// "Loop guard"). The first matching class wins: bounce, then auto_reply,
// then list, else normal. It only reads in, so it is safe to call anywhere.
//
// Bounce:
//   - a multipart/report; report-type=delivery-status (RFC 3464 §2), or
//   - From's local part is MAILER-DAEMON or postmaster and the subject reads
//     like a delivery failure, or
//   - Return-Path is present and empty ("<>", RFC 5321 §4.5.5) and nothing
//     marks the mail as an auto-reply. RFC 3834 §3.3 asks auto-responders to
//     use the null reverse-path too, so "<>" alone does not tell a bounce from
//     an out-of-office; an RFC 3834 marker decides for auto_reply.
//
// Auto-reply:
//   - Auto-Submitted with any value other than "no" (RFC 3834 §5.1),
//   - Precedence bulk, junk or auto_reply (de-facto, RFC 3834 §3.1.8),
//   - X-Autoreply or X-Autorespond present (vacation programs),
//   - X-Auto-Response-Suppress together with an auto-reply subject
//     ("Automatic reply:", "Out of Office:", ...). X-Auto-Response-Suppress
//     alone is NOT taken as a sign: it is Exchange's request to others
//     ("don't auto-reply to me", MS-OXCMAIL §2.2.3.2.14) and ordinary mail
//     sent through Exchange rules, Outlook mail merges and some CRMs carries
//     it, so trusting it alone would drop customers' real mail from the queue.
//     Exchange's own out-of-office replies carry it with the localised
//     "Automatic reply:" subject, which the combination catches.
//
// List: Precedence list, List-Id (RFC 2919) or List-Unsubscribe (RFC 2369).
func Classify(in Inbound) Classification {
	c, _ := classify(in)
	return c
}

// classify is Classify with the reason, for logs and event payloads.
func classify(in Inbound) (Classification, string) {
	h := in.Header
	subject := strings.TrimSpace(in.Subject)
	if in.DeliveryReport {
		return ClassBounce, "delivery_report"
	}
	if local := localPart(in.From.Email); (local == "mailer-daemon" || local == "postmaster") && deliveryFailureSubject.MatchString(subject) {
		return ClassBounce, "mailer_daemon"
	}
	autoReply := ""
	if v := headerToken(h.Get("Auto-Submitted")); v != "" && v != "no" {
		autoReply = "auto_submitted"
	}
	precedence := headerToken(h.Get("Precedence"))
	switch {
	case autoReply != "":
	case precedence == "bulk" || precedence == "junk" || precedence == "auto_reply":
		autoReply = "precedence"
	case h.Has("X-Autoreply") || h.Has("X-Autorespond"):
		autoReply = "x_autoreply"
	case h.Has("X-Auto-Response-Suppress") && autoReplySubject.MatchString(subject):
		autoReply = "auto_reply_subject"
	}
	if autoReply == "" && nullReturnPath(in) {
		return ClassBounce, "null_return_path"
	}
	if autoReply != "" {
		return ClassAutoReply, autoReply
	}
	if precedence == "list" || h.Has("List-Id") || h.Has("List-Unsubscribe") {
		return ClassList, "list"
	}
	return ClassNormal, ""
}

// nullReturnPath reports a Return-Path field that is present and empty.
func nullReturnPath(in Inbound) bool {
	vals := in.Header[CanonicalKey("Return-Path")]
	if len(vals) == 0 {
		return false
	}
	if in.ReturnPath != "" {
		return false
	}
	// The parser could not read an address; only an empty path counts.
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v != "<>" && v != "" {
			return false
		}
	}
	return true
}

// headerToken returns the first token of a structured field value,
// lower-cased: "auto-replied; owner-email=..." → "auto-replied".
func headerToken(v string) string {
	if i := strings.IndexAny(v, ";("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func localPart(email string) string {
	email = NormEmail(email)
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[:i]
	}
	return email
}

var (
	// deliveryFailureSubject matches the subjects MTAs give their
	// non-delivery reports (Postfix, Exim, qmail, Exchange, Gmail, ...).
	deliveryFailureSubject = regexp.MustCompile(`(?i)undeliver|delivery (status|failure|failed|has failed|problem|notification|report)|returned mail|returned to sender|failure notice|mail delivery|non-delivery|could not be delivered|unzustellbar|nicht zustellbar|non remis|non recapitabile`)
	// autoReplySubject matches the prefixes out-of-office programs put on
	// their replies, in the languages seen most.
	autoReplySubject = regexp.MustCompile(`(?i)^\s*(automatic reply|auto[- ]?reply|auto[- ]?response|out of (the )?office( reply)?|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática|risposta automatica|automatisch antwoord|autosvar|automaattinen vastaus)\s*:`)
)
