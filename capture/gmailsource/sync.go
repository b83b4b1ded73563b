package gmailsource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/sidedesk/sidedesk/capture"
)

// batchSize is how many ids one processing step covers: a Known look-up
// transaction, a fetch window and one batchModify (Gmail allows 1000 ids).
const batchSize = 500

// errHistoryExpired marks the 404 history.list answers for a startHistoryId
// Gmail no longer keeps.
var errHistoryExpired = errors.New("gmailsource: history id expired")

func (s *Source) sync(ctx context.Context, st *Stats) error {
	cur, err := s.loadState(ctx)
	if err != nil {
		return err
	}
	if cur.HistoryID != 0 {
		err := s.incremental(ctx, cur, st)
		if !errors.Is(err, errHistoryExpired) {
			return err
		}
		s.log.Info("history id too old for Gmail; running a full sync", "history_id", cur.HistoryID)
		*st = Stats{Requests: st.Requests}
	}
	return s.fullSync(ctx, st)
}

// fullSync lists every message matching the query and captures those not
// yet captured, oldest first. The history id comes from users.getProfile
// before the listing: mail arriving meanwhile shows up in the next history
// read (and is deduplicated if the listing saw it too).
func (s *Source) fullSync(ctx context.Context, st *Stats) error {
	st.FullSync = true
	var prof *gmail.Profile
	err := s.retry(ctx, func() (err error) {
		prof, err = s.svc.Users.GetProfile(s.opts.User).Context(ctx).Fields("emailAddress", "historyId").Do()
		return err
	})
	if err != nil {
		return s.explain("read profile", err)
	}
	began := time.Now()
	ids, err := s.listIDs(ctx, s.opts.Query)
	if err != nil {
		return err
	}
	slices.Reverse(ids) // messages.list answers newest first
	st.Candidates += len(ids)
	s.log.Info("gmail full sync", "messages", len(ids), "history_id", prof.HistoryId)
	for chunk := range slices.Chunk(ids, batchSize) {
		if err := s.process(ctx, chunk, st); err != nil {
			return err
		}
	}
	return s.saveState(ctx, state{HistoryID: prof.HistoryId, SyncedAt: began.Unix()})
}

// listIDs pages through messages.list for q.
func (s *Source) listIDs(ctx context.Context, q string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	token := ""
	for {
		var resp *gmail.ListMessagesResponse
		err := s.retry(ctx, func() (err error) {
			call := s.svc.Users.Messages.List(s.opts.User).Q(q).MaxResults(500).
				Fields("messages/id", "nextPageToken").Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			resp, err = call.Do()
			return err
		})
		if err != nil {
			return nil, s.explain("list messages", err)
		}
		for _, m := range resp.Messages {
			// Pages are offsets into a moving list: mail arriving
			// between pages can repeat an id.
			if m != nil && !seen[m.Id] {
				seen[m.Id] = true
				ids = append(ids, m.Id)
			}
		}
		if resp.NextPageToken == "" {
			return ids, nil
		}
		token = resp.NextPageToken
	}
}

// incremental reads history from cur.HistoryID, page by page; the state
// advances after each page whose messages all committed.
func (s *Source) incremental(ctx context.Context, cur state, st *Stats) error {
	began := time.Now()
	token := ""
	for {
		var resp *gmail.ListHistoryResponse
		err := s.retry(ctx, func() (err error) {
			call := s.svc.Users.History.List(s.opts.User).StartHistoryId(cur.HistoryID).
				HistoryTypes("messageAdded", "labelAdded").MaxResults(500).Context(ctx)
			if token != "" {
				call = call.PageToken(token)
			}
			resp, err = call.Do()
			return err
		})
		if errCode(err) == http.StatusNotFound {
			return errHistoryExpired
		}
		if err != nil {
			return s.explain("list history", err)
		}
		ids, err := s.candidates(ctx, resp.History, cur)
		if err != nil {
			return err
		}
		st.Candidates += len(ids)
		for chunk := range slices.Chunk(ids, batchSize) {
			if err := s.process(ctx, chunk, st); err != nil {
				return err
			}
		}
		next := cur
		if resp.NextPageToken == "" {
			next.HistoryID = max(cur.HistoryID, resp.HistoryId)
			next.SyncedAt = began.Unix()
		} else if n := len(resp.History); n > 0 && resp.History[n-1].Id > cur.HistoryID {
			next.HistoryID = resp.History[n-1].Id
		}
		// An idle poll (nothing moved) costs one request and no write.
		if next.HistoryID != cur.HistoryID {
			if err := s.saveState(ctx, next); err != nil {
				return err
			}
			cur = next
		}
		if resp.NextPageToken == "" {
			return nil
		}
		token = resp.NextPageToken
	}
}

// candidates picks, in history order and without repeats, the ids of
// messages that were added (or got a label) and match the query.
func (s *Source) candidates(ctx context.Context, hist []*gmail.History, cur state) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	add := func(m *gmail.Message, addedLabels []string) error {
		if m == nil || m.Id == "" || seen[m.Id] {
			return nil
		}
		if s.query.labelOnly() {
			ok, err := s.matchesLabels(ctx, m.LabelIds, addedLabels)
			if err != nil || !ok {
				return err
			}
		} else if slices.Contains(m.LabelIds, "DRAFT") {
			return nil
		}
		seen[m.Id] = true
		ids = append(ids, m.Id)
		return nil
	}
	for _, h := range hist {
		for _, a := range h.MessagesAdded {
			if err := add(a.Message, nil); err != nil {
				return nil, err
			}
		}
		for _, a := range h.LabelsAdded {
			// Our own LabelAfterCapture is no reason to look again.
			added := slices.DeleteFunc(slices.Clone(a.LabelIds), func(l string) bool { return l == s.labelID })
			if len(added) == 0 {
				continue
			}
			if err := add(a.Message, added); err != nil {
				return nil, err
			}
		}
	}
	if len(ids) == 0 || s.query.labelOnly() {
		return ids, nil
	}
	return s.recheck(ctx, ids, cur)
}

// recheck keeps the candidates that Gmail itself lists for the (general)
// query, restricted to mail received since an hour before the last sync:
// one messages.list page per sync with new mail instead of a request per
// message. Mail imported with an older internal date is not seen by a
// general query until the next full sync; label-only queries have no such gap.
func (s *Source) recheck(ctx context.Context, ids []string, cur state) ([]string, error) {
	q := "(" + s.opts.Query + ")"
	if cur.SyncedAt > 0 {
		q += " after:" + strconv.FormatInt(cur.SyncedAt-3600, 10)
	}
	listed, err := s.listIDs(ctx, q)
	if err != nil {
		return nil, err
	}
	match := make(map[string]bool, len(listed))
	for _, id := range listed {
		match[id] = true
	}
	return slices.DeleteFunc(ids, func(id string) bool { return !match[id] }), nil
}

// process captures one batch of ids: skip the known ones, fetch the rest
// with bounded concurrency, commit them in order in groups (a
// capture.Committer), then label the captured ones. It returns at the
// first failure; everything delivered before it is committed.
func (s *Source) process(ctx context.Context, ids []string, st *Stats) error {
	if len(ids) == 0 {
		return nil
	}
	known, err := s.knownIDs(ctx, ids)
	if err != nil {
		return err
	}
	var captured []string
	todo := ids[:0:0]
	for _, id := range ids {
		if known[id] {
			captured = append(captured, id)
		} else {
			todo = append(todo, id)
		}
	}
	st.Skipped += len(captured)
	cm := capture.NewCommitter(ctx, s.opts.Pipeline, capture.CommitOptions{}, func(group []capture.Outcome[string]) error {
		var first error
		for _, o := range group {
			if o.Err != nil {
				if first == nil {
					first = s.deliverErr(o.Tag, o.Err)
				}
				continue
			}
			if o.Result.Duplicate {
				st.Duplicates++
			} else {
				st.New++
				if st.Held == nil {
					st.Held = capture.Held{}
				}
				st.Held.Add(o.Result)
			}
			captured = append(captured, o.Tag)
		}
		return first
	})
	defer cm.Close()
	err = s.fetchOrdered(ctx, todo, func(f *fetched) error {
		if f.gone {
			st.Gone++
			s.log.Debug("message deleted before it could be fetched", "gmail_id", f.id)
			return nil
		}
		st.Fetched++
		st.Bytes += f.spool.Size()
		s.observeLag(f.internalDate)
		r, err := f.spool.Reader()
		if err != nil {
			return fmt.Errorf("gmailsource: mailbox %s: spool: %w", s.opts.Name, err)
		}
		err = cm.Add(capture.Delivery{Tenant: s.opts.Tenant, Mailbox: s.opts.Name, SourceKey: sourceKey(f.id), Outgoing: s.opts.Outgoing},
			r, f.spool.Size(), f.id)
		var de *deliverError
		if err != nil && !errors.As(err, &de) {
			err = s.deliverErr(f.id, err)
		}
		return err
	})
	if ferr := cm.Finish(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if lerr := s.label(ctx, captured, st); lerr != nil && err == nil {
		err = lerr
	}
	return err
}

// deliverError is a message that could not be captured.
type deliverError struct{ err error }

func (e *deliverError) Error() string { return e.err.Error() }
func (e *deliverError) Unwrap() error { return e.err }

func (s *Source) deliverErr(id string, err error) error {
	return &deliverError{fmt.Errorf("gmailsource: mailbox %s: deliver gmail id %s: %w", s.opts.Name, id, err)}
}

// knownIDs asks Options.Known which ids were captured already.
func (s *Source) knownIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	if s.opts.Known == nil {
		return map[string]bool{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = sourceKey(id)
	}
	got, err := s.opts.Known.CapturedSourceKeys(ctx, s.opts.Tenant, s.opts.Name, keys)
	if err != nil {
		return nil, fmt.Errorf("gmailsource: mailbox %s: look up captured ids: %w", s.opts.Name, err)
	}
	known := make(map[string]bool, len(got))
	for _, id := range ids {
		if got[sourceKey(id)] {
			known[id] = true
		}
	}
	return known, nil
}

func sourceKey(id string) string { return "gmail:" + id }

// label adds LabelAfterCapture to the captured ids (batchModify, up to 1000
// ids a call). Adding a label a message already has is a no-op in Gmail.
func (s *Source) label(ctx context.Context, ids []string, st *Stats) error {
	if s.opts.LabelAfterCapture == "" || len(ids) == 0 {
		return nil
	}
	lid, err := s.captureLabelID(ctx)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(ids, 1000) {
		err := s.retry(ctx, func() error {
			return s.svc.Users.Messages.BatchModify(s.opts.User, &gmail.BatchModifyMessagesRequest{
				Ids: chunk, AddLabelIds: []string{lid},
			}).Context(ctx).Do()
		})
		if err != nil {
			return s.explain("label captured messages "+strconv.Quote(s.opts.LabelAfterCapture), err)
		}
		st.Labelled += len(chunk)
	}
	return nil
}

// captureLabelID resolves LabelAfterCapture to a label id, creating the
// label when the mailbox has none of that name.
func (s *Source) captureLabelID(ctx context.Context) (string, error) {
	s.mu.Lock()
	lid := s.labelID
	s.mu.Unlock()
	if lid != "" {
		return lid, nil
	}
	name := s.opts.LabelAfterCapture
	byName, err := s.labelsByName(ctx, true)
	if err != nil {
		return "", s.explain("list labels", err)
	}
	if id := byName[strings.ToLower(name)]; id != "" {
		lid = id
	} else {
		var l *gmail.Label
		err := s.retry(ctx, func() (err error) {
			l, err = s.svc.Users.Labels.Create(s.opts.User, &gmail.Label{
				Name: name, LabelListVisibility: "labelShow", MessageListVisibility: "show",
			}).Context(ctx).Do()
			return err
		})
		if errCode(err) == http.StatusConflict {
			// Created concurrently (another process): look it up again.
			byName, err = s.labelsByName(ctx, true)
			if err == nil && byName[strings.ToLower(name)] == "" {
				err = fmt.Errorf("label %q conflicts with an existing label", name)
			}
			if err != nil {
				return "", s.explain("create label", err)
			}
			lid = byName[strings.ToLower(name)]
		} else if err != nil {
			return "", s.explain("create label", err)
		} else {
			lid = l.Id
			s.log.Info("created Gmail label", "label", name, "label_id", lid)
		}
	}
	s.mu.Lock()
	s.labelID = lid
	s.labelIDs[strings.ToLower(name)] = lid
	s.mu.Unlock()
	return lid, nil
}

// labelsByName returns lower-cased label name → id, from the cache unless
// refresh is set.
func (s *Source) labelsByName(ctx context.Context, refresh bool) (map[string]string, error) {
	s.mu.Lock()
	cached := s.labelIDs
	s.mu.Unlock()
	if cached != nil && !refresh {
		return cached, nil
	}
	var resp *gmail.ListLabelsResponse
	err := s.retry(ctx, func() (err error) {
		resp, err = s.svc.Users.Labels.List(s.opts.User).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(resp.Labels))
	for _, l := range resp.Labels {
		m[strings.ToLower(l.Name)] = l.Id
	}
	s.mu.Lock()
	s.labelIDs, s.labelsAt, s.missingLabel = m, time.Now(), false
	s.mu.Unlock()
	return m, nil
}
