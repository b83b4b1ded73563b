package gmailsource

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/sidedesk/sidedesk/capture"
)

// Watch renewal. Gmail stops publishing when a watch expires (7 days after
// the call) and asks clients to call users.watch again at least every 7
// days, recommending once a day. keepWatch renews a day after the last
// registration, or a day before the expiration if that comes first (half
// way to it when it is less than a day off), and at once after a failed
// pass (a reconnect, a 401: the watch may have lapsed meanwhile).
const (
	watchRenewEvery  = 24 * time.Hour
	watchRenewBefore = 24 * time.Hour
	// A failed users.watch (typically a 403: Gmail may not publish to the
	// topic) needs an administrator; capture polls meanwhile, and the
	// call is retried with backoff between these bounds.
	watchRetryMin = time.Minute
	watchRetryMax = time.Hour
)

// gmailPushAccount is the service account Gmail publishes as.
const gmailPushAccount = "gmail-api-push@system.gserviceaccount.com"

// watchState is what Run knows about its Gmail watch.
type watchState struct {
	expires  time.Time // zero: never registered
	renewAt  time.Time
	stale    bool      // renew at the next successful pass
	retryAt  time.Time // after a failed users.watch
	failures int       // consecutive failed users.watch calls
	errText  string    // the last users.watch error, until one succeeds
	errAt    time.Time
	pushesAt int64 // Source.pushes when the watch became active
}

func (w *watchState) active(now time.Time) bool { return now.Before(w.expires) }

// afterPass keeps the watch after a pass that ended with err.
func (s *Source) afterPass(ctx context.Context, err error) {
	if s.opts.PubSubTopic == "" {
		return
	}
	if err != nil {
		// Includes ErrLeaseHeld: the lease holder keeps the watch, and
		// whoever takes the mailbox over renews it first thing.
		s.watch.stale = true
		return
	}
	s.keepWatch(ctx)
}

// pollInterval is Run's wait between passes: WatchPollInterval while the
// watch is active and a push arrived since it was registered, otherwise
// PollInterval (a registered watch alone does not prove that pushes reach
// us: the subscription or the public URL may be wrong).
func (s *Source) pollInterval() time.Duration {
	if s.opts.PubSubTopic != "" && s.watch.active(s.now()) && s.pushes.Load() > s.watch.pushesAt {
		return s.opts.WatchPollInterval
	}
	return s.opts.PollInterval
}

// keepWatch registers or renews the watch when it is due (see
// watchRenewEvery). A failure is logged and shown in Status, never stops
// capture, and is retried with backoff.
func (s *Source) keepWatch(ctx context.Context) {
	w := &s.watch
	now := s.now()
	if (!w.stale && now.Before(w.renewAt)) || now.Before(w.retryAt) {
		return
	}
	wasActive := w.active(now)
	resp, labels, err := s.registerWatch(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		w.failures++
		wait := backoff(w.failures-1, watchRetryMin, watchRetryMax)
		w.retryAt = now.Add(wait)
		w.errText, w.errAt = err.Error(), time.Now().UTC()
		args := []any{"err", err, "retry_in", wait.Round(time.Second)}
		if wasActive {
			args = append(args, "watch_expires", w.expires.UTC())
		}
		s.log.Warn("gmail watch failed; capture goes on by polling", args...)
		s.watchStatus("", w.errText)
		return
	}
	exp := time.UnixMilli(resp.Expiration)
	if resp.Expiration <= 0 {
		exp = now.Add(7 * 24 * time.Hour) // Gmail's documented lifetime
	}
	renewAt := now.Add(watchRenewEvery)
	if last := exp.Add(-watchRenewBefore); last.Before(renewAt) {
		renewAt = last
	}
	if !renewAt.After(now) {
		renewAt = now.Add(exp.Sub(now) / 2)
	}
	oldErr := w.errText
	if !wasActive {
		w.pushesAt = s.pushes.Load()
	}
	w.expires, w.renewAt, w.stale = exp, renewAt, false
	w.failures, w.retryAt, w.errText, w.errAt = 0, time.Time{}, "", time.Time{}
	args := []any{"topic", s.opts.PubSubTopic, "labels", labels, "expires", exp.UTC(), "renew_at", renewAt.UTC()}
	if !wasActive || oldErr != "" {
		s.log.Info("gmail watch registered: changes are pushed", args...)
	} else {
		s.log.Debug("gmail watch renewed", args...)
	}
	if oldErr != "" {
		s.watchStatus(oldErr, "")
	}
}

// watchStatus shows the watch error text in Status, or clears old when it
// is still the mailbox's last error.
func (s *Source) watchStatus(old, text string) {
	if s.opts.Status == nil {
		return
	}
	s.opts.Status.Update(s.key(), func(m *capture.MailboxStatus) {
		m.Name, m.Kind = s.key(), "gmail"
		switch {
		case text != "":
			m.LastError, m.LastErrorAt = text, s.watch.errAt
		case m.LastError == old:
			m.LastError = ""
		}
	})
}

// registerWatch calls users.watch with the topic and the watch labels.
func (s *Source) registerWatch(ctx context.Context) (*gmail.WatchResponse, []string, error) {
	labels, err := s.watchLabelIDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	req := &gmail.WatchRequest{TopicName: s.opts.PubSubTopic, LabelIds: labels}
	if len(labels) > 0 {
		req.LabelFilterBehavior = "include"
	}
	var resp *gmail.WatchResponse
	err = s.retry(ctx, func() (err error) {
		resp, err = s.svc.Users.Watch(s.opts.User, req).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, labels, s.explainWatch(err)
	}
	return resp, labels, nil
}

// watchLabelNames are the labels the watch covers (see Options.WatchLabels);
// nil means every change.
func (s *Source) watchLabelNames() []string {
	switch q := s.query; {
	case len(s.opts.WatchLabels) > 0:
		return s.opts.WatchLabels
	case q.anywhere:
		return nil
	case len(q.labels) > 0:
		return q.labels
	case q.labelOnly() && len(q.flags) > 0:
		return q.flags
	}
	return []string{"INBOX"}
}

// watchLabelIDs resolves watchLabelNames to label ids.
func (s *Source) watchLabelIDs(ctx context.Context) ([]string, error) {
	ids, missing, err := s.resolveLabels(ctx, s.watchLabelNames())
	if err != nil {
		return nil, err
	}
	if missing != "" {
		return nil, fmt.Errorf("gmailsource: mailbox %s (%s): register watch: the mailbox has no label %q (gmail_watch_labels, or the query's labels)",
			s.opts.Name, s.opts.User, missing)
	}
	return ids, nil
}

// explainWatch wraps a users.watch error with the likely fix.
func (s *Source) explainWatch(err error) error {
	topic := s.opts.PubSubTopic
	var hint string
	switch code := errCode(err); {
	case code == http.StatusForbidden && !isRateLimit(err):
		hint = "Gmail may not publish to the topic: the Gmail service account " + gmailPushAccount +
			" needs Publish (role Pub/Sub Publisher) on " + topic
	case code == http.StatusBadRequest:
		hint = "check gmail_pubsub_topic: projects/PROJECT/topics/TOPIC, where PROJECT is the Google Cloud project of the OAuth client or service account"
	case code == http.StatusNotFound:
		hint = "the topic does not exist: create " + topic + " in Cloud Pub/Sub"
	default:
		return s.explain("register watch on "+topic, err)
	}
	return fmt.Errorf("gmailsource: mailbox %s (%s): register watch on %s: %w: %s",
		s.opts.Name, s.opts.User, topic, err, strings.TrimSpace(hint))
}
