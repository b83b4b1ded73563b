package calendar

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"
)

// ServerGates limits how many requests are in flight to each CalDAV server
// at once, shared by every source that talks to it. The limit depends on
// where the wait is:
//
//   - A server whose fastest answer came within nearLatency is near (the
//     same host or LAN): its own work is the wait, and a single-process
//     server such as Radicale works on one request at a time (Python's GIL).
//     More requests in flight only wait in it, and on a small machine cost
//     it more CPU: Radicale 3.1 took 8 s of CPU for a full sync of 200
//     agents one request at a time, 12 s two at a time and 20 s eight at a
//     time, and the sync took longer. Near servers get one request at a time.
//   - A server whose answers all took longer is far (iCloud, Fastmail, a
//     hosted or PHP-based Nextcloud): the network or its set-up per request
//     is the wait, which requests side by side overlap. Far servers get
//     the maximum (8 unless configured).
//
// Until a server has answered, it gets one request at a time. Adaptive
// schemes (hill climbing on the answer rate, Vegas-style latency ratios)
// were tried against Radicale and did not settle: answers of different
// kinds and sizes made the rate swing by 2x between windows.
//
// A slot is held from the request until its answer's body is closed or read
// to its end: callers read answers into memory before they parse them, so a
// slot never waits on our own work.
//
// Parsing answers is bounded too: at most GOMAXPROCS-1 (at least 1) at once,
// so the goroutine that sends the next request to a near server finds a
// free core instead of waiting behind our parsing while the server idles
// (with 8 agents parsing at once on 2 cores, Radicale's full sync of 200
// agents took 10-11 s instead of 9).
type ServerGates struct {
	max   int
	parse chan struct{}
	mu    sync.Mutex
	gates map[string]*gate
}

// DefaultMaxPerServer is the most requests in flight to a far server.
const DefaultMaxPerServer = 8

// nearLatency is the fastest answer under which a server is near.
const nearLatency = 25 * time.Millisecond

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

	// fastest is the fastest answer so far.
	fastest time.Duration

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

// release frees a slot. took > 0 is the time of an answered request.
func (g *gate) release(took time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if took > 0 {
		g.requests++
		g.held += took
		if g.fastest == 0 || took < g.fastest {
			g.fastest = took
			if took < nearLatency {
				g.limit = 1
			} else {
				g.limit = g.max
			}
		}
	}
	g.inflight--
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
