package capture

import (
	"encoding/hex"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// parseAddressList reads an address header (RFC 5322 §3.4) with net/mail,
// and when that refuses the value (unquoted commas or dots in names, bare
// addresses, groups, missing domains, raw 8-bit names), with a lenient
// splitter. Emails are lower-cased; names are RFC 2047-decoded.
func parseAddressList(raw, fallback string) []ticket.Address {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	dec := &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		s, _ := decodeCharset(cs, b)
		return strings.NewReader(s), nil
	}}
	ap := mail.AddressParser{WordDecoder: dec}
	if list, err := ap.ParseList(raw); err == nil {
		if len(list) == 0 {
			return nil
		}
		out := make([]ticket.Address, 0, len(list))
		for _, a := range list {
			name := a.Name
			if strings.Contains(name, "=?") {
				name, _ = decodeWords(name, fallback)
			}
			out = append(out, ticket.Address{Name: cleanName(name), Email: ticket.NormEmail(a.Address)})
		}
		return out
	}
	return lenientAddressList(raw, fallback)
}

func cleanName(s string) string {
	s = strings.TrimSpace(cleanControl(s))
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = s[1 : len(s)-1]
	}
	return strings.TrimSpace(strings.Trim(s, `"`))
}

// splitTopLevel splits s at commas outside quotes, angle brackets and
// comments.
func splitTopLevel(s string) []string {
	var parts []string
	depthAngle, depthParen, quoted, start := 0, 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depthAngle++
		case c == '>' && depthAngle > 0:
			depthAngle--
		case c == '(':
			depthParen++
		case c == ')' && depthParen > 0:
			depthParen--
		case (c == ',' || c == ';') && depthAngle == 0 && depthParen == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// addrComment is "addr (comment)" (RFC 5322 §3.4, obsolete but common in
// MTAs' own mail).
var addrComment = regexp.MustCompile(`^([^\s<>()"',;:@]+)\s*\(([^()]*)\)$`)

var bareEmail = regexp.MustCompile(`[^\s<>()"',;:]+@[^\s<>()"',;:]+`)

func lenientAddressList(raw, fallback string) []ticket.Address {
	var out []ticket.Address
	pendingName := ""
	parts := splitTopLevel(raw)
	for i, part := range parts {
		part = strings.TrimSpace(part)
		// "Doe, John <j@x>": a word with no address followed by a part
		// with a bracketed one is the first half of an unquoted name.
		if !strings.ContainsAny(part, "@<:") && part != "" && i+1 < len(parts) && strings.Contains(parts[i+1], "<") {
			if len(pendingName) < 1024 {
				pendingName = strings.TrimSpace(pendingName + " " + part)
			}
			continue
		}
		// Group syntax "name: a, b;" (RFC 5322 §3.4): drop the display name.
		if c := strings.IndexByte(part, ':'); c >= 0 && !strings.Contains(part[:c], "<") && !strings.Contains(part[:c], "@") && !strings.Contains(part[:c], `"`) {
			part = strings.TrimSpace(part[c+1:])
		}
		if part == "" {
			continue
		}
		var name, email string
		if lt := strings.LastIndexByte(part, '<'); lt >= 0 {
			gt := strings.IndexByte(part[lt:], '>')
			if gt < 0 {
				gt = len(part) - lt
			}
			email = strings.TrimSpace(part[lt+1 : lt+gt])
			name = strings.TrimSpace(part[:lt])
			if lt+gt+1 < len(part) && name == "" {
				name = strings.TrimSpace(part[lt+gt+1:])
			}
		} else if m := bareEmail.FindStringIndex(part); m != nil {
			email = part[m[0]:m[1]]
			name = strings.TrimSpace(part[:m[0]] + " " + part[m[1]:])
		} else if !strings.ContainsAny(part, " \t") && !strings.ContainsAny(part, `"()`) && len(part) < 256 {
			email = part // a bare local part with no domain
		} else if m := addrComment.FindStringSubmatch(part); m != nil {
			// "MAILER-DAEMON (Mail Delivery System)": an address (here
			// without a domain) and a comment, the old way to give a name.
			email, name = m[1], m[2]
		} else {
			// A name cut off by an unquoted comma: it belongs to the next part.
			if len(pendingName) < 1024 {
				pendingName = strings.TrimSpace(pendingName + " " + part)
			}
			continue
		}
		name = strings.TrimSpace(strings.Trim(name, `()`))
		if pendingName != "" {
			name = strings.TrimSpace(strings.Trim(pendingName, `"`) + ", " + strings.Trim(name, `"`))
			pendingName = ""
		}
		name, _ = decodeWords(name, fallback)
		email = strings.Trim(email, `"' `)
		if email == "" {
			continue
		}
		out = append(out, ticket.Address{Name: cleanName(name), Email: ticket.NormEmail(cleanControl(email))})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseMsgIDs extracts message ids (RFC 5322 §3.6.4) from a Message-ID,
// In-Reply-To or References value: every <...>, or, when there are none,
// the tokens that look like ids. Brackets and folding white space are
// removed, duplicates dropped.
func parseMsgIDs(v string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Join(strings.Fields(id), "")
		id = cleanControl(id)
		if id == "" || seen[id] || len(id) > 998 {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	rest := v
	found := false
	for {
		lt := strings.IndexByte(rest, '<')
		if lt < 0 {
			break
		}
		gt := strings.IndexByte(rest[lt:], '>')
		if gt < 0 {
			break
		}
		found = true
		add(rest[lt+1 : lt+gt])
		rest = rest[lt+gt+1:]
	}
	if found {
		return ids
	}
	toks := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ';' })
	for _, tok := range toks {
		tok = strings.Trim(tok, "<>\"'()")
		if strings.Contains(tok, "@") || len(toks) == 1 {
			add(tok)
		}
	}
	return ids
}

// capIDs keeps a hostile References list bounded: the first id and the
// last ones (RFC 5322 §3.6.4 asks trimming to keep the first).
func capIDs(ids []string, max int) []string {
	if len(ids) <= max {
		return ids
	}
	out := append([]string{ids[0]}, ids[len(ids)-(max-1):]...)
	return out
}

var (
	dateComment = regexp.MustCompile(`\([^)]*\)`)
	dateSpaces  = regexp.MustCompile(`\s+`)
	dateLayouts = []string{
		"Mon, 2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 2006 15:04 -0700",
		"Mon, 2 Jan 2006 15:04 MST",
		"2 Jan 2006 15:04:05 -0700",
		"2 Jan 2006 15:04:05 MST",
		"2 Jan 2006 15:04 -0700",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon, 2 Jan 06 15:04:05 MST",
		"2 Jan 06 15:04:05 -0700",
		"Mon, 2 January 2006 15:04:05 -0700",
		"Mon, Jan 2 2006 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05",
		"2 Jan 2006 15:04:05",
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		"Mon Jan 2 15:04:05 -0700 2006",
		"Monday, 2 Jan 2006 15:04:05 -0700",
		"Monday, January 2, 2006 15:04:05 -0700",
		"Monday, January 2, 2006 3:04 PM",
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02 15:04:05 -0700",
		"2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05",
		"2006-01-02T15:04:05",
		"02.01.2006 15:04:05 -0700",
		"1/2/2006 3:04:05 PM",
		"1/2/2006 15:04",
	}
)

// parseDate reads a Date value (RFC 5322 §3.3) with net/mail, then with the
// layouts seen in the wild (two-digit years, missing seconds or weekday,
// named zones, ISO 8601, asctime). It returns the zero time for hopeless
// values. The result is in UTC.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t.UTC()
	}
	s := dateComment.ReplaceAllString(v, " ")
	s = strings.ReplaceAll(s, ",", ", ")
	s = dateSpaces.ReplaceAllString(strings.TrimSpace(s), " ")
	s = strings.ReplaceAll(s, " ,", ",")
	// "GMT+0100", "UTC -5:00" → "+0100"
	for _, z := range []string{"GMT", "UTC", "UT"} {
		if i := strings.LastIndex(s, " "+z); i >= 0 {
			tail := strings.TrimSpace(s[i+len(z)+1:])
			if tail != "" && (tail[0] == '+' || tail[0] == '-') {
				s = s[:i] + " " + strings.ReplaceAll(tail, ":", "")
			} else if tail == "" {
				s = s[:i] + " +0000"
			}
			break
		}
	}
	try := func(s string) (time.Time, bool) {
		for _, l := range dateLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	if t, ok := try(s); ok {
		return t
	}
	// Weekday mangled or misspelt: drop it.
	if c := strings.IndexByte(s, ','); c >= 0 && c < 12 {
		if t, ok := try(strings.TrimSpace(s[c+1:])); ok {
			return t
		}
	}
	// Trailing junk after the zone.
	if f := strings.Fields(s); len(f) > 4 {
		if t, ok := try(strings.Join(f[:len(f)-1], " ")); ok {
			return t
		}
	}
	return time.Time{}
}

// conversationID derives the Outlook conversation id from a Thread-Index
// value ([MS-OXOMSG] §2.2.1.3): base64 of a 22-byte header block (FILETIME
// 6 bytes + GUID 16 bytes) then 5-byte child blocks. The id is the hex of the
// header block; "" when the value decodes to fewer than 22 bytes.
func conversationID(threadIndex string) string {
	b, _ := decodeBase64Lenient([]byte(strings.TrimSpace(threadIndex)))
	if len(b) < 22 {
		return ""
	}
	return hex.EncodeToString(b[:22])
}
