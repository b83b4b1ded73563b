package gmailtest

import (
	"bytes"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// query is the subset of Gmail search the fake understands: every term must
// match (implicit AND).
type query struct {
	labels    []string // names or ids, from in: and label:
	labelIDs  []string // from the labelIds parameter
	from      []string
	after     time.Time
	before    time.Time
	unread    bool
	spamTrash bool     // in:anywhere, in:spam, in:trash
	msgIDs    []string // rfc822msgid: (Message-ID without <>)
}

func parseQuery(q string) (query, error) {
	var out query
	q = strings.NewReplacer("(", " ", ")", " ").Replace(q)
	for _, term := range strings.Fields(q) {
		key, val, ok := strings.Cut(term, ":")
		if !ok {
			return out, fmt.Errorf("fake gmail: unsupported query term %q", term)
		}
		switch strings.ToLower(key) {
		case "in", "label":
			switch v := strings.ToLower(val); v {
			case "anywhere":
				out.spamTrash = true
			case "spam", "trash":
				out.spamTrash = true
				out.labels = append(out.labels, v)
			default:
				out.labels = append(out.labels, val)
			}
		case "from":
			out.from = append(out.from, strings.ToLower(val))
		case "after", "before":
			t, err := parseDate(val)
			if err != nil {
				return out, err
			}
			if strings.EqualFold(key, "after") {
				out.after = t
			} else {
				out.before = t
			}
		case "rfc822msgid":
			out.msgIDs = append(out.msgIDs, strings.Trim(val, "<>"))
		case "is":
			if !strings.EqualFold(val, "unread") {
				return out, fmt.Errorf("fake gmail: unsupported query term %q", term)
			}
			out.unread = true
		default:
			return out, fmt.Errorf("fake gmail: unsupported query term %q", term)
		}
	}
	return out, nil
}

// parseDate reads after:/before: values: epoch seconds or YYYY/MM/DD.
func parseDate(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse("2006/01/02", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("fake gmail: bad date %q", v)
	}
	return t, nil
}

// normLabel makes "Sidedesk/Captured", "sidedesk-captured" and
// "sidedesk captured" compare equal, as Gmail search does.
func normLabel(s string) string {
	return strings.NewReplacer("/", "-", " ", "-", "_", "-").Replace(strings.ToLower(s))
}

func (q query) match(b *mailbox, m *Message) bool {
	if !q.spamTrash && (slices.Contains(m.Labels, "SPAM") || slices.Contains(m.Labels, "TRASH")) {
		return false
	}
	for _, id := range q.labelIDs {
		if !slices.Contains(m.Labels, id) {
			return false
		}
	}
	for _, want := range q.labels {
		found := false
		for _, id := range m.Labels {
			name := id
			for _, l := range b.labels {
				if l.ID == id {
					name = l.Name
				}
			}
			if normLabel(id) == normLabel(want) || normLabel(name) == normLabel(want) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if q.unread && !slices.Contains(m.Labels, "UNREAD") {
		return false
	}
	if !q.after.IsZero() && m.InternalDate.Before(q.after) {
		return false
	}
	if !q.before.IsZero() && !m.InternalDate.Before(q.before) {
		return false
	}
	if len(q.from) > 0 || len(q.msgIDs) > 0 {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			return false
		}
		for _, id := range q.msgIDs {
			if strings.Trim(strings.TrimSpace(msg.Header.Get("Message-ID")), "<>") != id {
				return false
			}
		}
		from := strings.ToLower(msg.Header.Get("From"))
		for _, f := range q.from {
			if !strings.Contains(from, f) {
				return false
			}
		}
	}
	return true
}
