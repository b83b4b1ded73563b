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
	// Epoch counts the times the server gave out UIDs again under the
	// same UIDVALIDITY (UIDNEXT fell to or below LastUID: a restored
	// mailbox); it is part of the source keys from then on, so a reused
	// UID is not taken for the message it named before.
	Epoch uint32 `json:"epoch,omitempty"`
}

// loadState reads the mailbox's stored state; found is false when there is
// none (a new mailbox) or it is unreadable, which is treated as none: the
// initial policy applies and dedupe prevents duplicates.
func (s *Source) loadState(ctx context.Context) (st syncState, found bool, err error) {
	b, err := s.opts.State.SyncState(ctx, s.opts.Tenant, s.key)
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
	if err := s.opts.State.SetSyncState(ctx, s.opts.Tenant, s.key, b); err != nil {
		return s.errorf("save sync state: %w", err)
	}
	return nil
}

// epochTag is "" before the first UID reuse, then "e1", "e2", ...
func epochTag(epoch uint32) string {
	if epoch == 0 {
		return ""
	}
	return "e" + strconv.FormatUint(uint64(epoch), 10)
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
	// UIDNEXT as SELECT reported it: only the connection's first pass may
	// compare it with what was captured since (later passes capture mail
	// that arrived after the SELECT, above that UIDNEXT).
	firstPass := cn.passes == 0
	cn.passes++
	if st != nil && firstPass && !cn.resync && cn.sel.UIDNext > 0 && uint32(cn.sel.UIDNext) <= st.LastUID {
		// RFC 9051 §2.3.1.1 forbids this, and restored or rebuilt
		// mailboxes do it: new mail would get UIDs we think we have.
		// Re-sync from the last complete pass (duplicates are
		// recognised by Message-ID and body, or by their raw bytes).
		s.log.Warn("imapsource: the server gives out UIDs again under the same UIDVALIDITY (a restored mailbox?); re-syncing",
			"folder", s.opts.Folder, "uidvalidity", st.UIDValidity,
			"last_captured_uid", st.LastUID, "uidnext", cn.sel.UIDNext)
		next := &syncState{UIDValidity: st.UIDValidity, Epoch: st.Epoch + 1, AfterPending: ""}
		if !st.SyncedAt.IsZero() {
			next.Since = st.SyncedAt.UTC().Add(-24 * time.Hour).Format(dateLayout)
		}
		st, cn.resync = next, true
		if err := s.saveState(ctx, st); err != nil {
			return stats, err
		}
	}
	if st == nil || st.UIDValidity != cn.sel.UIDValidity {
		if st, err = cn.startState(ctx, st); err != nil {
			return stats, err
		}
		if err := s.saveState(ctx, st); err != nil {
			return stats, err
		}
	}
	saved := *st
	cn.newAbove, cn.epoch = st.LastUID, st.Epoch

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
	ps := cn.newPass(ctx, uids, st, &stats)
	defer ps.cm.Close()
	after := func() {
		if committed := ps.takeCommitted(); len(committed) > 0 {
			if err := cn.afterCapture(ctx, committed); err != nil {
				afterErr = err // committed and recorded; report, keep capturing
			} else if !s.readOnly {
				st.AfterPending = removeUIDs(st.AfterPending, committed)
			}
		}
	}
	for batch := range slices.Chunk(uids, s.opts.BatchSize) {
		if err := cn.fetchBatch(ctx, ps, batch); err != nil {
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
	if err := ps.finish(); err != nil {
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

// fetchedMsg is what the pass keeps of a message given to the committer.
type fetchedMsg struct {
	uid      imap.UID
	internal time.Time // INTERNALDATE: the capture-lag metric
}

// pass is one sync pass's share of committing: a capture.Committer over
// the pass's messages, and the UID bookkeeping it advances from the
// committed groups. st.LastUID advances only over UIDs whose message was
// committed (or which the server no longer has): never past a message
// that failed.
type pass struct {
	cn    *conn
	ctx   context.Context
	st    *syncState
	stats *Stats
	cm    *capture.Committer[fetchedMsg]

	order     []imap.UID // the pass's UIDs, ascending
	prefix    int        // order[:prefix] are all done
	done      map[imap.UID]bool
	committed []imap.UID // committed since takeCommitted
	saved     syncState
	sinceSave int
}

func (cn *conn) newPass(ctx context.Context, uids []imap.UID, st *syncState, stats *Stats) *pass {
	ps := &pass{cn: cn, ctx: ctx, st: st, stats: stats, order: uids, done: make(map[imap.UID]bool, len(uids)), saved: *st}
	ps.cm = capture.NewCommitter(ctx, cn.s.opts.Pipeline, capture.CommitOptions{}, ps.apply)
	return ps
}

// advance moves st.LastUID over the done prefix.
func (ps *pass) advance() {
	for ps.prefix < len(ps.order) && ps.done[ps.order[ps.prefix]] {
		ps.prefix++
	}
	if ps.prefix > 0 && uint32(ps.order[ps.prefix-1]) > ps.st.LastUID {
		ps.st.LastUID = uint32(ps.order[ps.prefix-1])
	}
}

// skip marks UIDs that need no commit (expunged, no body) as done.
func (ps *pass) skip(uids ...imap.UID) {
	for _, u := range uids {
		ps.done[u] = true
	}
	ps.advance()
}

// takeCommitted returns the UIDs committed since the last call.
func (ps *pass) takeCommitted() []imap.UID {
	c := ps.committed
	ps.committed = nil
	return c
}

// apply records a committed group (capture.Committed), in UID order, and
// returns its first failure.
func (ps *pass) apply(group []capture.Outcome[fetchedMsg]) error {
	s := ps.cn.s
	var first error
	for _, o := range group {
		m := o.Tag
		if o.Err != nil {
			if first == nil {
				first = ps.cn.deliverErr(ps.ctx, m.uid, o.Err)
			}
			continue
		}
		ps.done[m.uid] = true
		ps.committed = append(ps.committed, m.uid)
		if !s.readOnly {
			// Owed its after_capture action until it is done: a kill or a
			// dropped connection between the commit and the action must
			// not lose it (the next pass applies AfterPending first).
			ps.st.AfterPending = addUIDs(ps.st.AfterPending, []imap.UID{m.uid})
		}
		ps.stats.Fetched++
		if o.Result.Duplicate {
			ps.stats.Duplicates++
		} else {
			ps.stats.New++
			if ps.stats.Held == nil {
				ps.stats.Held = capture.Held{}
			}
			ps.stats.Held.Add(o.Result)
		}
		s.reportCaptured(o.Result, m.internal)
		ps.sinceSave++
	}
	ps.advance()
	if ps.sinceSave >= saveEvery {
		ps.sinceSave = 0
		if err := s.saveIfChanged(ps.ctx, ps.st, &ps.saved); err != nil {
			return errors.Join(first, err)
		}
	}
	return first
}

// finish commits what was added and hands every group on its way to
// apply: at the end of the pass, or after a failed FETCH (what was read
// completely is still good) unless a commit failed.
func (ps *pass) finish() error {
	err := ps.cm.Finish()
	ps.advance()
	return err
}

// deliverErr names the UID of a message that could not be captured.
func (cn *conn) deliverErr(ctx context.Context, uid imap.UID, err error) error {
	if ctx.Err() != nil {
		err = errors.Join(err, context.Cause(ctx))
	}
	return &deliverError{cn.s.errorf("deliver UID %d: %w", uid, err)}
}

// fetchBatch fetches the UIDs of batch (ascending) and hands each message
// to cm as its literal streams in. It returns when the FETCH has ended;
// the commits go on.
func (cn *conn) fetchBatch(ctx context.Context, ps *pass, batch []imap.UID) error {
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
			uid, added, err := cn.hand(ctx, msg, ps, want)
			if err == nil && want != nil && !want[uid] {
				err = s.errorf("%s of sequence number %d answered UID %d, not one asked for", name, msg.SeqNum, uid)
			}
			if uid != 0 {
				returned[uid] = true
			}
			if err == nil && !added && uid != 0 {
				ps.skip(uid) // no body: the message vanished
			}
			if err != nil {
				// Abandon the rest: closing the socket ends the FETCH at
				// once instead of draining it. When the pass is being
				// stopped (ctx), the socket was closed under a literal
				// being read: go-imap's reader goroutine then goes on
				// decoding while FetchCommand.Close would read that
				// literal again (a data race in go-imap), so the command
				// is left to the client's own Close.
				cn.abort()
				if ctx.Err() == nil {
					_ = cmd.Close()
				}
				return errors.Join(err, ps.finish())
			}
		}
		if err := cmd.Close(); err != nil {
			return errors.Join(s.commandError(ctx, name, err), ps.finish())
		}
		return ps.cm.Flush() // the end of a FETCH: a lone IDLE delivery commits now
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
		return errors.Join(err, ps.finish())
	}
	var gone []imap.UID
	for _, uid := range missing {
		if _, ok := seqs[uid]; !ok {
			gone = append(gone, uid)
		}
	}
	ps.skip(gone...)
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
			return errors.Join(s.errorf("UID %d is in the folder but FETCH does not return it", uid), ps.finish())
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

// hand gives one FETCH response's body to the pass's committer (stored,
// parsed and committed in order there) and returns its UID; added is false
// for a response without a body (the message vanished). With want set, a
// body of a UID not in it is not added (fetchBatch reports it).
func (cn *conn) hand(ctx context.Context, msg *imapclient.FetchMessageData, ps *pass, want map[imap.UID]bool) (uid imap.UID, added bool, err error) {
	s := cn.s
	var m fetchedMsg
	var early *spool // a body that came before the UID
	defer func() { early.close() }()
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.uid = it.UID
		case imapclient.FetchItemDataInternalDate:
			m.internal = it.Time
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			if added || early != nil || want != nil && m.uid != 0 && !want[m.uid] {
				// Only one BODY[] was asked for; drain any other.
				if _, err := io.Copy(io.Discard, it.Literal); err != nil {
					return m.uid, added, s.errorf("read FETCH response (sequence number %d): %w", msg.SeqNum, err)
				}
				continue
			}
			if m.uid == 0 {
				// RFC 9051 §7.5.2 fixes no order of FETCH items, and some
				// servers send the UID after the body: keep the body
				// until the UID comes.
				sp, err := spoolBody(it.Literal)
				ps.stats.Bytes += sp.size()
				if err != nil {
					return 0, false, s.errorf("read message body (sequence number %d): %w", msg.SeqNum, err)
				}
				early = sp
				continue
			}
			cr := &capture.CountingReader{R: it.Literal}
			err := cn.add(ctx, ps, &m, cr, it.Literal.Size())
			ps.stats.Bytes += cr.N
			if err != nil {
				return m.uid, false, err
			}
			added = true
		}
	}
	if early != nil {
		if m.uid == 0 {
			return 0, false, s.errorf("server sent a message body without its UID (sequence number %d)", msg.SeqNum)
		}
		if want != nil && !want[m.uid] {
			return m.uid, false, nil
		}
		r, err := early.reader()
		if err == nil {
			err = cn.add(ctx, ps, &m, r, early.size())
		}
		if err != nil {
			return m.uid, false, err
		}
		added = true
	}
	if !added && m.uid != 0 {
		s.log.Warn("imapsource: FETCH returned no body, skipping", "uid", m.uid)
	}
	return m.uid, added, nil
}

// add gives the body r (size bytes) of message m to the committer.
func (cn *conn) add(ctx context.Context, ps *pass, m *fetchedMsg, r io.Reader, size int64) error {
	s := cn.s
	prefix := "imap:"
	if s.opts.Outgoing {
		prefix = "imap-sent:" // another folder: its UIDs are not the inbox's
	}
	d := capture.Delivery{
		Tenant:    s.opts.Tenant,
		Mailbox:   s.opts.Name,
		SourceKey: prefix + strconv.FormatUint(uint64(cn.sel.UIDValidity), 10) + epochTag(cn.epoch) + ":" + strconv.FormatUint(uint64(m.uid), 10),
		New:       !cn.resync && uint32(m.uid) > cn.newAbove,
		Outgoing:  s.opts.Outgoing,
	}
	if err := ps.cm.Add(d, r, size, *m); err != nil {
		var de *deliverError
		if errors.As(err, &de) {
			return err // a commit group's failure, already named
		}
		return cn.deliverErr(ctx, m.uid, err)
	}
	return nil
}

// spoolMemMax is the largest body read before its UID that is kept in
// memory.
const spoolMemMax = 1 << 20

// spool holds a message body read before its UID: in memory up to
// spoolMemMax, else in a temporary file.
type spool struct {
	buf  *[]byte
	file *os.File
	n    int64
}

func spoolBody(lit imap.LiteralReader) (*spool, error) {
	sp := &spool{}
	if lit.Size() <= spoolMemMax {
		b := make([]byte, lit.Size())
		sp.buf = &b
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
	sp.buf = nil
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

// removeUIDs drops uids from set. A set too large to expand is kept as it
// is: re-applying after_capture to a message is harmless.
func removeUIDs(set string, uids []imap.UID) string {
	all, err := parseUIDSet(set)
	if err != nil || set == "" {
		return set
	}
	var n uint64
	for _, r := range all {
		n += uint64(r.Stop) - uint64(r.Start) + 1
	}
	if n > 100_000 {
		return set
	}
	drop := make(map[imap.UID]bool, len(uids))
	for _, u := range uids {
		drop[u] = true
	}
	var keep imap.UIDSet
	for _, r := range all {
		for u := r.Start; ; u++ {
			if !drop[u] {
				keep.AddNum(u)
			}
			if u == r.Stop {
				break
			}
		}
	}
	return keep.String()
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
