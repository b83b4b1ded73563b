package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sidedesk/sidedesk/ticket"
)

// Commit groups: a Committer commits the messages a source adds in groups,
// one transaction each, when a group is full or the source flushes (the
// end of an IMAP FETCH, a Gmail page), so a single new message commits at
// once. The bytes bound counts the group's raw message bytes plus 4 KiB
// per message for what parsing keeps: about what the group holds in memory
// while it is prepared and waits for its turn. Each group waits for one
// round of pack fsyncs (tens of milliseconds on this disk), so groups are
// large: at 100 messages the fsyncs held the committing goroutine for a
// fifth of a 10,000-message capture. The bytes bounds are what keeps a
// capture's memory down: at 32 MiB a group and 64 MiB in flight a
// 10,000-mail capture peaked at 250 MB RSS; at 8 and 16 MiB (some 160
// mails of 50 KB a group, several groups still on their way at once) it
// peaks near 90 MB in the same time (imapbench).
const (
	defaultGroupMessages = 300
	defaultGroupBytes    = 8 << 20
	// Up to defaultInflight groups, together at most
	// defaultInflightBytes, may be on their way at once (waiting for their
	// messages' preparation, syncing blobs, waiting for their turn, in
	// their transaction) while the next ones are read and prepared: the
	// transactions run back to back instead of the reading stopping at
	// each one.
	defaultInflight      = 4
	defaultInflightBytes = 16 << 20
	// A message up to defaultBufferMax bytes is read into memory and
	// prepared by one of defaultWorkers goroutines while the next ones are
	// read; a bigger one streams through the adding goroutine, so memory
	// stays bounded. At most prepQueue buffered messages wait for a
	// worker.
	defaultBufferMax = 1 << 20
	defaultWorkers   = 2
	prepQueue        = 16
	parseOverhead    = 4 << 10
)

// CommitOptions bound a Committer's groups and memory; zero fields take
// the defaults.
type CommitOptions struct {
	GroupMessages int   // messages per transaction (300)
	GroupBytes    int   // raw bytes per transaction, plus 4 KiB a message (8 MiB)
	Inflight      int   // groups on their way at once (4)
	InflightBytes int   // their bytes together (16 MiB)
	Workers       int   // goroutines preparing buffered messages (2)
	BufferMax     int64 // the largest message read into memory for a worker (1 MiB)
}

func (o CommitOptions) withDefaults() CommitOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.GroupMessages, defaultGroupMessages)
	def(&o.GroupBytes, defaultGroupBytes)
	def(&o.Inflight, defaultInflight)
	def(&o.InflightBytes, defaultInflightBytes)
	def(&o.Workers, defaultWorkers)
	if o.BufferMax <= 0 {
		o.BufferMax = defaultBufferMax
	}
	return o
}

// Outcome is what became of one message given to a Committer: Err is nil
// when it was committed (Result says how), else why it was not.
type Outcome[T any] struct {
	Tag    T
	Result ticket.Result
	Err    error
}

// Committed receives the outcomes of one commit group, in the order the
// messages were added, on the goroutine that called Add, Flush or Finish.
// A source advances its own sync state (UIDs, history ids) here, over the
// committed messages only. Its error is returned by the call that ran it.
type Committed[T any] func(group []Outcome[T]) error

// Committer is the ordered group committer every capture source shares.
// A source adds messages as they stream in (Add); they are stored, parsed
// and prepared (Pipeline.Prepare) on worker goroutines, and committed in
// groups in the order they were added, one transaction per group, while
// the source reads on. When a message fails (it cannot be prepared, or its
// commit fails), the messages added after it are not committed: a source's
// state can never pass a message that is not stored, so the next pass
// starts over from it and loses nothing.
//
// Add, Flush, Finish and Close are called from one goroutine. Close must
// be called (after Finish, to commit what was added).
type Committer[T any] struct {
	p         *Pipeline
	ctx       context.Context
	opts      CommitOptions
	committed Committed[T]

	jobs    chan func()
	workers sync.WaitGroup

	group    []item[T]
	size     int
	inflight []chan []Outcome[T] // groups on their way, oldest first
	sizes    []int               // their sizes
	onWay    int                 // the sum of sizes
	last     *groupDone          // the newest of them
	failed   bool                // a message failed: nothing more is committed
	closed   bool
}

// item is one added message: prepared (p), or being prepared by a worker
// (ready).
type item[T any] struct {
	tag   T
	p     *Prepared
	ready chan prepared
}

type prepared struct {
	p   *Prepared
	err error
}

// groupDone tells the next group whether this one committed everything:
// ok is set before ch is closed.
type groupDone struct {
	ch chan struct{}
	ok bool
}

// NewCommitter starts a Committer for one pass of a source. ctx bounds
// every preparation and commit.
func NewCommitter[T any](ctx context.Context, p *Pipeline, opts CommitOptions, committed Committed[T]) *Committer[T] {
	c := &Committer[T]{p: p, ctx: ctx, opts: opts.withDefaults(), committed: committed}
	c.jobs = make(chan func(), prepQueue)
	for range c.opts.Workers {
		c.workers.Go(func() {
			for job := range c.jobs {
				job()
			}
		})
	}
	return c
}

// buffers recycles the memory of buffered messages, one pool per size
// class (64 KiB, 128 KiB, ... BufferMax and up): with a single pool, a
// message bigger than the buffer it drew dropped that buffer for a new
// one, and buffered messages were a tenth of a capture's allocations.
var buffers [bufferClasses]sync.Pool // *[]byte

const (
	minBufferShift = 16 // 64 KiB
	bufferClasses  = 6  // up to 2 MiB; bigger ones are not kept
)

// bufferClass is the class of a buffer of n bytes: the smallest whose
// buffers hold n.
func bufferClass(n int) int {
	c := 0
	for c < bufferClasses && n > 1<<(minBufferShift+c) {
		c++
	}
	return c
}

func getBuffer(n int) *[]byte {
	c := bufferClass(n)
	if c < bufferClasses {
		if b, ok := buffers[c].Get().(*[]byte); ok {
			*b = (*b)[:n]
			return b
		}
		b := make([]byte, n, 1<<(minBufferShift+c))
		return &b
	}
	b := make([]byte, n)
	return &b
}

// putBuffer gives b back to its class (the one whose size its capacity
// has).
func putBuffer(b *[]byte) {
	c := bufferClass(cap(*b))
	if c < bufferClasses && cap(*b) == 1<<(minBufferShift+c) {
		buffers[c].Put(b)
	}
}

// Add gives the committer one message: r yields its raw bytes, size is
// how many (-1 when unknown). A message of at most BufferMax bytes is read
// into memory here and prepared by a worker; a bigger one is prepared
// here, streaming. Either way r is read to its end before Add returns.
// Add may wait for a group on its way (Committed runs then); it returns
// the error of a message that could not be read or prepared here (the
// messages added before it are still committed by Finish), or the first
// error Committed returned.
func (c *Committer[T]) Add(d Delivery, r io.Reader, size int64, tag T) error {
	it := item[T]{tag: tag}
	var n int64
	if size >= 0 && size <= c.opts.BufferMax {
		buf := getBuffer(int(size))
		if _, err := io.ReadFull(r, *buf); err != nil {
			putBuffer(buf)
			return fmt.Errorf("read message: %w", err)
		}
		n = size
		it.ready = make(chan prepared, 1)
		ready, ctx := it.ready, c.ctx
		c.jobs <- func() {
			p, err := c.p.Prepare(ctx, d, bytes.NewReader(*buf))
			putBuffer(buf) // Prepare keeps nothing of it
			ready <- prepared{p, err}
		}
	} else {
		cr := &CountingReader{R: r}
		p, err := c.p.Prepare(c.ctx, d, cr)
		if err != nil {
			return err
		}
		it.p, n = p, cr.N
	}
	c.group = append(c.group, it)
	if c.size += int(n) + parseOverhead; len(c.group) >= c.opts.GroupMessages || c.size >= c.opts.GroupBytes {
		return c.Flush()
	}
	return nil
}

// Flush starts committing the messages added since the last group. It
// may wait for a group on its way first (at most Inflight groups, together
// at most InflightBytes); transactions stay in order.
func (c *Committer[T]) Flush() error {
	if len(c.group) == 0 {
		return nil
	}
	for len(c.inflight) >= c.opts.Inflight || len(c.inflight) > 0 && c.onWay+c.size > c.opts.InflightBytes {
		if err := c.wait(); err != nil {
			return err
		}
	}
	g := c.group
	c.group = nil
	if c.failed {
		c.size = 0
		c.drop(g) // a source's state cannot pass the failed message anyway
		return nil
	}
	ch := make(chan []Outcome[T], 1)
	c.inflight, c.sizes, c.onWay = append(c.inflight, ch), append(c.sizes, c.size), c.onWay+c.size
	c.size = 0
	prev, done := c.last, &groupDone{ch: make(chan struct{})}
	c.last = done
	go c.commitGroup(g, prev, done, ch)
	return nil
}

// commitGroup waits for the group's messages in order (one that could not
// be prepared ends the group there), makes the blobs durable while the
// group before is in its transaction, waits for that one, and commits.
func (c *Committer[T]) commitGroup(g []item[T], prev, done *groupDone, ch chan<- []Outcome[T]) {
	out := make([]Outcome[T], 0, len(g))
	ps := make([]*Prepared, 0, len(g))
	var prepErr error
	for i := range g {
		p := g[i].p
		if g[i].ready != nil {
			r := <-g[i].ready
			if r.err != nil {
				prepErr = r.err
				c.drop(g[i+1:])
				out = append(out, Outcome[T]{Tag: g[i].tag, Err: r.err})
				break
			}
			p = r.p
		}
		ps = append(ps, p)
		out = append(out, Outcome[T]{Tag: g[i].tag})
	}
	if len(ps) > 0 {
		_ = c.p.Blobs.Sync(c.ctx) // ahead of the turn; a failure shows again in Commit's own Sync
	}
	if prev != nil {
		if <-prev.ch; !prev.ok {
			close(done.ch)
			ch <- nil // nothing committed, nothing to report
			return
		}
	}
	ok := prepErr == nil
	if len(ps) > 0 {
		res, err := c.p.Commit(c.ctx, ps)
		var be *ticket.BatchError
		perMessage := errors.As(err, &be) && len(be.Errs) == len(ps)
		for i := range ps {
			switch {
			case perMessage:
				out[i].Err = be.Errs[i]
			case err != nil:
				out[i].Err = err
			}
			out[i].Result = res[i]
		}
		ok = ok && err == nil
	}
	done.ok = ok
	close(done.ch)
	ch <- out
}

// drop waits for the workers preparing items that will not be committed.
func (c *Committer[T]) drop(g []item[T]) {
	for _, it := range g {
		if it.ready != nil {
			<-it.ready
		}
	}
}

// wait hands the oldest group on its way to Committed.
func (c *Committer[T]) wait() error {
	out := <-c.inflight[0]
	c.inflight, c.onWay, c.sizes = c.inflight[1:], c.onWay-c.sizes[0], c.sizes[1:]
	for _, o := range out {
		if o.Err != nil {
			c.failed = true
		}
	}
	if len(out) == 0 || c.committed == nil {
		return nil
	}
	return c.committed(out)
}

// Finish commits what was added (unless a message failed) and waits for
// every group on its way, handing each to Committed. It returns the errors
// Committed returned.
func (c *Committer[T]) Finish() error {
	var errs []error
	errs = append(errs, c.Flush())
	for len(c.inflight) > 0 {
		errs = append(errs, c.wait())
	}
	return errors.Join(errs...)
}

// Close waits for the groups on their way without handing them to
// Committed (call Finish first to have them), and stops the workers.
func (c *Committer[T]) Close() {
	if c.closed {
		return
	}
	c.closed = true
	for _, ch := range c.inflight {
		<-ch
	}
	c.inflight = nil
	c.drop(c.group)
	c.group = nil
	close(c.jobs)
	c.workers.Wait()
}

// CountingReader counts the bytes read through it in N.
type CountingReader struct {
	R io.Reader
	N int64
}

func (c *CountingReader) Read(b []byte) (int, error) {
	n, err := c.R.Read(b)
	c.N += int64(n)
	return n, err
}
