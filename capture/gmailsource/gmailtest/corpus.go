package gmailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Corpus returns n deterministic support mails (RFC 5322, CRLF) for tests
// and benchmarks: new requests from customers at several domains, replies
// threaded with In-Reply-To/References (about one in three), plain text,
// multipart/alternative with HTML, and attachments (one in five; one in fifty
// about 200 KB). Average size is about 8 KB.
func Corpus(n int) [][]byte {
	rng := rand.New(rand.NewPCG(6, uint64(n)))
	domains := []string{"globex.example", "initech.example", "umbrella.example", "hooli.example", "example.com"}
	names := []string{"Hank Scorpio", "Peter Gibbons", "Alice Wesker", "Gavin Belson", "Jo Free", "Milton Waddams"}
	topics := []string{"Invoice question", "Production is down", "Cannot log in", "Feature request: SSO",
		"API rate limits", "Billing address change", "Export fails with 500", "Slow dashboard"}
	words := strings.Fields("the of and to our we your is it for on with this that please after since when " +
		"server account invoice login error page report team update issue customer support " +
		"dashboard export timeout yesterday morning release version cluster region")
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	type sent struct{ id, subject, refs, from string }
	var earlier []sent
	out := make([][]byte, 0, n)
	for i := range n {
		var b bytes.Buffer
		who := rng.IntN(len(names))
		from := fmt.Sprintf("%s <%s@%s>", names[who], strings.ToLower(strings.Fields(names[who])[0]), domains[who%len(domains)])
		date := base.Add(time.Duration(i) * 7 * time.Minute)
		msgID := fmt.Sprintf("<gen-%d-%d@mail.%s>", n, i, domains[who%len(domains)])
		subject := fmt.Sprintf("%s (case %d)", topics[rng.IntN(len(topics))], i)
		var inReplyTo, refs string
		if len(earlier) > 0 && rng.IntN(3) == 0 {
			p := earlier[rng.IntN(len(earlier))]
			subject, from = "Re: "+strings.TrimPrefix(p.subject, "Re: "), p.from
			inReplyTo = p.id
			refs = strings.TrimSpace(p.refs + " " + p.id)
		}
		fmt.Fprintf(&b, "Return-Path: <bounce@%s>\r\n", domains[who%len(domains)])
		fmt.Fprintf(&b, "From: %s\r\nTo: Acme Support <support@acme.example>\r\nSubject: %s\r\n", from, subject)
		fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: %s\r\n", date.Format(time.RFC1123Z), msgID)
		if inReplyTo != "" {
			fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", inReplyTo, refs)
		}
		b.WriteString("MIME-Version: 1.0\r\n")
		var text strings.Builder
		for range 20 + rng.IntN(120) {
			text.WriteString(words[rng.IntN(len(words))])
			text.WriteByte(' ')
			if text.Len()%70 < 6 {
				text.WriteString("\r\n")
			}
		}
		body := "Hello Acme team,\r\n\r\n" + text.String() + "\r\n\r\nThanks,\r\n" + names[who] + "\r\n"
		switch {
		case i%5 == 4:
			size := 2 << 10
			if i%50 == 49 {
				size = 200 << 10
			}
			att := make([]byte, size)
			for j := range att {
				att[j] = byte(rng.UintN(256))
			}
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"mix%d\"\r\n\r\n", i)
			fmt.Fprintf(&b, "--mix%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", i, body)
			fmt.Fprintf(&b, "--mix%d\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report-%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i, i)
			enc := base64.StdEncoding.EncodeToString(att)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			fmt.Fprintf(&b, "%s\r\n--mix%d--\r\n", enc, i)
		case i%2 == 1:
			fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"alt%d\"\r\n\r\n", i)
			fmt.Fprintf(&b, "--alt%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", i, body)
			fmt.Fprintf(&b, "--alt%d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>%s</p></body></html>\r\n--alt%d--\r\n",
				i, strings.ReplaceAll(body, "\r\n\r\n", "</p><p>"), i)
		default:
			b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n" + body)
		}
		earlier = append(earlier, sent{msgID, subject, refs, from})
		out = append(out, b.Bytes())
	}
	return out
}
