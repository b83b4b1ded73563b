package ticket

import "time"

// The calendar's stored records: busy time only, never an event's title,
// description, location, attendees or UID.

// Interval is a half-open span of busy time [Start, End), in UTC.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// CalendarSync is what an agent's last successful sync left for the next
// one: the source version its intervals were read at and the window they
// are known for. The zero value: the agent never synced.
type CalendarSync struct {
	Version string
	Window  [2]time.Time
}

// StoredBusy is an agent's stored busy time overlapping a range, with the
// window it is known for (zero when the agent never synced).
type StoredBusy struct {
	Busy   []Interval
	Window [2]time.Time
}

// CalendarStatus is the outcome of an agent's latest calendar syncs.
type CalendarStatus struct {
	AgentID string `json:"agent_id"`
	// LastSync is the last successful sync (zero: never).
	LastSync    time.Time `json:"last_sync,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastError is empty when the latest attempt succeeded.
	LastError string `json:"last_error,omitempty"`
	// Intervals is the number of busy intervals stored by the last success.
	Intervals int `json:"intervals"`
}
