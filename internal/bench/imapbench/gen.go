package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"iter"
	"math/rand/v2"
	"mime/quotedprintable"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/sidedesk/sidedesk/internal/testenv"
)

// The mailbox mix, per 20 messages (average about 50 KB):
//
//	10 plain text (2-14 KB, some quoted-printable), 4 text+HTML
//	alternatives (10-40 KB), 2 legacy charsets (latin1, windows-1252,
//	koi8-r, shift_jis), 3 with a base64 attachment (15-90 KB), 1 large
//	(200-700 KB attachment). Every 7th message replies to the one
//	before it. 2,000 senders, so no sender trips the flood limit.
const senders = 2000

var words = strings.Fields(`the invoice server login error dashboard export cannot
please urgent customer account billing plan upgrade password reset timeout report
attached screenshot regards thanks order shipping delay refund question api key
production outage since this morning our team users see a blank page after update`)

// messages yields n deterministic messages; seed fixes their content.
func messages(n int, seed uint64) iter.Seq[testenv.MaildirMessage] {
	return func(yield func(testenv.MaildirMessage) bool) {
		r := rand.New(rand.NewPCG(seed, seed^0x5eed))
		base := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
		for i := range n {
			at := base.Add(time.Duration(i) * 17 * time.Minute)
			if !yield(testenv.MaildirMessage{Raw: message(r, i, at), Received: at}) {
				return
			}
		}
	}
}

func msgID(i int) string { return fmt.Sprintf("bench-%d@customer.example", i) }

func text(r *rand.Rand, size int) string {
	var b strings.Builder
	col := 0
	for b.Len() < size {
		w := words[r.IntN(len(words))]
		b.WriteString(w)
		col += len(w) + 1
		if col > 66 {
			b.WriteString("\r\n")
			col = 0
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func header(b *bytes.Buffer, i int, at time.Time, subject string) {
	s := i % senders
	fmt.Fprintf(b, "Return-Path: <user%d@customer%d.example>\r\n", s, s%97)
	fmt.Fprintf(b, "From: Customer %d <user%d@customer%d.example>\r\n", s, s, s%97)
	b.WriteString("To: Acme Support <bench@acme.example>\r\n")
	fmt.Fprintf(b, "Subject: %s #%d\r\n", subject, i)
	fmt.Fprintf(b, "Date: %s\r\n", at.Format(time.RFC1123Z))
	fmt.Fprintf(b, "Message-ID: <%s>\r\n", msgID(i))
	if i%7 == 3 && i > 0 {
		fmt.Fprintf(b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", msgID(i-1), msgID(i-1))
	}
	b.WriteString("MIME-Version: 1.0\r\n")
}

func attachment(r *rand.Rand, b *bytes.Buffer, name, ctype string, size int) {
	fmt.Fprintf(b, "Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", ctype, name, name)
	raw := make([]byte, size)
	for j := range raw {
		raw[j] = byte(r.Uint32())
	}
	copy(raw, "%PDF-1.4\n")
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
}

func message(r *rand.Rand, i int, at time.Time) []byte {
	var b bytes.Buffer
	switch k := i % 20; {
	case k < 10:
		header(&b, i, at, "Question about my account")
		body := text(r, 2000+r.IntN(12000))
		if k%3 == 0 {
			b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
			w := quotedprintable.NewWriter(&b)
			w.Write([]byte("Grüße — " + body))
			w.Close()
		} else {
			b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
			b.WriteString(body)
		}
	case k < 14:
		header(&b, i, at, "Dashboard export fails")
		body := text(r, 5000+r.IntN(15000))
		b.WriteString("Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n")
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
		b.WriteString(body)
		b.WriteString("--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><div style=\"font-family:Calibri\">")
		for _, para := range strings.Split(body, "\r\n") {
			fmt.Fprintf(&b, "<p>%s</p>\r\n", para)
		}
		b.WriteString("</div></body></html>\r\n--alt--\r\n")
	case k < 16:
		type cs struct {
			name string
			enc  encoding.Encoding
			text string
		}
		sets := []cs{
			{"iso-8859-1", charmap.ISO8859_1, "Bonjour, la facture de février est erronée. Merci d'avance. "},
			{"windows-1252", charmap.Windows1252, "Hallo, die Rechnung für März fehlt – bitte prüfen. "},
			{"koi8-r", charmap.KOI8R, "Здравствуйте, не могу войти в личный кабинет. "},
			{"shift_jis", japanese.ShiftJIS, "お世話になっております。請求書の件でご連絡します。"},
		}
		c := sets[(i/20+k)%len(sets)]
		header(&b, i, at, "Facture / Rechnung")
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=%s\r\nContent-Transfer-Encoding: base64\r\n\r\n", c.name)
		raw, _ := c.enc.NewEncoder().String(strings.Repeat(c.text, 20+r.IntN(60)))
		enc := base64.StdEncoding.EncodeToString([]byte(raw))
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	default:
		size := 15000 + r.IntN(75000)
		name := fmt.Sprintf("report-%d.pdf", i)
		if k == 19 {
			size = 200000 + r.IntN(500000)
			name = fmt.Sprintf("logs-%d.zip", i)
		}
		header(&b, i, at, "Logs attached")
		b.WriteString("Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\n")
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
		b.WriteString(text(r, 500+r.IntN(2000)))
		b.WriteString("--mix\r\n")
		ctype := "application/pdf"
		if k == 19 {
			ctype = "application/zip"
		}
		attachment(r, &b, name, ctype, size)
		b.WriteString("--mix--\r\n")
	}
	return b.Bytes()
}
