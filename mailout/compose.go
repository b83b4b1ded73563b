package mailout

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/sidedesk/sidedesk/ticket"
)

// Mail is one message to build.
type Mail struct {
	From       ticket.Address
	To         []ticket.Address
	Cc         []ticket.Address
	ReplyTo    ticket.Address // the signed reply address; empty: none
	Subject    string
	MessageID  string // without angle brackets
	InReplyTo  string
	References []string
	Date       time.Time
	Text       string
	HTML       string // already sanitised; empty: made from Text
	// AutoReplied marks an acknowledgement (RFC 3834 Auto-Submitted:
	// auto-replied), and asks Exchange not to answer it with its own
	// automatic replies.
	AutoReplied bool
	// Attachments follow the text and HTML (multipart/mixed).
	Attachments []Attachment
}

// Attachment is one file of a Mail.
type Attachment struct {
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
	Body        io.Reader // read once by Compose
}

// headerText makes s safe for one header field: no CR, LF or other
// control characters (a value that carried them could add fields), and
// at most 998 bytes before encoding.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 900 {
		s = s[:900]
		for !utf8Valid(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func addrs(as []ticket.Address) []*mail.Address {
	out := make([]*mail.Address, 0, len(as))
	for _, a := range as {
		out = append(out, &mail.Address{Name: headerText(a.Name), Address: headerText(a.Email)})
	}
	return out
}

// NewMessageID makes a Message-ID under the domain of address: random, so
// it names this mail alone.
func NewMessageID(address string) string {
	domain := "sidedesk.invalid"
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i+1 < len(address) {
		domain = address[i+1:]
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + ".sidedesk@" + domain
}

// Compose builds m as RFC 5322 bytes: multipart/alternative with a
// text/plain and a text/html part (quoted-printable, UTF-8), threading
// headers, and every header value stripped of line breaks.
func Compose(m Mail) ([]byte, error) {
	var h mail.Header
	h.SetDate(m.Date)
	h.SetAddressList("From", addrs([]ticket.Address{m.From}))
	h.SetAddressList("To", addrs(m.To))
	if len(m.Cc) > 0 {
		h.SetAddressList("Cc", addrs(m.Cc))
	}
	if m.ReplyTo.Email != "" {
		h.SetAddressList("Reply-To", addrs([]ticket.Address{m.ReplyTo}))
	}
	h.SetSubject(headerText(m.Subject))
	h.SetMessageID(headerText(m.MessageID))
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{headerText(m.InReplyTo)})
	}
	if len(m.References) > 0 {
		refs := make([]string, 0, len(m.References))
		for _, r := range m.References {
			if r = headerText(r); r != "" && !strings.ContainsAny(r, "<> ") {
				refs = append(refs, r)
			}
		}
		if len(refs) > 0 {
			h.SetMsgIDList("References", refs)
		}
	}
	if m.AutoReplied {
		h.Set("Auto-Submitted", "auto-replied")
		h.Set("X-Auto-Response-Suppress", "All")
	}
	h.Set("MIME-Version", "1.0")
	var (
		buf   bytes.Buffer
		w     *mail.InlineWriter
		mixed *mail.Writer
		err   error
	)
	if len(m.Attachments) == 0 {
		w, err = mail.CreateInlineWriter(&buf, h)
	} else if mixed, err = mail.CreateWriter(&buf, h); err == nil {
		w, err = mixed.CreateInline()
	}
	if err != nil {
		return nil, fmt.Errorf("mailout: compose: %w", err)
	}
	htmlBody := m.HTML
	if htmlBody == "" {
		htmlBody = TextToHTML(m.Text)
	}
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", htmlBody}} {
		var ph mail.InlineHeader
		ph.SetContentType(part.typ, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("mailout: compose: %w", err)
		}
		if _, err := io.WriteString(pw, normalizeCRLF(part.body)); err != nil {
			return nil, fmt.Errorf("mailout: compose: %w", err)
		}
		if err := pw.Close(); err != nil {
			return nil, fmt.Errorf("mailout: compose: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("mailout: compose: %w", err)
	}
	if mixed != nil {
		for _, a := range m.Attachments {
			var ah mail.AttachmentHeader
			ct := "application/octet-stream"
			if mt, params, perr := mime.ParseMediaType(a.ContentType); perr == nil {
				if f := mime.FormatMediaType(mt, params); f != "" {
					ct = f // re-written: nothing of the uploader's reaches the header raw
				}
			}
			ah.Set("Content-Type", ct)
			ah.SetFilename(headerText(a.Filename))
			ah.Set("Content-Transfer-Encoding", "base64")
			aw, err := mixed.CreateAttachment(ah)
			if err != nil {
				return nil, fmt.Errorf("mailout: compose: attachment %q: %w", a.Filename, err)
			}
			if _, err := io.Copy(aw, a.Body); err != nil {
				return nil, fmt.Errorf("mailout: compose: attachment %q: %w", a.Filename, err)
			}
			if err := aw.Close(); err != nil {
				return nil, fmt.Errorf("mailout: compose: %w", err)
			}
		}
		if err := mixed.Close(); err != nil {
			return nil, fmt.Errorf("mailout: compose: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// normalizeCRLF gives text CRLF line ends, as mail wants.
func normalizeCRLF(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// TextToHTML renders plain text as simple HTML: escaped, paragraphs at
// blank lines, line breaks kept.
func TextToHTML(text string) string {
	return "<!DOCTYPE html><html><body>" + paragraphs(text) + "</body></html>"
}

// paragraphs is TextToHTML's body: one <p> per paragraph.
func paragraphs(text string) string {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	var b strings.Builder
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br>\n"))
		b.WriteString("</p>\n")
	}
	return b.String()
}
