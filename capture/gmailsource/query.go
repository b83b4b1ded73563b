package gmailsource

import (
	"context"
	"slices"
	"strings"
	"time"
)

// labelQuery is Options.Query when it is made only of label conditions
// (in:X, label:X, is:unread/starred/important), which history records can
// be checked against locally; general is set for anything else.
type labelQuery struct {
	names   []string // label names or system ids as written
	general bool
	// For the watch: the names of in:/label: terms, of is: terms, and
	// whether the query searches everywhere (in:anywhere).
	labels, flags []string
	anywhere      bool
}

// systemLabels maps the search names of Gmail's system labels to their ids.
var systemLabels = map[string]string{
	"inbox": "INBOX", "sent": "SENT", "draft": "DRAFT", "drafts": "DRAFT", "spam": "SPAM",
	"trash": "TRASH", "starred": "STARRED", "important": "IMPORTANT", "unread": "UNREAD",
	"chats": "CHAT",
}

func parseLabelQuery(q string) labelQuery {
	var lq labelQuery
	for _, term := range strings.Fields(q) {
		key, val, ok := strings.Cut(term, ":")
		key = strings.ToLower(key)
		switch {
		case !ok || val == "" || strings.ContainsAny(term, `()"{}`):
			lq.general = true
		case key == "in" || key == "label":
			if strings.EqualFold(val, "anywhere") {
				lq.general, lq.anywhere = true, true
			} else {
				lq.labels = append(lq.labels, val)
			}
			lq.names = append(lq.names, val)
		case key == "is" && slices.Contains([]string{"unread", "starred", "important"}, strings.ToLower(val)):
			lq.names = append(lq.names, val)
			lq.flags = append(lq.flags, val)
		default:
			lq.general = true
		}
	}
	if len(lq.names) == 0 {
		lq.general = true
	}
	return lq
}

func (q labelQuery) labelOnly() bool { return !q.general }

// searchName normalises a label name as Gmail search does: "/", " " and
// "_" are written "-", case does not matter.
func searchName(s string) string {
	return strings.NewReplacer("/", "-", " ", "-", "_", "-").Replace(strings.ToLower(s))
}

// queryLabelIDs resolves the query's label names to ids; ok is false when a
// user label does not exist (yet).
func (s *Source) queryLabelIDs(ctx context.Context) (ids []string, ok bool, err error) {
	ids, missing, err := s.resolveLabels(ctx, s.query.names)
	return ids, err == nil && missing == "", err
}

// resolveLabels maps label names (as search writes them) or ids to label
// ids; missing is the first name no label has. The label list is re-read
// at most once a minute for a missing name.
func (s *Source) resolveLabels(ctx context.Context, names []string) (ids []string, missing string, err error) {
	var byName map[string]string
	for _, n := range names {
		if id, sys := systemLabels[strings.ToLower(n)]; sys {
			ids = append(ids, id)
			continue
		}
		if byName == nil {
			s.mu.Lock()
			refresh := s.labelIDs == nil || (s.missingLabel && time.Since(s.labelsAt) > time.Minute)
			s.mu.Unlock()
			if byName, err = s.labelsByName(ctx, refresh); err != nil {
				return nil, "", s.explain("list labels", err)
			}
		}
		id := ""
		for name, lid := range byName {
			if searchName(name) == searchName(n) || lid == n {
				id = lid
				break
			}
		}
		if id == "" {
			s.mu.Lock()
			s.missingLabel = true
			s.mu.Unlock()
			return nil, n, nil
		}
		ids = append(ids, id)
	}
	return ids, "", nil
}

// matchesLabels says whether a message with labels has every label of the
// query and, for a labelAdded record (added non-nil), whether the added
// labels are what made it match. Spam, trash and drafts never match unless
// the query names them (as Gmail search excludes spam and trash).
func (s *Source) matchesLabels(ctx context.Context, labels, added []string) (bool, error) {
	want, ok, err := s.queryLabelIDs(ctx)
	if err != nil || !ok {
		return false, err
	}
	for _, w := range want {
		if !slices.Contains(labels, w) {
			return false, nil
		}
	}
	for _, ex := range []string{"SPAM", "TRASH", "DRAFT"} {
		if slices.Contains(labels, ex) && !slices.Contains(want, ex) {
			return false, nil
		}
	}
	if added != nil && !slices.ContainsFunc(added, func(l string) bool { return slices.Contains(want, l) }) {
		return false, nil
	}
	return true, nil
}
