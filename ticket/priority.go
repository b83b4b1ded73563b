package ticket

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PriorityRules say what priority a new ticket gets from its first mail
// (DESIGN.md "ticket ... rules (priority)"). Every signal that applies
// proposes a priority and the highest wins; with no signal the ticket is
// normal. Mail that is not normal (auto-replies, bounces, lists) is always
// normal: an out-of-office copies the Importance of the mail it answers.
type PriorityRules struct {
	// IgnoreHeaders turns off the sender's own Importance, X-Priority and
	// Priority header fields as a signal (they are used by default, and can
	// only propose low or high, never urgent).
	IgnoreHeaders bool
	// Keywords maps a word or phrase to the priority it gives when it
	// occurs in the subject or text as a whole word, in any case
	// ("outage" → urgent matches "Outage!" but not "outages").
	Keywords map[string]Priority
	// VIPSenders (addresses) and VIPDomains (the part after @, matching
	// sub-domains too) give VIPPriority.
	VIPSenders []string
	VIPDomains []string
	// VIPPriority is what a VIP sender gets. Default high.
	VIPPriority Priority
	// Tiers maps a CRM account tier (any case) to a priority.
	Tiers map[string]Priority
}

// maxKeywordScan bounds how much of a message's text keyword matching reads:
// the words that matter come first, long quoted tails do not.
const maxKeywordScan = 64 << 10

// Prioritizer is PriorityRules compiled once (keyword patterns, address
// sets), safe for concurrent use.
type Prioritizer struct {
	rules    PriorityRules
	keywords []keywordRule // highest priority first
	vipAddr  map[string]bool
	vipDom   []string
	tiers    map[string]Priority
}

type keywordRule struct {
	p  Priority
	kw *Keywords
}

// NewPrioritizer checks rules and compiles them. Errors wrap ErrInvalid.
func NewPrioritizer(rules PriorityRules) (*Prioritizer, error) {
	if rules.VIPPriority == "" {
		rules.VIPPriority = PriorityHigh
	}
	if !rules.VIPPriority.Valid() {
		return nil, fmt.Errorf("ticket: priority rules: %w VIP priority %q", ErrInvalid, rules.VIPPriority)
	}
	p := &Prioritizer{rules: rules, vipAddr: map[string]bool{}, tiers: map[string]Priority{}}
	byPrio := map[Priority][]string{}
	for w, pr := range rules.Keywords {
		if !pr.Valid() {
			return nil, fmt.Errorf("ticket: priority rules: %w priority %q for keyword %q", ErrInvalid, pr, w)
		}
		byPrio[pr] = append(byPrio[pr], w)
	}
	for _, pr := range []Priority{PriorityUrgent, PriorityHigh, PriorityNormal, PriorityLow} {
		if len(byPrio[pr]) == 0 {
			continue
		}
		kw, err := CompileKeywords(byPrio[pr])
		if err != nil {
			return nil, fmt.Errorf("ticket: priority rules: %w", err)
		}
		p.keywords = append(p.keywords, keywordRule{pr, kw})
	}
	for _, a := range rules.VIPSenders {
		if a = NormEmail(a); a != "" {
			p.vipAddr[a] = true
		}
	}
	for _, d := range rules.VIPDomains {
		if d = strings.TrimPrefix(NormEmail(d), "@"); d != "" {
			p.vipDom = append(p.vipDom, d)
		}
	}
	for tier, pr := range rules.Tiers {
		if !pr.Valid() {
			return nil, fmt.Errorf("ticket: priority rules: %w priority %q for tier %q", ErrInvalid, pr, tier)
		}
		p.tiers[strings.ToLower(strings.TrimSpace(tier))] = pr
	}
	return p, nil
}

// Prioritize compiles rules and applies them to in (see
// Prioritizer.Prioritize). Invalid rules give normal with the error as the
// reason; compile once with NewPrioritizer where it runs per message.
func Prioritize(in Inbound, rules PriorityRules, tier string) (Priority, []string) {
	p, err := NewPrioritizer(rules)
	if err != nil {
		return PriorityNormal, []string{err.Error()}
	}
	return p.Prioritize(in, tier)
}

// Prioritize returns the priority a ticket opened by in gets, and the
// reasons ("importance:high", "keyword:outage", "vip_sender", "tier:gold",
// ...) of the signals that proposed the winning priority or any other.
// tier is the requester's CRM account tier, "" when unknown.
func (p *Prioritizer) Prioritize(in Inbound, tier string) (Priority, []string) {
	if c := Classify(in); c != ClassNormal {
		return PriorityNormal, []string{"class:" + string(c)}
	}
	return p.prioritizeNormal(in, tier)
}

// prioritizeNormal is Prioritize of mail already classified normal (the
// ingest path classifies once).
func (p *Prioritizer) prioritizeNormal(in Inbound, tier string) (Priority, []string) {
	best := Priority("")
	var reasons []string
	propose := func(pr Priority, reason string) {
		if pr.Rank() > best.Rank() {
			best = pr
		}
		reasons = append(reasons, reason+"="+string(pr))
	}
	if !p.rules.IgnoreHeaders {
		for _, s := range headerPriorities(in.Header) {
			propose(s.p, s.reason)
		}
	}
	text := in.Text
	if len(text) > maxKeywordScan {
		text = text[:maxKeywordScan]
	}
	var subject, body string // normalised once for every keyword group
	if len(p.keywords) > 0 {
		subject, body = normalizeText(in.Subject), normalizeText(text)
	}
	for _, k := range p.keywords { // highest first: the first hit is the best
		w, ok := k.kw.matchNormalized(subject)
		if !ok {
			w, ok = k.kw.matchNormalized(body)
		}
		if ok {
			propose(k.p, "keyword:"+w)
			break
		}
	}
	if vip, why := p.vip(in.From.Email); vip {
		propose(p.rules.VIPPriority, why)
	}
	if t := strings.ToLower(strings.TrimSpace(tier)); t != "" {
		if pr, ok := p.tiers[t]; ok {
			propose(pr, "tier:"+t)
		}
	}
	if best == "" {
		return PriorityNormal, nil
	}
	return best, reasons
}

// IsVIP reports whether email is a VIP sender by address or domain.
func (p *Prioritizer) IsVIP(email string) bool {
	vip, _ := p.vip(email)
	return vip
}

func (p *Prioritizer) vip(email string) (bool, string) {
	email = NormEmail(email)
	if email == "" {
		return false, ""
	}
	if p.vipAddr[email] {
		return true, "vip_sender"
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false, ""
	}
	dom := email[at+1:]
	for _, d := range p.vipDom {
		if dom == d || strings.HasSuffix(dom, "."+d) {
			return true, "vip_domain"
		}
	}
	return false, ""
}

type headerSignal struct {
	p      Priority
	reason string
}

// headerPriorities reads the sender's own urgency fields:
//   - Importance: low | normal | high (RFC 2156 §5.3, "Importance");
//   - Priority: normal | non-urgent | urgent (RFC 2156 §5.3, "Priority"),
//     taken as high / low: a sender's own claim never makes a ticket urgent;
//   - X-Priority: 1..5, 1-2 high, 4-5 low (de-facto, Outlook and others,
//     often followed by a comment: "1 (Highest)").
//
// Normal values propose nothing (they would only mask a low one).
func headerPriorities(h Header) []headerSignal {
	var out []headerSignal
	switch v := headerToken(h.Get("Importance")); v {
	case "high":
		out = append(out, headerSignal{PriorityHigh, "importance:" + v})
	case "low":
		out = append(out, headerSignal{PriorityLow, "importance:" + v})
	}
	switch v := headerToken(h.Get("Priority")); v {
	case "urgent":
		out = append(out, headerSignal{PriorityHigh, "priority:" + v})
	case "non-urgent":
		out = append(out, headerSignal{PriorityLow, "priority:" + v})
	}
	if v := strings.TrimSpace(h.Get("X-Priority")); v != "" {
		if n, err := strconv.Atoi(v[:1]); err == nil {
			switch {
			case n == 1 || n == 2:
				out = append(out, headerSignal{PriorityHigh, "x-priority:" + v[:1]})
			case n == 4 || n == 5:
				out = append(out, headerSignal{PriorityLow, "x-priority:" + v[:1]})
			}
		}
	}
	return out
}

// Keywords matches any of a list of words or phrases as whole words,
// case-insensitively (Unicode letters and digits are word characters;
// whitespace inside a phrase matches any run of whitespace).
//
// It runs on every new ticket's text (up to maxKeywordScan), so it is a
// plain substring search over the lower-cased text with a word-boundary
// check, not a regular expression: Go's regexp with \p{L} classes around an
// alternation took ~12 ms per 57 KB message.
type Keywords struct {
	norm  []string          // normalised keywords, longest first
	words map[string]string // normalised keyword → keyword as configured
}

// CompileKeywords builds a matcher for words. Empty entries are an error
// (wrapping ErrInvalid); an empty list matches nothing.
func CompileKeywords(words []string) (*Keywords, error) {
	k := &Keywords{words: map[string]string{}}
	for _, w := range words {
		n := normalizeText(w)
		if n == "" {
			return nil, fmt.Errorf("%w keyword %q: empty", ErrInvalid, w)
		}
		if _, dup := k.words[n]; !dup {
			k.norm = append(k.norm, n)
		}
		k.words[n] = w
	}
	// Longer first, so "service down" is reported over "down".
	slices.SortStableFunc(k.norm, func(a, b string) int { return len(b) - len(a) })
	return k, nil
}

// Match reports whether s contains one of the keywords as a whole word,
// and which one (as configured).
func (k *Keywords) Match(s string) (string, bool) {
	if k == nil || len(k.norm) == 0 {
		return "", false
	}
	return k.matchNormalized(normalizeText(s))
}

// matchNormalized is Match on text already passed through normalizeText.
func (k *Keywords) matchNormalized(text string) (string, bool) {
	if k == nil {
		return "", false
	}
	for _, kw := range k.norm {
		for from := 0; ; {
			i := strings.Index(text[from:], kw)
			if i < 0 {
				break
			}
			i += from
			end := i + len(kw)
			if wordBoundaryBefore(text, i) && wordBoundaryAfter(text, end) {
				return k.words[kw], true
			}
			_, size := utf8.DecodeRuneInString(text[i:])
			from = i + size
		}
	}
	return "", false
}

// normalizeText lower-cases s and turns every run of white space into one
// space, trimming both ends.
func normalizeText(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		if asciiKept[c] {
			// A run of bytes kept as they are, single spaces between
			// them included: most support mail.
			j := i + 1
			for j < len(s) && (asciiKept[s[j]] || s[j] == ' ' && j+1 < len(s) && asciiKept[s[j+1]]) {
				j++
			}
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, s[i:j]...)
			i = j
			continue
		}
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
				space = len(b) > 0
				continue
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, c)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if unicode.IsSpace(r) {
			space = len(b) > 0
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return string(b)
}

// asciiKept marks the ASCII bytes normalizeText keeps as they are: all but
// upper-case letters and white space.
var asciiKept = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = !('A' <= c && c <= 'Z') && !strings.ContainsRune(" \t\n\r\v\f", rune(c))
	}
	return t
}()

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func wordBoundaryBefore(s string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !isWordRune(r)
}

func wordBoundaryAfter(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !isWordRune(r)
}
