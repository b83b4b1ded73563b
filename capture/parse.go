package capture

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sidedesk/sidedesk/ticket"
)

// Limits of Parse beyond ParseOptions.
const (
	// DefaultMaxBodyBytes bounds Inbound.Text and Inbound.HTML each.
	DefaultMaxBodyBytes = 4 << 20
	maxDepth            = 50   // multipart nesting kept
	maxAttachments      = 1000 // attachments stored per message
	maxReferences       = 100  // References ids kept
	maxParseError       = 2000 // bytes of ParseError
	rfc822Peek          = 64 << 10
)

// Parse reads one RFC 5322 message from r, streaming: attachments are decoded
// straight into blobs (Create), bodies are bounded by opts.MaxBodyBytes, so a
// large message costs little memory. It fills every ticket.Inbound field it
// can (all except Tenant, Mailbox, SourceKey, Raw, BodyHash and ReceivedAt).
//
// It never fails on malformed mail: it returns what it could get, with
// ParseError saying what was wrong. It returns an error only when reading r
// fails, ctx ends, or the blob store fails.
func Parse(ctx context.Context, r io.Reader, blobs BlobCreator, opts ParseOptions) (in ticket.Inbound, err error) {
	return parse(ctx, r, blobs, opts, nil)
}

// parse is Parse that also tells raw, the writer r's bytes go to, which
// of them are attachments' base64 it may keep decoded (cut.go); raw nil:
// none.
func parse(ctx context.Context, r io.Reader, blobs BlobCreator, opts ParseOptions, raw ticket.CutWriter) (in ticket.Inbound, err error) {
	p := &parser{ctx: ctx, blobs: blobs, max: opts.maxBody(), lineByLine: opts.lineByLine, raw: raw}
	if raw != nil {
		raw.Hold(p.safe)
	}
	defer func() { p.noCut = true }() // what is left unread is kept as it is
	defer func() {
		// The last safety net: a bug must not lose a message. The raw
		// bytes are stored by Deliver before Parse runs.
		if v := recover(); v != nil {
			p.note(fmt.Sprintf("internal error: parser panic: %v", v))
			in.ParseError = p.parseError()
			err = nil
		}
	}()
	cr := &CountingReader{R: r}
	br := getReader(&topReaders, cr, 64<<10)
	defer putReader(&topReaders, br)
	bare, mixed, err := lineEndings(br)
	if err != nil {
		return in, fmt.Errorf("capture: read message: %w", err)
	}
	if bare {
		// Bare-CR line endings would make the whole mail one line: read
		// it with CRLF instead (the raw bytes stay as they are).
		if mixed {
			p.note("mixed_line_endings: bare CR beside CRLF or LF line endings, normalised for parsing")
		} else {
			p.note("bare_cr: bare CR line endings, normalised for parsing")
		}
		br = bufio.NewReaderSize(newBareCRReader(br), 64<<10)
		p.noCut = true // offsets in br are no longer the raw message's
	}
	h, rest, problems, err := readHeader(br, maxHeaderFields)
	if err != nil {
		return in, fmt.Errorf("capture: read header: %w", err)
	}
	p.notes(problems)
	_, topParams := parseMediaHeader(h.get("Content-Type"), "")
	p.fallback = topParams["charset"]
	if p.fallback == "" && has8bitField(h) {
		// The start of the body, read ahead without consuming it: its
		// parts' Content-Type fields may say what the header's raw bytes
		// are.
		p.fallback = p.guessHeaderCharset(h, func() []byte {
			ahead, _ := br.Peek(br.Size())
			return append(rest[:len(rest):len(rest)], ahead...)
		})
	}
	p.fillHeader(&in, h)

	body := &topBody{rest: rest, br: br, cr: cr}
	p.posStack = append(p.posStack, body.pos)
	if len(h) == 0 && rest == nil {
		if _, err := br.Peek(1); err == io.EOF {
			p.note("empty message")
		}
	}
	if err := p.walk(h, body, 0, walkCtx{}); err != nil {
		return in, err
	}
	p.finish(&in)
	return in, nil
}

// Parse's buffered readers are recycled: a capture parses thousands of
// messages, and a new 64 KiB reader per message (16 KiB per multipart)
// was a tenth of a second of zeroing memory per 10,000 messages.
var topReaders, partReaders sync.Pool // *bufio.Reader

func getReader(pool *sync.Pool, r io.Reader, size int) *bufio.Reader {
	if br, ok := pool.Get().(*bufio.Reader); ok && br.Size() == size {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, size)
}

func putReader(pool *sync.Pool, br *bufio.Reader) {
	br.Reset(nil)
	pool.Put(br)
}

func (o ParseOptions) maxBody() int {
	if o.MaxBodyBytes > 0 {
		return o.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

type parser struct {
	ctx        context.Context
	blobs      BlobCreator
	raw        ticket.CutWriter // nil: cut nothing (cut.go)
	noCut      bool             // offsets are not the raw message's, or parsing is over
	posStack   []func() int64   // raw positions of the message's and open multiparts' readers
	run        *runTap          // the attachment being checked for a cut
	max        int
	lineByLine bool
	fallback   string // charset for raw 8-bit header text
	problems   []string
	text, html []string
	textN      int
	htmlN      int
	truncated  bool
	atts       []ticket.Attachment
	report     bool
	feedback   bool
	returnedID string
	flags      []string
}

func (p *parser) note(s string) {
	if s == "" {
		return
	}
	f := flagOf(s)
	if f != "" {
		p.flag(f)
	}
	if f == FlagLimitReached {
		// A limit of ours, not a fault of the mail: in the flags, and the
		// raw message has everything; parse_error stays for broken mail.
		return
	}
	p.problems = appendOnce(p.problems, s)
}

// flag records a parse flag (the note that goes with it says more).
func (p *parser) flag(code string) {
	if !slices.Contains(p.flags, code) {
		p.flags = append(p.flags, code)
	}
}

func (p *parser) notes(list []string) {
	for _, s := range list {
		p.note(s)
	}
}

func (p *parser) parseError() string {
	s := strings.Join(p.problems, "; ")
	if len(s) > maxParseError {
		s = strings.ToValidUTF8(s[:maxParseError], "") + "…"
	}
	return s
}

// has8bitField reports a header field with bytes that are not UTF-8.
func has8bitField(h header) bool {
	for _, f := range h {
		if !utf8.ValidString(f.value) {
			return true
		}
	}
	return false
}

// guessHeaderCharset is the charset of raw 8-bit header text (a display
// name, a subject written without encoded words) when the top-level
// Content-Type declares none: the detector's guess over all such text
// together when there is enough of it; else the first legacy charset the
// body's parts declare, the Content-Language's or the sender's country's
// usual charset, each only if the bytes decode cleanly in it; "" when
// nothing tells (then windows-1252, the long-standing default).
func (p *parser) guessHeaderCharset(h header, body func() []byte) string {
	var raw []byte
	for _, f := range h {
		if !utf8.ValidString(f.value) && strings.IndexByte(f.value, 0) < 0 {
			raw = append(append(raw, f.value...), ' ')
		}
	}
	eight := 0
	for _, c := range raw {
		if c >= 0x80 {
			eight++
		}
	}
	if eight == 0 {
		return ""
	}
	if eight >= 8 {
		name, conf := detectCharset(raw)
		if _, ok := decodeAs(name, raw); conf >= minGuessConfidence && ok {
			p.note(FlagCharsetGuessed + ": raw 8-bit header text read as " + name + " (confidence " + strconv.Itoa(conf) + ")")
			return name
		}
	}
	// Too little for the detector (a name of four letters): what the
	// mail says of itself, as mail readers use it. First the charset its
	// parts declare, then its Content-Language, then the sender's country.
	if name := declaredCharset(body()); name != "" && decodesClean(name, raw) {
		p.note(FlagCharsetGuessed + ": raw 8-bit header text read as " + name + ", the charset the body declares")
		return name
	}
	if name := languageCharset[primaryLanguage(h.get("Content-Language"))]; name != "" && decodesClean(name, raw) {
		p.note(FlagCharsetGuessed + ": raw 8-bit header text read as " + name + ", by the Content-Language")
		return name
	}
	if name := tldCharset[senderTLD(h.get("From"))]; name != "" && decodesClean(name, raw) {
		p.note(FlagCharsetGuessed + ": raw 8-bit header text read as " + name + ", by the sender's domain")
		return name
	}
	return ""
}

// decodesClean reports whether b decodes as name without a replacement
// character.
func decodesClean(name string, b []byte) bool {
	s, ok := decodeAs(name, b)
	return ok && !strings.ContainsRune(s, utf8.RuneError)
}

// declaredCharset is the first charset parameter in the start of the
// body (the parts' Content-Type fields) that names a legacy charset: not
// ASCII, not UTF-8. "" when there is none.
func declaredCharset(body []byte) string {
	for len(body) > 0 {
		i := indexFold(body, "charset=")
		if i < 0 {
			return ""
		}
		body = body[i+len("charset="):]
		v := body
		if len(v) > 0 && v[0] == '"' {
			v = v[1:]
		}
		end := 0
		for end < len(v) && end < 40 && (isToken(v[end])) {
			end++
		}
		label := strings.ToLower(string(v[:end]))
		if e, isUTF8, ascii := lookupCharset(label); e != nil && !isUTF8 && !ascii {
			return label
		}
	}
	return ""
}

func isToken(c byte) bool {
	return c > ' ' && c < 0x7f && c != '"' && c != ';' && c != ',' && c != '(' && c != ')'
}

// indexFold is bytes.Index of an ASCII lower-case needle, ignoring case.
func indexFold(b []byte, needle string) int {
	for i := 0; i+len(needle) <= len(b); i++ {
		j := 0
		for j < len(needle) && b[i+j]|0x20 == needle[j]|0x20 {
			j++
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

// primaryLanguage is the primary subtag of a Content-Language value
// (RFC 3282): "ru-RU, en" → "ru".
func primaryLanguage(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, "-_,; "); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

// senderTLD is the top-level domain of the first address in a raw From
// value: "Иван <ivan@mail.example.ru>" → "ru".
func senderTLD(from string) string {
	at := strings.LastIndexByte(from, '@')
	if at < 0 {
		return ""
	}
	d := from[at+1:]
	if i := strings.IndexAny(d, "> ;,)"); i >= 0 {
		d = d[:i]
	}
	if i := strings.LastIndexByte(d, '.'); i >= 0 {
		d = d[i+1:]
	}
	return strings.ToLower(d)
}

// The legacy charset mail of a language, or from a country, was written
// in when its sender declared none: what mail readers of those locales
// fall back to (Thunderbird's and Outlook's defaults per locale).
var (
	languageCharset = map[string]string{
		"ru": "windows-1251", "uk": "windows-1251", "be": "windows-1251", "bg": "windows-1251", "sr": "windows-1251", "mk": "windows-1251",
		"ja": "shift_jis", "zh": "gbk", "ko": "euc-kr",
		"pl": "windows-1250", "cs": "windows-1250", "sk": "windows-1250", "hu": "windows-1250", "hr": "windows-1250", "sl": "windows-1250", "ro": "windows-1250",
		"el": "windows-1253", "tr": "windows-1254", "he": "windows-1255", "ar": "windows-1256",
		"et": "windows-1257", "lv": "windows-1257", "lt": "windows-1257", "th": "windows-874", "vi": "windows-1258",
	}
	tldCharset = map[string]string{
		"ru": "windows-1251", "ua": "windows-1251", "by": "windows-1251", "bg": "windows-1251", "rs": "windows-1251", "mk": "windows-1251", "kz": "windows-1251",
		"jp": "shift_jis", "cn": "gbk", "tw": "big5", "hk": "big5", "kr": "euc-kr",
		"pl": "windows-1250", "cz": "windows-1250", "sk": "windows-1250", "hu": "windows-1250", "hr": "windows-1250", "si": "windows-1250", "ro": "windows-1250",
		"gr": "windows-1253", "tr": "windows-1254", "il": "windows-1255",
		"ee": "windows-1257", "lv": "windows-1257", "lt": "windows-1257", "th": "windows-874", "vn": "windows-1258",
	}
)

func (p *parser) fillHeader(in *ticket.Inbound, h header) {
	in.Header = make(ticket.Header, len(h))
	for _, f := range h {
		if strings.IndexByte(f.value, 0) >= 0 {
			p.note("nul_bytes: NUL in the " + f.key + " field")
		} else if !utf8.ValidString(f.value) {
			// Raw UTF-8 is allowed (RFC 6532); other 8-bit bytes are a
			// legacy charset the sender did not declare.
			p.note("8bit_header: raw 8-bit bytes in the " + f.key + " field (decoded as " + cmp.Or(p.fallback, "Windows-1252") + ")")
		}
		v, _ := decodeText(f.value, p.fallback)
		in.Header[f.key] = append(in.Header[f.key], v)
	}
	if ids := parseMsgIDs(h.get("Message-Id")); len(ids) > 0 {
		in.MessageID = ids[0]
	}
	if v := strings.TrimSpace(h.get("Message-Id")); h.has("Message-Id") && !goodMsgID.MatchString(v) {
		p.note("bad_message_id: Message-ID " + quoteLabel(v) + " is not <left@right>")
	}
	if ids := parseMsgIDs(h.get("In-Reply-To")); len(ids) > 0 {
		in.InReplyTo = ids[0]
	}
	in.References = capIDs(parseMsgIDs(strings.Join(h.values("References"), " ")), maxReferences)
	in.ConversationID = conversationID(h.get("Thread-Index"))

	// The first From field with an address (a mail with two, one of them
	// no address, uses the valid one), else Sender.
	var from []ticket.Address
	for _, v := range h.values("From") {
		a := parseAddressList(v, p.fallback)
		if len(a) > 0 && (len(from) == 0 || !strings.Contains(from[0].Email, "@")) {
			from = a
		}
		if len(from) > 0 && strings.Contains(from[0].Email, "@") {
			break
		}
	}
	if len(from) == 0 {
		from = parseAddressList(h.get("Sender"), p.fallback)
	}
	if len(from) > 0 {
		in.From = from[0]
	}
	if h.has("From") && !strings.Contains(in.From.Email, "@") && !strings.Contains(h.get("From"), "<>") &&
		!mailSystemLocal[in.From.Email] {
		p.note("bad_address: From " + quoteLabel(h.get("From")) + " has no address with a domain")
	}
	in.To = parseAddressList(strings.Join(h.values("To"), ", "), p.fallback)
	in.Cc = parseAddressList(strings.Join(h.values("Cc"), ", "), p.fallback)
	in.ReplyTo = parseAddressList(h.get("Reply-To"), p.fallback)
	if h.has("Return-Path") {
		in.ReturnPath = returnPath(h.get("Return-Path"))
	}
	subj, problem := decodeText(h.get("Subject"), p.fallback)
	in.Subject = strings.TrimSpace(subj)
	if problem != "" {
		p.note("Subject: " + problem)
	}
	in.Date = parseDate(h.get("Date"))
	if in.Date.IsZero() && strings.TrimSpace(h.get("Date")) != "" {
		p.note("bad_date: Date " + quoteLabel(h.get("Date")) + " is no date (the Received time stands in)")
	}
	if in.Date.IsZero() {
		// The newest Received stamp (RFC 5321 §4.4) is the best stand-in.
		if rcv := h.get("Received"); rcv != "" {
			if i := strings.LastIndexByte(rcv, ';'); i >= 0 {
				in.Date = parseDate(rcv[i+1:])
			}
		}
	}
}

// mailSystemLocal are the bare local parts MTAs sign their own mail with
// ("MAILER-DAEMON (Mail Delivery System)"): no domain, and no fault.
var mailSystemLocal = map[string]bool{"mailer-daemon": true, "postmaster": true, "mail-daemon": true}

// goodMsgID is a Message-ID as RFC 5322 §3.6.4 writes it: <left@right>.
var goodMsgID = regexp.MustCompile(`^<[^<>@\s]+@[^<>@\s]+>$`)

// returnPath reads a Return-Path (RFC 5322 §3.6.7): "<>" is the null
// reverse-path of a bounce, returned as "".
func returnPath(v string) string {
	v = strings.TrimSpace(v)
	if lt := strings.IndexByte(v, '<'); lt >= 0 {
		v = v[lt+1:]
		if gt := strings.IndexByte(v, '>'); gt >= 0 {
			v = v[:gt]
		}
	}
	return ticket.NormEmail(cleanControl(v))
}

type walkCtx struct {
	parent  string    // media type of the enclosing multipart; "" at the top
	alt     *altState // inside multipart/alternative (and related within it)
	related bool
	report  bool // inside multipart/report; report-type=delivery-status
}

// altState records which renderings an alternative already chose (RFC 2046
// §5.1.4): the first text/plain gives Text, the first text/html gives HTML.
type altState struct{ text, html bool }

func (p *parser) walk(h header, body io.Reader, depth int, wc walkCtx) (err error) {
	if err := p.ctx.Err(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	ctRaw := h.get("Content-Type")
	ct, params := parseMediaHeader(ctRaw, p.fallback)
	if !strings.Contains(ct, "/") || strings.ContainsAny(ct, " \t") {
		if strings.TrimSpace(ctRaw) != "" {
			p.note("malformed Content-Type " + quoteLabel(ctRaw))
		}
		ct = "text/plain"
		if wc.parent == "multipart/digest" {
			ct = "message/rfc822" // RFC 2046 §5.1.5
		}
	}
	cte := strings.ToLower(strings.Trim(strings.TrimSpace(h.get("Content-Transfer-Encoding")), `"'`))
	if i := strings.IndexAny(cte, "; \t"); i >= 0 {
		cte = cte[:i]
	}
	dec, problem := transferDecoder(cte, body)
	if rl, ok := dec.(interface{ release() }); ok {
		defer rl.release() // last: after the deferred problem note below
	}
	p.note(problem)
	p.tapBase64(dec, body)
	defer func() { p.note(dec.problem()) }()
	if idt := p.tapIdentity(&dec, ct, body); idt != nil {
		defer func() {
			if p.run == idt { // the part was not stored as an attachment after all
				p.run = nil
				if idt.elided > idt.start && err == nil {
					err = fmt.Errorf("capture: part bytes at %d were cut but not stored (a bug): the message is not stored", idt.start)
				}
			}
		}()
	}

	if strings.HasPrefix(ct, "multipart/") {
		if depth >= maxDepth {
			p.note(fmt.Sprintf("multipart nested deeper than %d levels: inner parts kept only in the raw message", maxDepth))
			_, err := io.Copy(io.Discard, dec)
			return wrapIO(err)
		}
		return p.walkMultipart(h, ct, params, dec, depth, wc)
	}
	return p.leaf(h, ct, params, dec, wc, depth == 0)
}

func wrapIO(err error) error {
	if err != nil {
		return fmt.Errorf("capture: read message: %w", err)
	}
	return nil
}

// sniffBoundary finds the boundary of a multipart whose Content-Type lost
// it: the first "--token" line near the start of the body.
func sniffBoundary(br *bufio.Reader) string {
	b, _ := br.Peek(16 << 10)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimRight(line, " \t\r")
		if len(line) > 2 && len(line) <= 72 && bytes.HasPrefix(line, []byte("--")) && !bytes.ContainsAny(line, " \t") {
			return string(bytes.TrimSuffix(line[2:], []byte("--")))
		}
	}
	return ""
}

func (p *parser) walkMultipart(h header, ct string, params map[string]string, body io.Reader, depth int, wc walkCtx) error {
	boundary := params["boundary"]
	mr := newMultipartReader(body, boundary)
	mr.lineByLine = p.lineByLine
	defer putReader(&partReaders, mr.br)
	if mr.src = posFunc(body); mr.src != nil && !p.noCut {
		p.posStack = append(p.posStack, mr.pos)
		defer func() { p.posStack = p.posStack[:len(p.posStack)-1] }()
	}
	if boundary == "" {
		boundary = sniffBoundary(mr.br)
		if boundary == "" {
			p.note(ct + " without boundary: read as text")
			return p.leaf(h, "text/plain", map[string]string{}, plainReader{mr.br}, wc, depth == 0)
		}
		p.note(ct + " without boundary parameter: boundary guessed")
		mr.dash = []byte("--" + boundary)
	}
	sub := walkCtx{parent: ct, report: wc.report}
	switch ct {
	case "multipart/alternative":
		sub.alt = &altState{}
	case "multipart/related":
		sub.alt, sub.related = wc.alt, true
	case "multipart/report":
		switch strings.ToLower(strings.TrimSpace(params["report-type"])) {
		case "delivery-status", "":
			// Without report-type (some MTAs leave it out) a report is
			// a delivery report far more often than anything else.
			sub.report, p.report = true, true
		case "feedback-report":
			p.feedback = true // RFC 5965 (ARF): an abuse or spam complaint
		}
	}
	for {
		ph, pb, problems, err := mr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return wrapIO(err)
		}
		p.notes(problems)
		if err := p.walk(ph, pb, depth+1, sub); err != nil {
			return err
		}
	}
	if mr.err != nil {
		return wrapIO(mr.err)
	}
	if mr.parts == 0 {
		p.note(ct + ": no parts found (boundary never seen)")
		if text, _ := decodeCharset("", mr.preamble); strings.TrimSpace(text) != "" {
			p.addBody("text/plain", text, len(mr.preamble) >= preambleKeep)
		}
	} else if mr.eof && !mr.final {
		p.note(ct + ": missing close delimiter (truncated message?)")
	}
	return nil
}

func (p *parser) leaf(h header, ct string, params map[string]string, dec io.Reader, wc walkCtx, top bool) error {
	disp, dparams := parseMediaHeader(h.get("Content-Disposition"), p.fallback)
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	if filename == "" {
		filename = dparams["name"]
	}
	cid := ""
	if ids := parseMsgIDs(h.get("Content-Id")); len(ids) > 0 {
		cid = ids[0]
	}
	attachment := disp == "attachment"
	if uu, ok := dec.(*uuReader); ok && uu.begin() != "" {
		// A uuencoded part is a file: its begin line names it.
		if name := uu.name; filename == "" {
			filename = name
		}
		if ct == "" || ct == "text/plain" || ct == "application/x-uuencode" || ct == "application/octet-stream" {
			ct = typeByName(filename)
		}
		attachment = true
	}
	for _, ps := range []map[string]string{params, dparams} {
		if name, bad := ps[BadRFC2231Param]; bad {
			p.note("bad_rfc2231: the " + name + " parameter of " + ct + " is malformed (RFC 2231); read as far as it goes")
		}
	}

	switch ct {
	case "message/delivery-status", "message/global-delivery-status":
		// A delivery status part, also outside multipart/report (some
		// gateways wrap it in multipart/mixed): the mail is a bounce, and
		// the message after it is the one returned.
		p.report = true
	case "message/feedback-report":
		p.feedback = true
	}
	switch ct {
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		br := bufio.NewReaderSize(dec, rfc822Peek)
		peek, _ := br.Peek(rfc822Peek)
		if len(bytes.TrimSpace(peek)) == 0 {
			p.note("empty_rfc822: an attached " + ct + " part is empty")
		}
		mh, _, _, _ := readHeader(bufio.NewReader(bytes.NewReader(peek)), maxHeaderFields)
		if (wc.report || p.report) && p.returnedID == "" {
			if ids := parseMsgIDs(mh.get("Message-Id")); len(ids) > 0 {
				p.returnedID = ids[0]
			}
		}
		if filename == "" && (ct == "message/rfc822" || ct == "message/global") {
			subj, _ := decodeText(mh.get("Subject"), p.fallback)
			if s := sanitizeFilename(subj); s != "" {
				filename = s + ".eml"
			}
		}
		return p.attach(br, ct, filename, disp, cid, wc)
	}

	isBody := !attachment && (ct == "text/plain" || ct == "text/html") && (filename == "" || top)
	if isBody && wc.alt != nil {
		taken := &wc.alt.text
		if ct == "text/html" {
			taken = &wc.alt.html
		}
		if *taken { // a second rendering of the same kind: not an attachment
			_, err := io.Copy(io.Discard, dec)
			return wrapIO(err)
		}
		*taken = true
	}
	if isBody {
		bb := bodyBufs.Get().(*bytes.Buffer)
		b, truncated, err := readBounded(dec, p.max, bb)
		if err != nil {
			return wrapIO(err)
		}
		charset := params["charset"]
		if ct == "text/html" && charset == "" {
			charset = htmlCharset(b)
		}
		if ct == "text/plain" && asciiLineEnds(charset, b) {
			// Line ends become LF here, in the buffer, rather than in
			// another copy of the decoded text (finish's normalizeNewlines).
			b = crlfToLF(b)
		}
		s, problem := decodeCharset(charset, b) // a copy: bb can go back
		if bb.Cap() <= bodyBufKeepMax {
			bb.Reset()
			bodyBufs.Put(bb)
		}
		if problem != "" {
			p.note(ct + ": " + problem)
		}
		if ct == "text/plain" {
			var blocks []uuBlock
			s, blocks = extractUUBlocks(s)
			for _, blk := range blocks {
				if err := p.attach(bytes.NewReader(blk.data), typeByName(blk.name), blk.name, "attachment", "", wc); err != nil {
					return err
				}
			}
		}
		if ct == "text/plain" && strings.EqualFold(params["format"], "flowed") {
			s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
		}
		p.addBody(ct, s, truncated)
		return nil
	}
	if wc.alt != nil && !attachment && filename == "" && strings.HasPrefix(ct, "text/") && ct != "text/calendar" {
		// Other renderings of an alternative (text/enriched, Gmail's
		// text/x-amp-html, Apple's text/watch-html) are not attachments.
		_, err := io.Copy(io.Discard, dec)
		return wrapIO(err)
	}
	return p.attach(dec, ct, filename, disp, cid, wc)
}

// bodyBufs recycles the buffers text bodies are read into before they
// are decoded to strings (io.ReadAll's growing buffers were an eighth of a
// capture's allocations); bigger ones than bodyBufKeepMax are let go.
var bodyBufs = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 16<<10)) }}

const bodyBufKeepMax = 1 << 20

// readBounded reads at most max bytes of r into buf (empty); truncated
// says there was more. A UTF-8 sequence cut by the limit is dropped whole.
// The bytes are buf's: valid until it is used again.
func readBounded(r io.Reader, max int, buf *bytes.Buffer) ([]byte, bool, error) {
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(max)+1)); err != nil {
		return nil, false, err
	}
	b := buf.Bytes()
	if len(b) <= max {
		return b, false, nil
	}
	b = b[:max]
	for i := len(b) - 1; i >= 0 && i >= len(b)-4; i-- {
		if b[i]&0xC0 != 0x80 {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return b, true, nil
}

func (p *parser) addBody(ct, s string, truncated bool) {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "") // NUL has no place in text (and PostgreSQL refuses it)
		p.note("NUL bytes removed from " + ct)
	}
	if overlong(s) {
		p.note("overlong_line: a line of " + ct + " is longer than 998 characters (RFC 5322 §2.1.1)")
	}
	p.truncated = p.truncated || truncated
	if ct == "text/html" {
		if p.htmlN >= p.max {
			p.truncated = true
			return
		}
		p.html = append(p.html, s)
		p.htmlN += len(s)
		return
	}
	if p.textN >= p.max {
		p.truncated = true
		return
	}
	p.text = append(p.text, s)
	p.textN += len(s)
}

// overlong reports a line longer than RFC 5322's 998 characters.
func overlong(s string) bool {
	for len(s) > 998 {
		i := strings.IndexByte(s, '\n')
		if i < 0 || i > 998 {
			return true
		}
		s = s[i+1:]
	}
	return false
}

func (p *parser) attach(r io.Reader, ct, filename, disp, cid string, wc walkCtx) error {
	if len(p.atts) >= maxAttachments {
		p.note(fmt.Sprintf("more than %d attachments: the rest kept only in the raw message", maxAttachments))
		_, err := io.Copy(io.Discard, r)
		return wrapIO(err)
	}
	run := p.startRun(r)
	ref, err := putBlob(p.ctx, p.blobs, r)
	if err != nil {
		return fmt.Errorf("capture: store attachment: %w", err)
	}
	if run != nil {
		if err := run.finish(ref); err != nil {
			return err
		}
	}
	name := sanitizeFilename(filename)
	if filename != "" && name != strings.TrimSpace(filename) {
		p.note("unsafe_filename: attachment name " + quoteLabel(filename) + " made safe as " + quoteLabel(name))
	}
	if name == "" {
		name = fmt.Sprintf("attachment-%d%s", len(p.atts)+1, extension(ct))
	}
	p.atts = append(p.atts, ticket.Attachment{
		Filename:    name,
		ContentType: ct,
		Size:        ref.Size,
		SHA256:      ref.SHA256,
		Inline:      disp == "inline" || (wc.related && cid != "" && disp != "attachment"),
		ContentID:   cid,
	})
	return nil
}

// copyBufs recycles putBlob's copy buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// putBlob stores everything r yields as one blob.
func putBlob(ctx context.Context, blobs BlobCreator, r io.Reader) (ticket.BlobRef, error) {
	w, err := blobs.Create()
	if err != nil {
		return ticket.BlobRef{}, err
	}
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(w, ctxReader{ctx, r}, *buf)
	copyBufs.Put(buf)
	if err != nil {
		w.Abort()
		return ticket.BlobRef{}, err
	}
	return w.Commit(ctx)
}

func (p *parser) finish(in *ticket.Inbound) {
	text := normalizeNewlines(strings.Join(p.text, "\n"))
	html := strings.Join(p.html, "\n")
	note := fmt.Sprintf("[sidedesk: body truncated at %d bytes; the raw message has all of it]", p.max)
	if len(html) > p.max {
		html = truncateUTF8(html, p.max)
		p.truncated = true
	}
	if text == "" && html != "" {
		text = htmlToText(html)
	}
	if len(text) > p.max {
		text = truncateUTF8(text, p.max)
		p.truncated = true
	}
	text = strings.TrimRight(text, " \t\n")
	if p.truncated {
		text += "\n\n" + note
		if html != "" {
			html += "<p>" + note + "</p>"
		}
	}
	in.Text = validUTF8(text)
	in.HTML = validUTF8(sanitizeHTML(html))
	in.Attachments = p.atts
	in.DeliveryReport = p.report
	in.FeedbackReport = p.feedback
	slices.Sort(p.flags)
	in.ParseFlags = p.flags
	in.ReturnedMessageID = p.returnedID
	in.ParseError = p.parseError()
}

// validUTF8 replaces invalid UTF-8 in s with U+FFFD. utf8.ValidString
// checks ASCII eight bytes at a time; strings.ToValidUTF8 decodes every
// rune even when there is nothing to replace.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// asciiLineEnds reports whether b, in charset label, writes CR and LF as
// the bytes 13 and 10 and no other character uses those bytes: every
// charset mail uses except UTF-16 and UTF-32 (whose text is full of NUL
// bytes even where the label is missing or wrong).
func asciiLineEnds(label string, b []byte) bool {
	l := strings.ToLower(label)
	for _, wide := range []string{"utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2", "ucs-4", "unicode"} {
		if strings.Contains(l, wide) {
			return false
		}
	}
	return bytes.IndexByte(b, 0) < 0
}

// crlfToLF turns CR LF and lone CRs in b into LF, in place.
func crlfToLF(b []byte) []byte {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		return b
	}
	o := i
	for { // b[i] is a CR
		b[o] = '\n'
		o++
		if i++; i < len(b) && b[i] == '\n' {
			i++
		}
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			o += copy(b[o:], b[i:])
			return b[:o]
		}
		o += copy(b[o:], b[i:i+j])
		i += j
	}
}

func normalizeNewlines(s string) string {
	i := strings.IndexByte(s, '\r')
	if i < 0 {
		return s
	}
	// One pass, one allocation: CR LF and a lone CR both become LF.
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteByte('\n')
		s = s[i+1:]
		if s != "" && s[0] == '\n' {
			s = s[1:]
		}
		i = strings.IndexByte(s, '\r')
	}
	b.WriteString(s)
	return b.String()
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676 §4):
// a line ending in a space continues on the next line of the same quote
// depth; space-stuffing is removed; "-- " (signature separator) is hard.
func unflow(s string, delsp bool) string {
	lines := strings.Split(normalizeNewlines(s), "\n")
	var out, cur strings.Builder
	depth, open := 0, false
	emit := func() {
		if !open {
			return
		}
		if depth > 0 {
			out.WriteString(strings.Repeat(">", depth))
			out.WriteByte(' ')
		}
		out.WriteString(cur.String())
		out.WriteByte('\n')
		cur.Reset()
		open = false
	}
	for _, l := range lines {
		d := 0
		for d < len(l) && l[d] == '>' {
			d++
		}
		content := strings.TrimPrefix(l[d:], " ")
		if open && d != depth {
			emit()
		}
		depth = d
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		open = true
		if !flowed {
			emit()
		}
	}
	emit()
	return strings.TrimSuffix(out.String(), "\n")
}

// sanitizeFilename keeps a decoded file name safe to offer for download:
// no directories (the last component of a Windows or Unix path), no control
// characters or characters Windows forbids, no leading dots, at most 200
// bytes (keeping the extension).
func sanitizeFilename(s string) string {
	s = cleanControl(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case ':', '*', '?', '"', '<', '>', '|':
			return '_'
		}
		return r
	}, s)
	s = strings.TrimLeft(strings.TrimSpace(s), ". ")
	s = strings.TrimRight(s, ". ")
	if len(s) > 200 {
		ext := ""
		if i := strings.LastIndexByte(s, '.'); i >= 0 && len(s)-i <= 16 {
			ext = s[i:]
		}
		s = truncateUTF8(s, 200-len(ext)) + ext
	}
	return s
}

// extension names a file type for attachments that came without a name; a
// fixed table, so the result does not depend on the machine's mime.types.
func extension(ct string) string {
	switch ct {
	case "image/png":
		return ".png"
	case "image/jpeg", "image/jpg", "image/pjpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "image/bmp":
		return ".bmp"
	case "image/svg+xml":
		return ".svg"
	case "image/tiff":
		return ".tif"
	case "application/pdf":
		return ".pdf"
	case "application/zip", "application/x-zip-compressed":
		return ".zip"
	case "application/gzip", "application/x-gzip":
		return ".gz"
	case "application/json":
		return ".json"
	case "application/msword":
		return ".doc"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return ".docx"
	case "application/vnd.ms-excel":
		return ".xls"
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return ".xlsx"
	case "application/ms-tnef", "application/vnd.ms-tnef":
		return ".dat"
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		return ".p7s"
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return ".p7m"
	case "application/pgp-signature":
		return ".asc"
	case "text/plain", "message/delivery-status", "message/global-delivery-status", "text/rfc822-headers",
		"message/rfc822-headers", "message/global-headers", "message/disposition-notification", "message/feedback-report":
		return ".txt"
	case "text/html":
		return ".html"
	case "text/csv":
		return ".csv"
	case "text/calendar":
		return ".ics"
	case "text/vcard", "text/x-vcard":
		return ".vcf"
	case "message/rfc822", "message/global":
		return ".eml"
	case "audio/mpeg":
		return ".mp3"
	case "video/mp4":
		return ".mp4"
	}
	return ""
}
