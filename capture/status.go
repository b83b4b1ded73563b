package capture

import (
	"sort"
	"sync"
	"time"
)

// MailboxStatus is one mailbox's capture health, as /healthz shows it.
// Times are UTC (RFC 3339 in JSON); zero times are omitted.
type MailboxStatus struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"` // "imap" or "gmail"
	Connected   bool      `json:"connected"`
	LastSync    time.Time `json:"last_sync,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Captured    int64     `json:"captured"`
}

// Status holds every mailbox's health; safe for concurrent use.
type Status struct {
	mu sync.Mutex
	m  map[string]*MailboxStatus
}

// NewStatus returns an empty Status.
func NewStatus() *Status { return &Status{m: map[string]*MailboxStatus{}} }

// Update changes the named mailbox's status under the lock, creating it on
// first use. fn must not call back into s.
func (s *Status) Update(name string, fn func(*MailboxStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[name]
	if !ok {
		st = &MailboxStatus{Name: name}
		s.m[name] = st
	}
	fn(st)
	st.Name = name
	st.LastSync = utc(st.LastSync)
	st.LastErrorAt = utc(st.LastErrorAt)
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// Snapshot returns a copy of every mailbox's status, sorted by name.
func (s *Status) Snapshot() []MailboxStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MailboxStatus, 0, len(s.m))
	for _, st := range s.m {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
