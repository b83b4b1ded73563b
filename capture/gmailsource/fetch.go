package gmailsource

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/ticket"
)

// fetched is one messages.get answer: the decoded raw bytes in a spool.
type fetched struct {
	id           string
	spool        *spool
	internalDate time.Time
	gone         bool // 404: deleted since it was listed
	err          error
}

func (f *fetched) close() {
	if f != nil && f.spool != nil {
		f.spool.Close()
	}
}

// fetchOrdered fetches ids with up to Options.Concurrency requests in flight
// and calls deliver for each in order. At most Concurrency messages are
// spooled at a time (a slot is freed only after its message was delivered).
// It stops at the first error, from a fetch or from deliver.
func (s *Source) fetchOrdered(ctx context.Context, ids []string, deliver func(*fetched) error) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan *fetched, len(ids))
	for i := range results {
		results[i] = make(chan *fetched, 1)
	}
	slots := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		for i, id := range ids {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] <- s.fetchRaw(ctx, id)
			}()
		}
	}()
	var err error
	next := 0
	for ; next < len(ids) && err == nil; next++ {
		var f *fetched
		select {
		case f = <-results[next]:
		case <-ctx.Done():
			err = ctx.Err()
			continue
		}
		if f.err != nil {
			err = f.err
		} else {
			err = deliver(f)
		}
		f.close()
		<-slots
	}
	cancel()
	<-launched
	wg.Wait()
	for ; next < len(ids); next++ { // free what was fetched but not delivered
		select {
		case f := <-results[next]:
			f.close()
		default:
		}
	}
	return err
}

// fetchRaw gets one message in format=raw, stream-decoding the base64url
// "raw" field into a spool, with retries.
func (s *Source) fetchRaw(ctx context.Context, id string) *fetched {
	f := &fetched{id: id, spool: newSpool(s.opts.SpoolMemory)}
	f.err = s.retry(ctx, func() error {
		f.spool.Reset()
		err := s.getRaw(ctx, id, f)
		if errCode(err) == http.StatusNotFound {
			f.gone = true
			return nil
		}
		return err
	})
	if f.err != nil {
		f.err = s.explain("fetch message "+id, f.err)
	}
	if f.err != nil || f.gone {
		f.spool.Close()
		f.spool = nil
	}
	return f
}

// getRaw issues users.messages.get?format=raw itself rather than through
// the generated client, whose Do decodes the whole JSON (the raw message
// as one base64 string) into memory.
func (s *Source) getRaw(ctx context.Context, id string, f *fetched) error {
	u := s.base + "gmail/v1/users/" + url.PathEscape(s.opts.User) + "/messages/" + url.PathEscape(id) +
		"?format=raw&alt=json&prettyPrint=false&fields=" + url.QueryEscape("id,internalDate,raw")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := googleapi.CheckResponse(resp); err != nil {
		return err
	}
	ms, err := decodeRawMessage(bufio.NewReaderSize(resp.Body, 32<<10), f.spool)
	if err != nil {
		return fmt.Errorf("decode messages.get response: %w", err)
	}
	if ms > 0 {
		f.internalDate = time.UnixMilli(ms)
	}
	return nil
}

func (s *Source) deliver(ctx context.Context, f *fetched) (ticket.Result, error) {
	r, err := f.spool.Reader()
	if err != nil {
		return ticket.Result{}, fmt.Errorf("gmailsource: mailbox %s: spool: %w", s.opts.Name, err)
	}
	res, err := s.opts.Pipeline.Deliver(ctx, capture.Delivery{
		Tenant: s.opts.Tenant, Mailbox: s.opts.Name, SourceKey: sourceKey(f.id), Outgoing: s.opts.Outgoing,
	}, r)
	if err != nil {
		return res, fmt.Errorf("gmailsource: mailbox %s: deliver gmail id %s: %w", s.opts.Name, f.id, err)
	}
	return res, nil
}

// decodeRawMessage reads a users.messages.get JSON object, writing the
// base64url-decoded "raw" field to dst as it streams by, and returns
// internalDate (ms since the epoch; 0 if absent). Other fields are skipped.
func decodeRawMessage(br *bufio.Reader, dst io.Writer) (internalDate int64, err error) {
	if err := expect(br, '{'); err != nil {
		return 0, err
	}
	sawRaw := false
	for {
		c, err := nextNonSpace(br)
		if err != nil {
			return 0, err
		}
		switch c {
		case '}':
			if !sawRaw {
				return 0, errors.New(`no "raw" field`)
			}
			return internalDate, nil
		case ',':
			continue
		case '"':
		default:
			return 0, fmt.Errorf("unexpected %q", c)
		}
		key, err := readSmallString(br)
		if err != nil {
			return 0, err
		}
		if err := expect(br, ':'); err != nil {
			return 0, err
		}
		switch key {
		case "raw":
			if err := expect(br, '"'); err != nil {
				return 0, err
			}
			dec := base64.NewDecoder(base64.RawURLEncoding, &b64String{r: br})
			if _, err := io.Copy(dst, dec); err != nil {
				return 0, fmt.Errorf("raw: %w", err)
			}
			sawRaw = true
		case "internalDate":
			v, err := readScalar(br)
			if err != nil {
				return 0, err
			}
			internalDate, _ = strconv.ParseInt(v, 10, 64)
		default:
			if err := skipValue(br); err != nil {
				return 0, err
			}
		}
	}
}

func nextNonSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
}

func expect(br *bufio.Reader, want byte) error {
	c, err := nextNonSpace(br)
	if err != nil {
		return err
	}
	if c != want {
		return fmt.Errorf("want %q, got %q", want, c)
	}
	return nil
}

// readSmallString reads the rest of a JSON string (opening quote consumed)
// of at most 4 KiB, unescaped.
func readSmallString(br *bufio.Reader) (string, error) {
	var b []byte
	sr := &jsonString{r: br}
	buf := make([]byte, 256)
	for {
		n, err := sr.Read(buf)
		b = append(b, buf[:n]...)
		if len(b) > 4096 {
			return "", errors.New("JSON string too long")
		}
		if err == io.EOF {
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// readScalar reads a string, number or literal value and returns its text.
func readScalar(br *bufio.Reader) (string, error) {
	c, err := nextNonSpace(br)
	if err != nil {
		return "", err
	}
	if c == '"' {
		return readSmallString(br)
	}
	b := []byte{c}
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			return string(b), br.UnreadByte()
		}
		if len(b) > 64 {
			return "", errors.New("JSON scalar too long")
		}
		b = append(b, c)
	}
}

// skipValue skips one JSON value of any kind without keeping it.
func skipValue(br *bufio.Reader) error {
	c, err := nextNonSpace(br)
	if err != nil {
		return err
	}
	switch c {
	case '"':
		_, err := io.Copy(io.Discard, &jsonString{r: br})
		return err
	case '{', '[':
		depth := 1
		for depth > 0 {
			c, err := br.ReadByte()
			if err != nil {
				return err
			}
			switch c {
			case '"':
				if _, err := io.Copy(io.Discard, &jsonString{r: br}); err != nil {
					return err
				}
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		return nil
	default:
		if err := br.UnreadByte(); err != nil {
			return err
		}
		_, err := readScalar(br)
		return err
	}
}

// jsonString reads the rest of a JSON string (RFC 8259 §7), unescaping it,
// and returns io.EOF at the closing quote.
type jsonString struct {
	r    *bufio.Reader
	done bool
}

func (s *jsonString) Read(p []byte) (int, error) {
	if s.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		if s.r.Buffered() == 0 {
			if n > 0 {
				return n, nil // don't block while holding data
			}
			if _, err := s.r.Peek(1); err != nil {
				return 0, unexpectedEOF(err)
			}
		}
		// Fast path: copy the plain run up to a quote or backslash.
		buf, _ := s.r.Peek(s.r.Buffered())
		plain := bytes.IndexByte(buf, '"')
		if plain < 0 {
			plain = len(buf)
		}
		if bs := bytes.IndexByte(buf[:plain], '\\'); bs >= 0 {
			plain = bs
		}
		c := copy(p[n:], buf[:plain])
		n += c
		s.r.Discard(c)
		if c < plain || plain == len(buf) {
			continue // p is full, or the buffer needs refilling
		}
		if buf[plain] == '"' {
			s.r.Discard(1)
			s.done = true
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		s.r.Discard(1) // the backslash
		b, err := s.escape()
		if err != nil {
			return n, err
		}
		p[n] = b
		n++
	}
	return n, nil
}

// escape reads the rest of a backslash escape.
func (s *jsonString) escape() (byte, error) {
	e, err := s.r.ReadByte()
	if err != nil {
		return 0, io.ErrUnexpectedEOF
	}
	switch e {
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		var hex [4]byte
		if _, err := io.ReadFull(s.r, hex[:]); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		v, err := strconv.ParseUint(string(hex[:]), 16, 16)
		if err != nil {
			return 0, fmt.Errorf("bad escape \\u%s", hex[:])
		}
		if v >= 0x80 { // never in base64 or ids; keep a marker
			return '?', nil
		}
		return byte(v), nil
	default: // '"', '\\', '/'
		return e, nil
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// b64String feeds a JSON base64 string to a RawURLEncoding decoder,
// accepting the standard alphabet and padding too (Gmail writes base64url,
// sometimes padded, sometimes with "=" escaped as \u003d).
type b64String struct {
	r   *bufio.Reader
	str *jsonString
}

func (b *b64String) Read(p []byte) (int, error) {
	if b.str == nil {
		b.str = &jsonString{r: b.r}
	}
	for {
		n, err := b.str.Read(p)
		if !needsFilter(p[:n]) {
			if n > 0 || err != nil {
				return n, err
			}
			continue
		}
		w := 0
		for _, c := range p[:n] {
			switch c {
			case '=', '\r', '\n', ' ':
				continue
			case '+':
				c = '-'
			case '/':
				c = '_'
			}
			p[w] = c
			w++
		}
		if w > 0 || err != nil {
			return w, err
		}
	}
}

// needsFilter reports whether b has bytes RawURLEncoding won't take.
func needsFilter(b []byte) bool {
	for _, c := range []byte("=+/\r\n ") {
		if bytes.IndexByte(b, c) >= 0 {
			return true
		}
	}
	return false
}

// spool holds one decoded message: in memory up to limit bytes, then in a
// temp file, so a 50 MB message costs a file, not 50 MB of heap.
type spool struct {
	buf   bytes.Buffer
	file  *os.File
	size  int64
	limit int64
}

func newSpool(limit int64) *spool { return &spool{limit: limit} }

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && int64(s.buf.Len()+len(p)) > s.limit {
		f, err := os.CreateTemp("", "sidedesk-gmail-*.eml")
		if err != nil {
			return 0, err
		}
		s.file = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.buf = bytes.Buffer{}
	}
	s.size += int64(len(p))
	if s.file != nil {
		return s.file.Write(p)
	}
	return s.buf.Write(p)
}

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// Reader reads the spooled bytes from the start.
func (s *spool) Reader() (io.Reader, error) {
	if s.file != nil {
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return bufio.NewReaderSize(s.file, 64<<10), nil
	}
	return bytes.NewReader(s.buf.Bytes()), nil
}

// Reset empties the spool for a retry.
func (s *spool) Reset() {
	s.Close()
	s.buf.Reset()
	s.size = 0
}

// Close removes the temp file, if any.
func (s *spool) Close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}
