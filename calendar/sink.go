package calendar

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Sink receives each agent's busy time after a successful sync: a CRM
// scheduler (the Salesforce sink writes ResourceAbsence records) or the
// local one. busy is sorted, merged and clipped to window; it replaces
// whatever the sink held for the agent within window.
type Sink interface {
	PublishBusy(ctx context.Context, agent Agent, window [2]time.Time, busy []Interval) error
}

// LocalSink is the in-process scheduler sink: it keeps the latest busy time
// published per agent. The stored intervals, the JSON API and the feed are
// always served from the database; LocalSink is for embedding and tests.
type LocalSink struct {
	mu   sync.Mutex
	busy map[string]Published
}

// Published is what a sink received for one agent.
type Published struct {
	Window [2]time.Time
	Busy   []Interval
}

// NewLocalSink returns an empty LocalSink.
func NewLocalSink() *LocalSink { return &LocalSink{busy: map[string]Published{}} }

// PublishBusy implements Sink.
func (l *LocalSink) PublishBusy(_ context.Context, agent Agent, window [2]time.Time, busy []Interval) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy[agent.ID] = Published{Window: window, Busy: slices.Clone(busy)}
	return nil
}

// Get returns what was last published for an agent.
func (l *LocalSink) Get(agentID string) (Published, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.busy[agentID]
	return p, ok
}
