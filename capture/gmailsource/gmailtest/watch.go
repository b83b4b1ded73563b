package gmailtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Watch is one successful users.watch call as the server received it.
type Watch struct {
	TopicName           string
	LabelIDs            []string
	LabelFilterBehavior string // as sent ("include", "exclude" or "")
	At, Expiration      time.Time
}

// topicRE is the shape Gmail checks a topicName against before trying to
// publish to it.
var topicRE = regexp.MustCompile(`^projects/[^/]+/topics/[^/]+$`)

// watch answers users.watch: request {topicName, labelIds,
// labelFilterBehavior (or the deprecated labelFilterAction)}, response
// {historyId, expiration} with both int64 values written as strings of
// digits (expiration in epoch milliseconds), as Gmail does.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, b *mailbox) {
	var req struct {
		TopicName           string   `json:"topicName"`
		LabelIDs            []string `json:"labelIds"`
		LabelFilterAction   string   `json:"labelFilterAction"`
		LabelFilterBehavior string   `json:"labelFilterBehavior"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "invalidArgument", err.Error())
		return
	}
	if !topicRE.MatchString(req.TopicName) {
		writeError(w, 400, "invalidArgument", "Invalid topicName does not match projects/SOME_PROJECT/topics/*")
		return
	}
	behavior := req.LabelFilterBehavior
	if behavior == "" {
		behavior = req.LabelFilterAction
	}
	if b := strings.ToLower(behavior); b != "" && b != "include" && b != "exclude" {
		writeError(w, 400, "invalidArgument", "Invalid value for labelFilterBehavior: "+behavior)
		return
	}
	for _, l := range req.LabelIDs {
		if !slices.ContainsFunc(b.labels, func(x label) bool { return x.ID == l }) {
			writeError(w, 400, "invalidArgument", "Invalid label: "+l)
			return
		}
	}
	now := time.Now()
	wt := Watch{TopicName: req.TopicName, LabelIDs: slices.Clone(req.LabelIDs), LabelFilterBehavior: behavior,
		At: now, Expiration: now.Add(s.opts.WatchExpiry)}
	b.watches = append(b.watches, wt)
	writeJSON(w, map[string]any{
		"historyId":  strconv.FormatUint(b.historyID, 10),
		"expiration": strconv.FormatInt(wt.Expiration.UnixMilli(), 10),
	})
}

// Watches returns the successful users.watch calls for user ("" or "me" =
// Options.User), oldest first.
func (s *Server) Watches(user string) []Watch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.box(user).watches)
}

// SetPushURL makes the server act as Gmail plus a Pub/Sub push
// subscription: after a change to a mailbox with an unexpired watch whose
// labels match, it POSTs a push request to url (in the background; Close
// waits for it). Empty turns this off.
func (s *Server) SetPushURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushURL = url
}

// publish sends the Pub/Sub push for a change to a message now labelled
// labels, when the mailbox's latest watch covers it. s.mu must be held.
func (s *Server) publish(b *mailbox, labels []string) {
	if s.pushURL == "" || len(b.watches) == 0 {
		return
	}
	wt := b.watches[len(b.watches)-1]
	if time.Now().After(wt.Expiration) {
		return
	}
	if len(wt.LabelIDs) > 0 {
		hit := slices.ContainsFunc(labels, func(l string) bool { return slices.Contains(wt.LabelIDs, l) })
		if strings.EqualFold(wt.LabelFilterBehavior, "exclude") {
			hit = !hit
		}
		if !hit {
			return
		}
	}
	// Gmail's notification: {"emailAddress": ..., "historyId": N}, base64
	// in the Pub/Sub message's data.
	data, _ := json.Marshal(map[string]any{"emailAddress": b.email, "historyId": b.historyID})
	s.pushSeq++
	project, _, _ := strings.Cut(strings.TrimPrefix(wt.TopicName, "projects/"), "/")
	body, _ := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":        base64.StdEncoding.EncodeToString(data),
			"messageId":   fmt.Sprintf("%d", 2070443601311540+s.pushSeq),
			"publishTime": time.Now().UTC().Format(time.RFC3339Nano),
		},
		"subscription": "projects/" + project + "/subscriptions/gmailtest-push",
	})
	url := s.pushURL
	s.pushes.Add(1)
	go func() {
		defer s.pushes.Done()
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
	}()
}
