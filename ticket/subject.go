package ticket

import (
	"regexp"
	"strconv"
	"strings"
)

// subjectRules reads and strips the subject tags of one tag prefix.
type subjectRules struct {
	tag *regexp.Regexp // "[#123]", submatch 1 is the number
}

func newSubjectRules(prefix string) subjectRules {
	return subjectRules{tag: regexp.MustCompile(`(?i)\[\s*` + regexp.QuoteMeta(prefix) + `(\d{1,18})\s*\]`)}
}

// tags returns the ticket numbers tagged in subject, in order, without
// duplicates.
func (r subjectRules) tags(subject string) []int64 {
	var out []int64
	for _, m := range r.tag.FindAllStringSubmatch(subject, 8) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n < 1 {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == n
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}

// replyPrefix matches one reply or forward marker that mail programs put
// before a subject, in the languages seen most: Re, Fw, Fwd, AW/WG (German),
// SV/VS (Nordic), Antw (Dutch), R/RIF (Italian), TR/RE (French), Odp/PD
// (Polish), RES/ENC (Portuguese), with Outlook's optional "[2]" / "(2)"
// counters and full-width colons.
var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|sv|vs|vb|antw|antwort|doorst|r|rif|tr|odp|pd|res|enc|ynt|ilt|atb|回复|转发|答复|返信|転送)\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*`)

// normalizeSubject reduces a subject to what subject matching compares:
// reply/forward markers and ticket tags stripped, white space collapsed,
// lower case. "RE: AW: [#12] Printer  broken" → "printer broken".
func (r subjectRules) normalize(subject string) string {
	s := r.tag.ReplaceAllString(subject, " ")
	for {
		t := replyPrefix.ReplaceAllString(s, "")
		t = strings.TrimSpace(r.tag.ReplaceAllString(t, " "))
		if t == s {
			break
		}
		s = t
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
