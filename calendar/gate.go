package calendar

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync"
	"time"
)

// ServerGates limits how many requests are in flight to each CalDAV server
// at once, shared by every source that talks to it. The limit depends on
// where the wait is, told by how long a TCP connection to the server takes
// to open (the network's round trip, whatever the server is busy with):
//
//   - A near server (the same host or LAN: connections open within
//     nearRTT) spends its own work on a request, not the network's, and a
//     single-process server such as Radicale works on one request at a
//     time (Python's GIL). More requests in flight only wait in it, and on
//     a small machine cost it more CPU: Radicale 3.1 took 8 s of CPU for a
//     full sync of 200 agents one request at a time, 12 s two at a time and
//     20 s eight at a time, and the sync took longer. Near servers get one
//     request at a time.
//   - A far server (iCloud, Fastmail, a hosted Nextcloud) makes every
//     request wait a network round trip, which requests side by side
//     overlap. Far servers get the maximum (8 unless configured).
//
// Until a connection has opened, a server gets one request at a time.
// Judging by the answers' times instead was tried: a near server's answers
// grow with the calendar's size and with its load (a Radicale just started
// answered its first requests in over 25 ms and was taken for far), and
// adaptive schemes (hill climbing on the answer rate, Vegas-style latency
// ratios) did not settle against Radicale.
//
// A slot is held from the request until its answer's body is closed or read
// to its end: callers read answers into memory before they parse them, so a
// slot never waits on our own work.
type ServerGates struct {
	max   int
	parse chan struct{}
	mu    sync.Mutex
	gates map[string]*gate
}

// DefaultMaxPerServer is the most requests in flight to a far server.
const DefaultMaxPerServer = 8

// nearRTT is the connection time under which a server is near: a LAN
// round trip is well under a millisecond, another region's tens of them.
const nearRTT = 5 * time.Millisecond

// NewServerGates returns gates with at most maxPerServer requests in flight
// to one server (DefaultMaxPerServer when maxPerServer <= 0).
func NewServerGates(maxPerServer int) *ServerGates {
	if maxPerServer <= 0 {
		maxPerServer = DefaultMaxPerServer
	}
	return &ServerGates{
		max:   maxPerServer,
		parse: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1)),
		gates: map[string]*gate{},
	}
}

// parsing waits for a parse slot; the returned func frees it.
func (g *ServerGates) parsing(ctx context.Context) (func(), error) {
	select {
	case g.parse <- struct{}{}:
		return func() { <-g.parse }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// transport returns base (http.DefaultTransport when nil) limited by the
// gate of each request's server.
func (g *ServerGates) transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &gatedTransport{base: base, gates: g}
}

// gate returns the gate of the server at scheme://host.
func (g *ServerGates) gate(scheme, host string) *gate {
	key := strings.ToLower(scheme + "://" + host)
	g.mu.Lock()
	defer g.mu.Unlock()
	gt := g.gates[key]
	if gt == nil {
		gt = &gate{limit: 1, max: g.max}
		g.gates[key] = gt
	}
	return gt
}

// GateStats describes the requests to one server.
type GateStats struct {
	Limit    int           // the limit now
	Requests int           // requests answered
	Held     time.Duration // the sum of their times, request to end of answer
}

// Stats reports on the server at scheme://host.
func (g *ServerGates) Stats(scheme, host string) GateStats {
	g.mu.Lock()
	gt := g.gates[strings.ToLower(scheme+"://"+host)]
	g.mu.Unlock()
	if gt == nil {
		return GateStats{}
	}
	gt.mu.Lock()
	defer gt.mu.Unlock()
	return GateStats{Limit: gt.limit, Requests: gt.requests, Held: gt.held}
}

// gate is one server's limit.
type gate struct {
	mu       sync.Mutex
	limit    int
	max      int
	inflight int
	waiters  []chan struct{}
	// rtt is the fastest connection to the server so far, 0 before one.
	rtt time.Duration

	// requests and held count the answered requests and the time they held
	// their slots.
	requests int
	held     time.Duration
}

// acquire waits for a slot.
func (g *gate) acquire(ctx context.Context) error {
	g.mu.Lock()
	if g.inflight < g.limit {
		g.inflight++
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	g.waiters = append(g.waiters, ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil // release handed its slot over
	case <-ctx.Done():
		g.mu.Lock()
		for i, w := range g.waiters {
			if w == ch {
				g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
				g.mu.Unlock()
				return ctx.Err()
			}
		}
		g.mu.Unlock()
		// The slot was handed over while ctx ended: give it back.
		g.release(0)
		return ctx.Err()
	}
}

// connected records how long a connection to the server took to open.
func (g *gate) connected(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rtt != 0 && d >= g.rtt {
		return
	}
	g.rtt = d
	if d < nearRTT {
		g.limit = 1
	} else {
		g.limit = g.max
	}
	g.wake()
}

// release frees a slot. took > 0 is the time of an answered request.
func (g *gate) release(took time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if took > 0 {
		g.requests++
		g.held += took
	}
	g.inflight--
	g.wake()
}

// wake hands free slots to waiting requests; g.mu is held.
func (g *gate) wake() {
	for len(g.waiters) > 0 && g.inflight < g.limit {
		w := g.waiters[0]
		g.waiters = g.waiters[1:]
		g.inflight++
		close(w)
	}
}

// gatedTransport holds a slot of its gate from each request until its
// answer's body is closed or read to its end.
type gatedTransport struct {
	base  http.RoundTripper
	gates *ServerGates
}

func (t *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	gt := t.gates.gate(req.URL.Scheme, req.URL.Host)
	if err := gt.acquire(req.Context()); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	start := time.Now()
	var dialed time.Time
	trace := &httptrace.ClientTrace{
		ConnectStart: func(string, string) { dialed = time.Now() },
		ConnectDone: func(_, _ string, err error) {
			if err == nil && !dialed.IsZero() {
				gt.connected(max(time.Since(dialed), 1))
			}
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		gt.release(0)
		return nil, err
	}
	resp.Body = &gatedBody{ReadCloser: resp.Body, done: func() { gt.release(max(time.Since(start), 1)) }}
	return resp, nil
}

// gatedBody releases its slot once, at EOF, a read error or Close.
type gatedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *gatedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *gatedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
