package imapsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/ticket"
)

const (
	dateLayout = "2006-01-02"
	// saveEvery bounds how many committed messages the stored state may
	// lag behind; a crash re-fetches at most that many, and re-fetching
	// never duplicates (source-key dedupe).
	saveEvery = 50
	// syncedAtEvery is how often a quiet mailbox still records synced_at.
	syncedAtEvery = time.Hour
)

// syncState is what the store keeps for a mailbox, as JSON.
type syncState struct {
	// UIDValidity and LastUID: every message of the folder with a UID up
	// to LastUID under this UIDVALIDITY has been committed (RFC 9051
	// §2.3.1.1: UIDs are strictly ascending and never reused under one
	// UIDVALIDITY).
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
	// Since, while set, restricts the sync to messages with an INTERNALDATE
	// on or after this date (initial "since" sync or re-sync after a
	// UIDVALIDITY change); cleared when such a pass completes.
	Since string `json:"since,omitempty"`
	// SyncedAt is when the last complete pass started: every message
	// delivered before it is captured.
	SyncedAt time.Time `json:"synced_at,omitzero"`
	// AfterPending are committed messages whose after_capture action (seen
	// or move) failed, as an IMAP UID set ("3:5,9"); every pass retries them
	// first, so a mistake in the move target heals once it is fixed.
	AfterPending string `json:"after_pending,omitempty"`
}

// loadState reads the mailbox's stored state; found is false when there is
// none (a new mailbox) or it is unreadable, which is treated as none: the
// initial policy applies and dedupe prevents duplicates.
func (s *Source) loadState(ctx context.Context) (st syncState, found bool, err error) {
	b, err := s.opts.State.SyncState(ctx, s.opts.Tenant, s.opts.Name)
	if errors.Is(err, ticket.ErrNotFound) {
		return syncState{}, false, nil
	}
	if err != nil {
		return syncState{}, false, s.errorf("load sync state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		s.log.Warn("imapsource: unreadable sync state, starting over", "err", err)
		return syncState{}, false, nil
	}
	return st, true, nil
}

func (s *Source) saveState(ctx context.Context, st *syncState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return s.errorf("encode sync state: %w", err)
	}
	// Saved even when ctx is being cancelled: it records commits already
	// made, and the store call is short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.opts.State.SetSyncState(ctx, s.opts.Tenant, s.opts.Name, b); err != nil {
		return s.errorf("save sync state: %w", err)
	}
	return nil
}

// startState is the state to sync from when the folder has none under its
// current UIDVALIDITY: the initial policy for a new mailbox, a re-sync when
// the UIDVALIDITY changed (the old UIDs mean nothing any more).
func (cn *conn) startState(ctx context.Context, old *syncState) (*syncState, error) {
	s, sel := cn.s, cn.sel
	st := &syncState{UIDValidity: sel.UIDValidity}
	var since time.Time
	switch {
	case s.opts.InitialSync == InitialSince:
		since = s.opts.Since
	case old != nil && !old.SyncedAt.IsZero():
		// Policy "new" after a UIDVALIDITY change: everything delivered
		// before the last complete pass was captured under the old UIDs;
		// a day's margin covers clock skew and time zones (SINCE compares
		// dates only). Re-captured mail is deduplicated by Message-ID and
		// body hash.
		since = old.SyncedAt.UTC().Add(-24 * time.Hour)
	default:
		last, err := cn.lastUID(ctx)
		if err != nil {
			return nil, err
		}
		st.LastUID = uint32(last)
		st.SyncedAt = s.opts.Now().UTC()
	}
	if !since.IsZero() {
		st.Since = since.Format(dateLayout)
	}
	if old != nil {
		s.log.Warn("imapsource: UIDVALIDITY changed, re-syncing the folder",
			"folder", s.opts.Folder, "old", old.UIDValidity, "new", sel.UIDValidity, "since", st.Since)
	} else {
		s.log.Info("imapsource: first sync", "folder", s.opts.Folder, "policy", s.opts.InitialSync,
			"uidvalidity", st.UIDValidity, "last_uid", st.LastUID, "since", st.Since)
	}
	return st, nil
}

// lastUID is the highest UID in the folder now: UIDNEXT-1, or a search
// when the server did not say UIDNEXT (optional before RFC 9051).
func (cn *conn) lastUID(ctx context.Context) (imap.UID, error) {
	if cn.sel.UIDNext > 0 {
		return cn.sel.UIDNext - 1, nil
	}
	var data *imap.SearchData
	err := cn.guard(func() (err error) {
		data, err = cn.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		return err
	})
	if err != nil {
		return 0, cn.s.commandError(ctx, "UID SEARCH ALL", err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return 0, nil
	}
	return slices.Max(uids), nil
}

func (s *Source) commandError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return s.errorf("%s: %w", what, context.Cause(ctx))
	}
	return s.errorf("%s: %w", what, err)
}

// sync runs one pass over the selected folder: find the UIDs above the
// last committed one, fetch them in batches, deliver each, advance the
// state behind the commits and apply the after-capture action.
func (cn *conn) sync(ctx context.Context) (Stats, error) {
	s := cn.s
	var stats Stats
	passStart := s.opts.Now().UTC()
	stored, found, err := s.loadState(ctx)
	if err != nil {
		return stats, err
	}
	var st *syncState
	if found {
		st = &stored
	}
	cn.resync = st != nil && st.UIDValidity != cn.sel.UIDValidity
	if st == nil || st.UIDValidity != cn.sel.UIDValidity {
		if st, err = cn.startState(ctx, st); err != nil {
			return stats, err
		}
		if err := s.saveState(ctx, st); err != nil {
			return stats, err
		}
	}
	saved := *st
	cn.newAbove = st.LastUID

	// UID SEARCH UID n:* rather than UID FETCH n:* alone: the search can
	// carry the SINCE filter, and it tells the batch boundaries. "n:*"
	// matches the highest UID even when n is above it (RFC 9051 §6.4.8),
	// so UIDs at or below LastUID are dropped.
	var set imap.UIDSet
	set.AddRange(imap.UID(st.LastUID)+1, 0)
	criteria := &imap.SearchCriteria{UID: []imap.UIDSet{set}}
	if st.Since != "" {
		if criteria.Since, err = time.Parse(dateLayout, st.Since); err != nil {
			return stats, s.errorf("sync state has a bad since date %q: %w", st.Since, err)
		}
	}
	var data *imap.SearchData
	err = cn.guard(func() (err error) {
		data, err = cn.c.UIDSearch(criteria, nil).Wait()
		return err
	})
	if err != nil {
		return stats, s.commandError(ctx, "UID SEARCH", err)
	}
	uids := slices.DeleteFunc(data.AllUIDs(), func(u imap.UID) bool { return uint32(u) <= st.LastUID })
	slices.Sort(uids)
	uids = slices.Compact(uids)

	var afterErr error
	if st.AfterPending != "" {
		set, perr := parseUIDSet(st.AfterPending)
		switch {
		case perr != nil:
			s.log.Warn("imapsource: dropping unreadable after_capture backlog", "set", st.AfterPending, "err", perr)
			st.AfterPending = ""
		case s.readOnly:
		default:
			if afterErr = cn.applyAfter(ctx, set); afterErr == nil {
				st.AfterPending = ""
			}
		}
	}
	// One commit pipeline for the whole pass: its transactions go on
	// while the next UID FETCH streams in.
	cm := cn.newCommitter(ctx, uids, st, &stats)
	defer cm.stop()
	after := func() {
		if committed := cm.takeCommitted(); len(committed) > 0 {
			if err := cn.afterCapture(ctx, committed); err != nil {
				afterErr = err // committed and recorded; report, keep capturing
				st.AfterPending = addUIDs(st.AfterPending, committed)
			}
		}
	}
	for batch := range slices.Chunk(uids, s.opts.BatchSize) {
		if err := cn.fetchBatch(ctx, cm, batch); err != nil {
			if serr := s.saveIfChanged(ctx, st, &saved); serr != nil {
				err = errors.Join(err, serr)
			}
			return stats, err
		}
		after()
		if err := s.saveIfChanged(ctx, st, &saved); err != nil {
			return stats, err
		}
	}
	if err := cm.finish(); err != nil {
		if serr := s.saveIfChanged(ctx, st, &saved); serr != nil {
			err = errors.Join(err, serr)
		}
		return stats, err
	}
	after()
	// The pass is complete: a pending SINCE filter is done, and everything
	// delivered before passStart is captured.
	if st.Since != "" || passStart.Sub(st.SyncedAt) > syncedAtEvery || len(uids) > 0 {
		st.Since = ""
		st.SyncedAt = passStart
	}
	if err := s.saveIfChanged(ctx, st, &saved); err != nil {
		return stats, err
	}
	s.reportCaughtUp()
	if afterErr != nil {
		return stats, &afterCaptureError{afterErr}
	}
	return stats, nil
}

// afterCaptureError is a failed after_capture action: the messages are
// committed (and retried from AfterPending next pass), so it is reported
// but does not end the session.
type afterCaptureError struct{ err error }

func (e *afterCaptureError) Error() string { return e.err.Error() }
func (e *afterCaptureError) Unwrap() error { return e.err }

func (s *Source) saveIfChanged(ctx context.Context, st, saved *syncState) error {
	if *st == *saved {
		return nil
	}
	if err := s.saveState(ctx, st); err != nil {
		return err
	}
	*saved = *st
	return nil
}

// Commit groups: messages prepared (stored and parsed) while a FETCH
// streams in are committed together, in one transaction, when a group is
// full or the FETCH response ends (so a single IDLE delivery commits at
// once). The bytes bound counts the group's raw message bytes (plus 4 KiB
// per message for what parsing keeps), about what the group holds in
// memory while it is prepared and waits for its turn. Each
// group waits for one round of pack fsyncs (tens of milliseconds on this
// disk, more with more data), so groups are large: at 100 messages the
// fsyncs held the committing goroutine for a fifth of a 10,000-message
// capture.
const (
	commitMaxMessages = 300
	commitMaxBytes    = 32 << 20
	// Up to maxInflight groups, together at most inflightMaxBytes, may
	// be on their way at once (resolving their messages, syncing blobs,
	// waiting for their turn, in their transaction) while the next ones
	// are read and prepared: the transactions run back to back instead of
	// the reading stopping at each one.
	maxInflight      = 4
	inflightMaxBytes = 64 << 20
)

// fetched is one message of a FETCH, prepared (p) or being prepared by a
// worker (ready), waiting for its commit.
type fetched struct {
	uid      imap.UID
	internal time.Time
	size     int64 // raw bytes
	p        *capture.Prepared
	ready    chan prepared // when a worker prepares it
}

// groupDone tells the next commit group whether this one committed: ok
// is set before ch is closed.
type groupDone struct {
	ch chan struct{}
	ok bool
}

// blobSyncer is a blob store whose pending blobs can be made durable
// ahead of the transaction (store.Blobs).
type blobSyncer interface {
	Sync(ctx context.Context) error
}

// prepared is a worker's result.
type prepared struct {
	p   *capture.Prepared
	err error
}

// committedGroup is what the committing goroutine hands back: msgs
// committed (or failed) with results; prepErr, the error of the message
// after them that could not be prepared, which ends the batch.
type committedGroup struct {
	msgs    []fetched
	results []ticket.Result
	err     error
	prepErr error
}

// Parallel preparation: a message up to bufferMax bytes is read off the
// connection into memory and parsed and stored by one of prepWorkers
// goroutines while the next ones are read; bigger ones stream through the
// reading goroutine (memory stays bounded). At most prepQueue buffered
// messages wait for a worker. Commits stay in UID order: a group waits for
// each of its messages in turn.
const (
	bufferMax   = 1 << 20
	prepWorkers = 2
	prepQueue   = 16
)

// buffers recycles the memory of buffered messages (up to bufferMax).
var buffers sync.Pool // *[]byte

func getBuffer(n int) *[]byte {
	if b, ok := buffers.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, max(n, 64<<10))
	return &b
}

func putBuffer(b *[]byte) { buffers.Put(b) }

// preparers runs preparations on a few goroutines.
type preparers struct {
	jobs chan func()
	wg   sync.WaitGroup
}

func startPreparers(n int) *preparers {
	ps := &preparers{jobs: make(chan func(), prepQueue)}
	for range n {
		ps.wg.Go(func() {
			for job := range ps.jobs {
				job()
			}
		})
	}
	return ps
}

// stop ends the workers after the jobs queued.
func (ps *preparers) stop() {
	close(ps.jobs)
	ps.wg.Wait()
}

// committer commits the messages of one sync pass in groups, in UID
// order, on goroutines of its own: group k is in its transaction while
// the next ones resolve their messages (prepared by workers) and make
// their blobs durable, and while the reading goroutine goes on with the
// next UID FETCH. st.LastUID advances only over UIDs whose message was
// committed (or which the server no longer has): never past a message
// that failed.
type committer struct {
	cn    *conn
	ctx   context.Context
	st    *syncState
	stats *Stats

	order     []imap.UID // the pass's UIDs, ascending
	prefix    int        // order[:prefix] are all done
	done      map[imap.UID]bool
	committed []imap.UID // committed since takeCommitted
	saved     syncState
	sinceSave int
	failed    bool // a commit failed: nothing more is committed

	workers  *preparers
	group    []fetched
	size     int
	inflight []chan committedGroup // groups on their way, oldest first
	sizes    []int                 // their sizes
	onWay    int                   // the sum of sizes
	last     *groupDone            // the newest of them
}

func (cn *conn) newCommitter(ctx context.Context, uids []imap.UID, st *syncState, stats *Stats) *committer {
	return &committer{cn: cn, ctx: ctx, st: st, stats: stats, order: uids, done: make(map[imap.UID]bool, len(uids)),
		saved: *st, workers: startPreparers(prepWorkers)}
}

// stop waits for the groups on their way (without applying them) and the
// workers. A caller that wants them applied calls finish first.
func (cm *committer) stop() {
	for _, ch := range cm.inflight {
		<-ch
	}
	cm.inflight = nil
	cm.workers.stop()
}

// advance moves st.LastUID over the done prefix.
func (cm *committer) advance() {
	for cm.prefix < len(cm.order) && cm.done[cm.order[cm.prefix]] {
		cm.prefix++
	}
	if cm.prefix > 0 && uint32(cm.order[cm.prefix-1]) > cm.st.LastUID {
		cm.st.LastUID = uint32(cm.order[cm.prefix-1])
	}
}

// skip marks UIDs that need no commit (expunged, no body) as done.
func (cm *committer) skip(uids ...imap.UID) {
	for _, u := range uids {
		cm.done[u] = true
	}
	cm.advance()
}

// takeCommitted returns the UIDs committed since the last call.
func (cm *committer) takeCommitted() []imap.UID {
	c := cm.committed
	cm.committed = nil
	return c
}

// apply records a finished commit, in UID order, and returns the first
// failure.
func (cm *committer) apply(g committedGroup) error {
	s := cm.cn.s
	var be *ticket.BatchError
	perMessage := errors.As(g.err, &be) && len(be.Errs) == len(g.msgs)
	var first error
	for i, m := range g.msgs {
		err := g.err
		if perMessage {
			err = be.Errs[i]
		}
		if err != nil {
			if first == nil {
				if cm.ctx.Err() != nil {
					err = errors.Join(err, context.Cause(cm.ctx))
				}
				first = &deliverError{s.errorf("deliver UID %d: %w", m.uid, err)}
			}
			continue
		}
		cm.done[m.uid] = true
		cm.committed = append(cm.committed, m.uid)
		cm.stats.Fetched++
		if g.results[i].Duplicate {
			cm.stats.Duplicates++
		} else {
			cm.stats.New++
		}
		s.reportCaptured(g.results[i], m.internal)
		cm.sinceSave++
	}
	if first == nil && g.prepErr != nil {
		first = g.prepErr
	}
	cm.advance()
	cm.failed = cm.failed || first != nil
	if cm.sinceSave >= saveEvery {
		cm.sinceSave = 0
		if err := s.saveIfChanged(cm.ctx, cm.st, &cm.saved); err != nil {
			return errors.Join(first, err)
		}
	}
	return first
}

// wait applies the oldest group on its way.
func (cm *committer) wait() error {
	if len(cm.inflight) == 0 {
		return nil
	}
	g := <-cm.inflight[0]
	cm.inflight, cm.onWay, cm.sizes = cm.inflight[1:], cm.onWay-cm.sizes[0], cm.sizes[1:]
	return cm.apply(g)
}

// add puts a fetched message into the current group, and starts
// committing the group when it is full.
func (cm *committer) add(f fetched) error {
	cm.group = append(cm.group, f)
	if cm.size += int(f.size) + 4<<10; len(cm.group) >= commitMaxMessages || cm.size >= commitMaxBytes {
		return cm.flush()
	}
	return nil
}

// flush starts committing the current group. Several groups may be on
// their way (maxInflight, inflightMaxBytes); transactions stay in order,
// and a group after one that failed commits nothing.
func (cm *committer) flush() error {
	if len(cm.group) == 0 {
		return nil
	}
	for len(cm.inflight) >= maxInflight || len(cm.inflight) > 0 && cm.onWay+cm.size > inflightMaxBytes {
		if err := cm.wait(); err != nil {
			return err
		}
	}
	if cm.failed {
		cm.group, cm.size = nil, 0 // the state cannot pass the failed message anyway
		return nil
	}
	g, ctx, s := cm.group, cm.ctx, cm.cn.s
	cm.inflight, cm.sizes, cm.onWay = append(cm.inflight, make(chan committedGroup, 1)), append(cm.sizes, cm.size), cm.onWay+cm.size
	ch := cm.inflight[len(cm.inflight)-1]
	cm.group, cm.size = nil, 0
	prev, done := cm.last, &groupDone{ch: make(chan struct{})}
	cm.last = done
	go func() {
		// Wait for the group's messages in order; one that could not be
		// prepared ends the group (and the pass) there.
		var prepErr error
		ps := make([]*capture.Prepared, 0, len(g))
		for i := range g {
			if g[i].ready != nil {
				r := <-g[i].ready
				g[i].p, g[i].ready = r.p, nil
				if r.err != nil {
					prepErr = r.err
					g = g[:i]
					break
				}
			}
			ps = append(ps, g[i].p)
		}
		if sy, ok := s.opts.Pipeline.Blobs.(blobSyncer); ok && len(ps) > 0 {
			_ = sy.Sync(ctx) // a failure shows again in the commit's own Sync
		}
		if prev != nil {
			if <-prev.ch; !prev.ok {
				close(done.ch)
				ch <- committedGroup{} // nothing committed, nothing to report
				return
			}
		}
		var res []ticket.Result
		var err error
		if len(ps) > 0 {
			res, err = s.opts.Pipeline.Commit(ctx, ps)
		}
		done.ok = err == nil && prepErr == nil
		close(done.ch)
		ch <- committedGroup{msgs: g, results: res, err: err, prepErr: prepErr}
	}()
	return nil
}

// finish commits what is prepared and applies every group on its way:
// at the end of the pass, or after a failed FETCH (what was read
// completely is still good) unless a commit failed.
func (cm *committer) finish() error {
	var errs []error
	if !cm.failed {
		errs = append(errs, cm.flush())
	}
	for len(cm.inflight) > 0 {
		errs = append(errs, cm.wait())
	}
	cm.advance()
	return errors.Join(errs...)
}

// fetchBatch fetches the UIDs of batch (ascending) and hands each message
// to cm as its literal streams in. It returns when the FETCH has ended;
// the commits go on.
func (cn *conn) fetchBatch(ctx context.Context, cm *committer, batch []imap.UID) error {
	s := cn.s
	fetchOpts := &imap.FetchOptions{
		UID:          true,
		InternalDate: true, // the capture-lag metric
		// BODY.PEEK[]: the whole message, without setting \Seen (RFC 9051
		// §6.4.5).
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}
	returned := make(map[imap.UID]bool, len(batch))
	// consume hands cm what one FETCH command returns. With want set, a
	// response for any other UID is an error.
	consume := func(cmd *imapclient.FetchCommand, name string, want map[imap.UID]bool) error {
		next := func() (msg *imapclient.FetchMessageData) {
			_ = cn.guard(func() error { msg = cmd.Next(); return nil })
			return msg
		}
		for msg := next(); msg != nil; msg = next() {
			f, err := cn.prepare(ctx, msg, cm.stats, cm.workers)
			if err == nil && want != nil && !want[f.uid] {
				err = s.errorf("%s of sequence number %d answered UID %d, not one asked for", name, msg.SeqNum, f.uid)
			}
			if f.uid != 0 {
				returned[f.uid] = true
			}
			if err == nil {
				if f.p != nil || f.ready != nil {
					err = cm.add(f)
				} else if f.uid != 0 {
					cm.skip(f.uid) // no body: the message vanished
				}
			}
			if err != nil {
				// Abandon the rest: closing the socket ends the FETCH at
				// once instead of draining it.
				cn.abort()
				_ = cmd.Close()
				return errors.Join(err, cm.finish())
			}
		}
		if err := cmd.Close(); err != nil {
			return errors.Join(s.commandError(ctx, name, err), cm.finish())
		}
		return cm.flush() // the end of a FETCH: a lone IDLE delivery commits now
	}

	if err := consume(cn.c.Fetch(imap.UIDSetNum(batch...), fetchOpts), "UID FETCH", nil); err != nil {
		return err
	}
	// A UID the FETCH did not return was expunged meanwhile, or the
	// server answered it in a way the IMAP client could not match to the
	// command: a body before the UID, which RFC 9051 allows and go-imap
	// drops. Which it is, a FETCH of the UIDs alone tells; the ones still
	// there are fetched by sequence number, which the client matches
	// whatever the order.
	var missing []imap.UID
	for _, uid := range batch {
		if !returned[uid] {
			missing = append(missing, uid)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	seqs, err := cn.seqNums(ctx, missing)
	if err != nil {
		return errors.Join(err, cm.finish())
	}
	var gone []imap.UID
	for _, uid := range missing {
		if _, ok := seqs[uid]; !ok {
			gone = append(gone, uid)
		}
	}
	cm.skip(gone...)
	if len(seqs) == 0 {
		return nil
	}
	s.log.Warn("imapsource: the server's UID FETCH answer did not carry the UID before the body; fetching by sequence number",
		"messages", len(seqs))
	want := map[imap.UID]bool{}
	nums := make([]uint32, 0, len(seqs))
	for uid, seq := range seqs {
		want[uid] = true
		nums = append(nums, seq)
	}
	if err := consume(cn.c.Fetch(imap.SeqSetNum(nums...), fetchOpts), "FETCH", want); err != nil {
		return err
	}
	for uid := range want {
		if !returned[uid] {
			return errors.Join(s.errorf("UID %d is in the folder but FETCH does not return it", uid), cm.finish())
		}
	}
	return nil
}

// seqNums returns the sequence numbers of those of uids still in the
// folder (a FETCH of the UID alone has no literal, so go-imap matches it).
func (cn *conn) seqNums(ctx context.Context, uids []imap.UID) (map[imap.UID]uint32, error) {
	cmd := cn.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true})
	seqs := map[imap.UID]uint32{}
	for {
		var msg *imapclient.FetchMessageData
		_ = cn.guard(func() error { msg = cmd.Next(); return nil })
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			_ = cmd.Close()
			return nil, cn.s.commandError(ctx, "UID FETCH (UID)", err)
		}
		if buf.UID != 0 {
			seqs[buf.UID] = msg.SeqNum
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, cn.s.commandError(ctx, "UID FETCH (UID)", err)
	}
	return seqs, nil
}

// prepare hands one FETCH response's body to the pipeline (stored and
// parsed, not committed): a small one is read into memory and prepared by
// a worker (f.ready), a big one streams through here (f.p). A response
// without a body (the message vanished) gives a fetched with neither.
func (cn *conn) prepare(ctx context.Context, msg *imapclient.FetchMessageData, stats *Stats, workers *preparers) (fetched, error) {
	s := cn.s
	var f fetched
	var early *spool // a body that came before the UID
	defer func() { early.close() }()
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			f.uid = it.UID
		case imapclient.FetchItemDataInternalDate:
			f.internal = it.Time
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			if f.p != nil || f.ready != nil || early != nil {
				// Only one BODY[] was asked for; drain any other.
				if _, err := io.Copy(io.Discard, it.Literal); err != nil {
					return f, s.errorf("read FETCH response (sequence number %d): %w", msg.SeqNum, err)
				}
				continue
			}
			if f.uid == 0 {
				// RFC 9051 §7.5.2 fixes no order of FETCH items, and some
				// servers send the UID after the body: keep the body
				// until the UID comes.
				sp, err := spoolBody(it.Literal)
				stats.Bytes += sp.size()
				if err != nil {
					return f, s.errorf("read message body (sequence number %d): %w", msg.SeqNum, err)
				}
				early = sp
				continue
			}
			cr := &countingReader{r: it.Literal}
			err := cn.handOff(ctx, &f, cr, it.Literal.Size(), workers)
			stats.Bytes += cr.n
			if err != nil {
				return f, err
			}
		}
	}
	if early != nil {
		if f.uid == 0 {
			return f, s.errorf("server sent a message body without its UID (sequence number %d)", msg.SeqNum)
		}
		r, err := early.reader()
		if err == nil {
			err = cn.handOff(ctx, &f, r, early.size(), workers)
		}
		if err != nil {
			return f, err
		}
	}
	if f.p == nil && f.ready == nil && f.uid != 0 {
		s.log.Warn("imapsource: FETCH returned no body, skipping", "uid", f.uid)
	}
	return f, nil
}

// handOff gives the body r (size bytes) of message f to the pipeline: a
// small one is read into memory and prepared by a worker (f.ready), a big
// one streams through here (f.p).
func (cn *conn) handOff(ctx context.Context, f *fetched, r io.Reader, size int64, workers *preparers) error {
	s := cn.s
	d := capture.Delivery{
		Tenant:    s.opts.Tenant,
		Mailbox:   s.opts.Name,
		SourceKey: "imap:" + strconv.FormatUint(uint64(cn.sel.UIDValidity), 10) + ":" + strconv.FormatUint(uint64(f.uid), 10),
		New:       !cn.resync && uint32(f.uid) > cn.newAbove,
	}
	uid := f.uid
	wrap := func(err error) error {
		if ctx.Err() != nil {
			err = errors.Join(err, context.Cause(ctx))
		}
		return &deliverError{s.errorf("deliver UID %d: %w", uid, err)}
	}
	if size <= bufferMax && workers != nil {
		buf := getBuffer(int(size))
		if _, err := io.ReadFull(r, *buf); err != nil {
			putBuffer(buf)
			return wrap(fmt.Errorf("read message: %w", err))
		}
		f.size = size
		f.ready = make(chan prepared, 1)
		ready := f.ready
		workers.jobs <- func() {
			p, err := s.opts.Pipeline.Prepare(ctx, d, bytes.NewReader(*buf))
			putBuffer(buf) // Prepare keeps nothing of it
			if err != nil {
				err = wrap(err)
			}
			ready <- prepared{p, err}
		}
		return nil
	}
	cr := &countingReader{r: r}
	p, err := s.opts.Pipeline.Prepare(ctx, d, cr)
	if err != nil {
		return wrap(err)
	}
	f.p, f.size = p, cr.n
	return nil
}

// spool holds a message body read before its UID: in memory up to
// bufferMax, else in a temporary file.
type spool struct {
	buf  *[]byte
	file *os.File
	n    int64
}

func spoolBody(lit imap.LiteralReader) (*spool, error) {
	sp := &spool{}
	if lit.Size() <= bufferMax {
		sp.buf = getBuffer(int(lit.Size()))
		n, err := io.ReadFull(lit, *sp.buf)
		sp.n = int64(n)
		if err != nil {
			sp.close()
			return sp, err
		}
		return sp, nil
	}
	f, err := os.CreateTemp("", "sidedesk-imap-*")
	if err != nil {
		return sp, err
	}
	os.Remove(f.Name()) // unnamed: nothing is left behind, whatever happens
	sp.file = f
	sp.n, err = io.Copy(f, lit)
	if err != nil {
		sp.close()
		return sp, err
	}
	return sp, nil
}

func (sp *spool) size() int64 {
	if sp == nil {
		return 0
	}
	return sp.n
}

// reader reads the spooled body from its start.
func (sp *spool) reader() (io.Reader, error) {
	if sp.file != nil {
		if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return sp.file, nil
	}
	return bytes.NewReader(*sp.buf), nil
}

func (sp *spool) close() {
	if sp == nil {
		return
	}
	if sp.file != nil {
		sp.file.Close()
	}
	if sp.buf != nil {
		putBuffer(sp.buf)
		sp.buf = nil
	}
}

// afterCapture applies after_capture to messages already committed, so a
// failure here never loses mail (RFC 9051 §6.4.6 STORE, RFC 6851 MOVE).
func (cn *conn) afterCapture(ctx context.Context, uids []imap.UID) error {
	s := cn.s
	if len(uids) == 0 || s.readOnly {
		return nil
	}
	return cn.applyAfter(ctx, imap.UIDSetNum(uids...))
}

// applyAfter runs the after_capture action on set. UIDs no longer in the
// folder (moved or deleted meanwhile) are ignored by the server.
func (cn *conn) applyAfter(ctx context.Context, set imap.UIDSet) error {
	s := cn.s
	if s.moveTo == "" {
		err := cn.guard(func() error {
			return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
		})
		if err != nil {
			return s.commandError(ctx, "after_capture seen: UID STORE +FLAGS.SILENT (\\Seen)", err)
		}
		return nil
	}
	// go-imap falls back to COPY + STORE \Deleted + (UID) EXPUNGE when the
	// server lacks MOVE.
	move := func() error {
		_, err := cn.c.Move(set, cn.serverName(s.moveTo)).Wait()
		return err
	}
	err := cn.guard(move)
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeTryCreate {
		if err = cn.ensureFolder(s.moveTo); err == nil {
			err = cn.guard(move)
		}
	}
	if err != nil {
		return s.commandError(ctx, fmt.Sprintf("after_capture move to %q", s.moveTo), err)
	}
	return nil
}

// addUIDs adds uids to the UID set string set.
func addUIDs(set string, uids []imap.UID) string {
	all, err := parseUIDSet(set)
	if err != nil {
		all = nil
	}
	all.AddNum(uids...)
	return all.String()
}

// parseUIDSet reads what imap.UIDSet.String wrote: "3:5,9".
func parseUIDSet(s string) (imap.UIDSet, error) {
	var set imap.UIDSet
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("bad UID %q in %q", lo, s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b == 0 {
				return nil, fmt.Errorf("bad UID %q in %q", hi, s)
			}
		}
		set.AddRange(imap.UID(a), imap.UID(b))
	}
	return set, nil
}
