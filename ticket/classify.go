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
// List: Precedence list, List-Id (RFC 2919) or List-Unsubscribe (RFC 2369),
// checked before Precedence bulk (lists send that too).
//
// Feedback (never a ticket, held): an ARF report (RFC 5965), an Amazon
// SES complaint or delivery notification.
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
	if in.FeedbackReport {
		return ClassFeedback, "feedback_report"
	}
	if kind := sesNotification(in.Text); kind != "" {
		if kind == "Bounce" {
			return ClassBounce, "ses_bounce"
		}
		return ClassFeedback, "ses_" + strings.ToLower(kind)
	}
	// The sender first: the subject's many wordings are one costly
	// case-insensitive match, asked only of mail systems.
	if systemSender(in, h) && deliveryFailureSubject.MatchString(subject) {
		return ClassBounce, "mailer_daemon"
	}
	autoReply := ""
	if v := headerToken(h.Get("Auto-Submitted")); v != "" && v != "no" {
		autoReply = "auto_submitted"
	}
	precedence := headerToken(h.Get("Precedence"))
	list := precedence == "list" || h.Has("List-Id") || h.Has("List-Unsubscribe")
	switch {
	case autoReply != "":
	case list:
		// A list's mail is list mail, whatever Precedence it also
		// carries (many lists send "Precedence: bulk").
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
	if list {
		return ClassList, "list"
	}
	if nullSender(in, h) {
		// "From: <>" or "MAILER-DAEMON <>" without a failure subject:
		// still machine mail, never a customer.
		return ClassBounce, "null_sender"
	}
	return ClassNormal, ""
}

// systemSenders are the local parts of mail systems' own senders.
var systemSenders = map[string]bool{"mailer-daemon": true, "mailerdaemon": true, "mail-daemon": true, "maildaemon": true,
	"postmaster": true, "mailer": true, "ndr": true, "mail-delivery": true, "maildelivery": true, "bounce": true, "bounces": true}

// systemSender reports a sender that is a mail system: MAILER-DAEMON,
// postmaster and kin, a "Mail Delivery System" name, an antivirus or mail
// gateway (Trend Micro IMSS, ...), or the null sender (From: <>).
func systemSender(in Inbound, h Header) bool {
	local := localPart(in.From.Email)
	if systemSenders[local] || strings.Contains(local, "mailer-daemon") || strings.Contains(local, "antivirus") ||
		strings.Contains(local, "imss") || strings.HasPrefix(local, "mailgateway") || strings.HasPrefix(local, "mail-gateway") {
		return true
	}
	if mailSystemName.MatchString(in.From.Name) {
		return true
	}
	return nullSender(in, h)
}

// nullSender: the From field names no address but "<>" (with or without
// a name): "From: <>", "From: MAILER-DAEMON <>", "From: Postmaster <>".
func nullSender(in Inbound, h Header) bool {
	if in.From.Email != "" {
		return false
	}
	for _, v := range h[CanonicalKey("From")] {
		if strings.Contains(strings.ReplaceAll(v, " ", ""), "<>") {
			return true
		}
	}
	return false
}

// sesNotification recognises an Amazon SES notification delivered by
// mail (an SNS email subscription): a JSON body with notificationType
// Bounce, Complaint or Delivery and the mail it is about. It returns the
// type, "" for anything else.
func sesNotification(text string) string {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "{") || !strings.Contains(t, `"notificationType"`) || !strings.Contains(t, `"mail"`) {
		return ""
	}
	m := sesType.FindStringSubmatch(t)
	if m == nil {
		return ""
	}
	return m[1]
}

var sesType = regexp.MustCompile(`"notificationType"\s*:\s*"(Bounce|Complaint|Delivery)"`)

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
	deliveryFailureSubject = regexp.MustCompile(`(?i)undeliver|delivery (status|failure|failed|has failed|problem|notification|report|incomplete|delayed)|` +
		`failure delivery|failed delivery|delayed mail|mail (delivery )?failed|returning (message )?to sender|returned mail|returned to sender|` +
		`failure notice|mail delivery|non-delivery|not (yet )?(been )?delivered|could not be (delivered|sent)|message not delivered|` +
		`mail not delivered|unable to deliver|delivery to the following recipients? (failed|was delayed)|warning: could not send|` +
		`unzustellbar|nicht zustellbar|nicht zugestellt|zustellung fehlgeschlagen|übermittlungsstatus|` +
		`non remis|échec de (la )?(remise|distribution)|non recapitabile|mancato recapito|no se puede entregar|error en la entrega|` +
		`onbestelbaar|niet afgeleverd|não entregue|falha na entrega|` +
		`配信不能|配信エラー|配送エラー|配信失敗|配送失敗|未配信|送信できません|エラーメール`)
	// mailSystemName matches the names mail systems sign their own mail
	// with.
	mailSystemName = regexp.MustCompile(`(?i)^\s*(mail delivery (system|subsystem|service)|mailer[- ]daemon|postmaster|mail administrator|microsoft outlook|system administrator)\s*$`)
	// autoReplySubject matches the prefixes out-of-office programs put on
	// their replies, in the languages seen most.
	autoReplySubject = regexp.MustCompile(`(?i)^\s*(automatic reply|auto[- ]?reply|auto[- ]?response|out of (the )?office( reply)?|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática|risposta automatica|automatisch antwoord|autosvar|automaattinen vastaus)\s*:`)
)

// returnedInText finds the Message-ID of the mail a plain-text bounce
// returns: the first "Message-ID: <…>" line of its text (quoted with
// "> " or indented, as the bounce copied it) that is not the bounce's own.
// "" when there is none in the first returnedScan bytes.
func returnedInText(text, own string) string {
	if len(text) > returnedScan {
		text = text[:returnedScan]
	}
	for _, m := range quotedMessageID.FindAllStringSubmatch(text, 4) {
		if id := strings.TrimSpace(m[1]); id != "" && id != own {
			return id
		}
	}
	return ""
}

const returnedScan = 64 << 10

var quotedMessageID = regexp.MustCompile(`(?im)^[>\s]*message-id:\s*<([^<>\s]+)>`)
