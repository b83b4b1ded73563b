package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sidedesk/sidedesk/ticket"
)

type wantAtt struct {
	name, ct string
	size     int64
	inline   bool
	cid      string
	prefix   string // the decoded bytes start so
}

type golden struct {
	file       string
	subject    string
	from       ticket.Address
	text       []string // substrings of Text
	notText    []string
	html       []string // substrings of HTML
	notHTML    []string
	atts       []wantAtt
	messageID  string
	inReplyTo  string
	refs       []string
	convID     bool
	report     bool
	feedback   bool
	returned   string
	returnPath string
	headers    map[string]string // Header.Get(key) == value
	parseError string            // substring; "" means ParseError must be empty
}

var goldens = []golden{
	{file: "outlook-inline-image.eml", subject: "RE: Dashboard shows wrong totals [#1042]",
		from:    ticket.Address{Name: "Schmidt, Anna", Email: "anna.schmidt@globex.example"},
		text:    []string{"the totals are still wrong after the fix"},
		html:    []string{`src="cid:image001.png@01DB38C5.2F4E1A80"`},
		notHTML: []string{"<style", "MsoNormal", "o:p"},
		atts: []wantAtt{{name: "image001.png", ct: "image/png", size: 73, inline: true,
			cid: "image001.png@01DB38C5.2F4E1A80", prefix: "\x89PNG"}},
		messageID: "AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1@AM0PR07MB6113.eurprd07.prod.outlook.com",
		inReplyTo: "CAFx1=support-1042@acme.example", refs: []string{"CAFx1=support-1042@acme.example"},
		convID: true, headers: map[string]string{"Thread-Topic": "Dashboard shows wrong totals [#1042]"}},
	{file: "outlook-threadindex-only.eml", subject: "RE: TPS report export fails",
		from: ticket.Address{Name: "Bill Lumbergh", Email: "bill.lumbergh@initech.example"},
		text: []string{"I’m going to need that export"}, convID: true},
	{file: "applemail-reply.eml", subject: "Re: [#1051] SSO login loop",
		from:      ticket.Address{Name: "Peter Gibbons", Email: "peter.gibbons@hooli.example"},
		text:      []string{"It’s Safari 18", "> Could you clear your cookies"},
		inReplyTo: "ticket-1051-reply-3@acme.example",
		refs:      []string{"ticket-1051-reply-2@acme.example", "ticket-1051-reply-3@acme.example"},
		messageID: "6F1C2B3A-9D8E-4F7A-B1C2-3D4E5F607182@hooli.example", returnPath: "peter.gibbons@hooli.example"},
	{file: "gmail-reply.eml", subject: "Re: [#1060] Invoice address change",
		from:      ticket.Address{Name: "José Martínez", Email: "jose.martinez.1987@example.com"},
		text:      []string{"Calle Mayor 5", "4:20\u202fPM"},
		notText:   []string{"<div"},
		html:      []string{"<blockquote>", `href="mailto:support@acme.example"`},
		notHTML:   []string{"style="},
		inReplyTo: "ticket-1060-reply-1@acme.example",
		refs:      []string{"ticket-1060@acme.example", "ticket-1060-reply-1@acme.example"}},
	{file: "thunderbird-flowed.eml", subject: "API rate limit question",
		from: ticket.Address{Name: "Alice Abernathy", Email: "alice@umbrella.example"},
		text: []string{"when we sync our inventory overnight", "\n-- \nAlice Abernathy"}},
	{file: "bounce-postfix.eml", subject: "Undelivered Mail Returned to Sender",
		from:    ticket.Address{Name: "Mail Delivery System", Email: "mailer-daemon@mail.acme.example"},
		text:    []string{"Recipient address rejected"},
		notText: []string{"your account is ready"},
		report:  true, returned: "ticket-1070-reply-1@acme.example",
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/delivery-status", size: 206, prefix: "Reporting-MTA"},
			{name: "Re_ [#1070] Your account.eml", ct: "message/rfc822", size: 304, prefix: "Return-Path"}},
		headers: map[string]string{"Return-Path": "<>", "Auto-Submitted": "auto-replied"}},
	{file: "bounce-exchange-ndr.eml", subject: "Undeliverable: Re: [#1071] Password reset",
		text: []string{"couldn't be delivered"}, report: true, inReplyTo: "ticket-1071-reply-1@acme.example", returned: "ticket-1071-reply-1@acme.example",
		from: ticket.Address{Name: "Microsoft Outlook", Email: "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@umbrella.example"},
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/delivery-status", size: 346, prefix: "Reporting-MTA"},
			{name: "attachment-2.txt", ct: "text/rfc822-headers", size: 283, prefix: "Return-Path"}}},
	{file: "bounce-qmail-mixed-dsn.eml", subject: "failure notice",
		from: ticket.Address{Name: "Mail Delivery System", Email: "mailer-daemon"},
		text: []string{"wasn't able to deliver"}, report: true, returned: "ticket-1090-reply-1@acme.example",
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/delivery-status", size: 122, prefix: "Reporting-MTA"},
			{name: "Re_ [#1090] Stapler.eml", ct: "message/rfc822", size: 213, prefix: "From: Acme"}},
		headers: map[string]string{"Return-Path": "<>"}},
	{file: "bounce-report-no-type.eml", subject: "", text: []string{"Delivery has failed"}, report: true,
		returned: "ticket-1091-reply-2@acme.example",
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/delivery-status", size: 118, prefix: "Reporting-MTA"},
			{name: "attachment-2.txt", ct: "text/rfc822-headers", size: 134, prefix: "From: support"}}},
	{file: "arf-feedback.eml", subject: "FW: Re: [#1092] Your order", feedback: true,
		from: ticket.Address{Name: "Feedback Loop", Email: "fbl@isp.example"}, text: []string{"email abuse report"},
		returnPath: "fbl@isp.example",
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/feedback-report", size: 126, prefix: "Feedback-Type"},
			{name: "Re_ [#1092] Your order.eml", ct: "message/rfc822", size: 161, prefix: "From: support"}}},
	{file: "two-from.eml", subject: "Two From fields", messageID: "two-from-1@initech.example",
		from: ticket.Address{Name: "Samir Nagheenanajar", Email: "samir@initech.example"}, text: []string{"not an address"}},
	{file: "bare-cr.eml", subject: "Bare CR line endings", messageID: "bare-cr-1@initech.example",
		from: ticket.Address{Name: "Bill Lumbergh", Email: "bill@initech.example"},
		text: []string{"ends in a bare CR.\nYeah, if you could"}, parseError: "bare_cr"},
	{file: "mixed-endings.eml", subject: "Mixed line endings", messageID: "mixed-eol-1@initech.example",
		from: ticket.Address{Name: "Milton Waddams", Email: "milton@initech.example"},
		text: []string{"there would be cake"}, parseError: "mixed_line_endings"},
	{file: "header-stray-line.eml", subject: "Invoice 2026-12 attached", messageID: "stray-1@vendor.example",
		from: ticket.Address{Name: "Vendor Billing", Email: "billing@vendor.example"},
		text: []string{"invoice attached"},
		atts: []wantAtt{{name: "invoice-2026-12.zip", ct: "application/zip", size: 86, prefix: "PK\x03\x04\x00\x01"}},
		headers: map[string]string{"X-Campaign-Tracking": "eyJjYW1wYWlnbiI6IjEyMzQ1Njc4OTAiLCJ1c2VyIjoiYWJjZGVmZ2hpams" +
			"bG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OSJ9"}},
	{file: "header-leading-separator.eml", subject: "Forwarded with a line before the header", messageID: "stray-2@initech.example",
		from: ticket.Address{Name: "Peter Gibbons", Email: "peter@initech.example"},
		text: []string{"The separator came first."}, parseError: "stray_header_line"},
	{file: "ooo-autoreply.eml", subject: "Out of office: Re: [#1080] Upgrade scheduled",
		from: ticket.Address{Name: "Morgan Smith", Email: "m.smith@hooli.example"},
		text: []string{"out of the office"}, inReplyTo: "ticket-1080-reply-1@acme.example", returnPath: "m.smith@hooli.example",
		headers: map[string]string{"Auto-Submitted": "auto-replied", "Precedence": "auto_reply", "X-Autoreply": "yes"}},
	{file: "exchange-oof.eml", subject: "Automatic reply: [#1081] Maintenance window",
		from: ticket.Address{Name: "Lumbergh, Bill", Email: "bill.lumbergh@initech.example"},
		text: []string{"I’m on vacation until Monday. Ca va à la plage."}, html: []string{"Ca va à la plage"},
		convID: true, headers: map[string]string{"X-Auto-Response-Suppress": "All"}, inReplyTo: "ticket-1081-reply-1@acme.example"},
	{file: "list-mail.eml", subject: "[vendor-announce] Release 4.2 is out",
		from: ticket.Address{Name: "Vendor News", Email: "news@vendor.example"}, text: []string{"faster exports"},
		returnPath: "bounces+newsletter@lists.vendor.example",
		headers:    map[string]string{"List-Id": "Vendor announcements <vendor-announce.lists.vendor.example>", "Precedence": "list"}},
	{file: "latin1-qp.eml", subject: "Frage zur Rechnung für März",
		from: ticket.Address{Name: "Jürgen Müller", Email: "customer@latin1-qp.example"}, text: []string{"Grüße aus München"}},
	{file: "windows-1252.eml", subject: "“Smart quotes” – and € prices",
		from: ticket.Address{Name: "François Désiré", Email: "francois@globex.example"}, text: []string{"“Bonjour” – the price is 30 €"}},
	{file: "koi8r.eml", subject: "Проблема с оплатой",
		from: ticket.Address{Name: "Иван Петров", Email: "customer@koi8r.example"}, text: []string{"не проходит оплата картой"}},
	{file: "iso2022jp.eml", subject: "請求書について",
		from: ticket.Address{Name: "山田太郎", Email: "customer@iso2022jp.example"}, text: []string{"請求書の件です"}},
	{file: "shiftjis.eml", subject: "ログインできません",
		from: ticket.Address{Name: "佐藤花子", Email: "customer@shiftjis.example"}, text: []string{"パスワードを再設定"}},
	{file: "gb2312.eml", subject: "账户无法登录",
		from: ticket.Address{Name: "王伟", Email: "customer@gb2312.example"}, text: []string{"请帮忙。镕"}},
	{file: "uuencode-inline.eml", subject: "Q3 report", from: ticket.Address{Name: "Old Mailer", Email: "old@legacy.example"},
		text: []string{"the report you asked for is below.", "[attachment: Q3 report.pdf]", "Regards,"}, notText: []string{"begin 644", "M)5!$"},
		atts: []wantAtt{{name: "Q3 report.pdf", ct: "application/pdf", size: 784, prefix: "%PDF-1.4"}}},
	{file: "uuencode-part.eml", subject: "Logs attached", from: ticket.Address{Name: "Gateway", Email: "gw@legacy.example"},
		text: []string{"The logs are attached."},
		atts: []wantAtt{{name: "logs.zip", ct: "application/zip", size: 404, prefix: "PK\x03\x04"}}},
	{file: "charset-raw-sjis-header.eml", subject: "請求書の金額について",
		from: ticket.Address{Name: "田中 太郎", Email: "tanaka@example.co.jp"}, text: []string{"先月の請求書の金額が違うようです"}, parseError: "charset_guessed"},
	{file: "charset-sjis-labelled-iso2022jp.eml", subject: "Invoice question",
		from: ticket.Address{Name: "Tanaka", Email: "tanaka@example.co.jp"}, text: []string{"金額が二重に計上されているようです"}, parseError: "charset_guessed"},
	{file: "charset-gbk-labelled-latin1.eml", subject: "Order system timeout",
		from: ticket.Address{Name: "Wang Wei", Email: "wang@example.cn"}, text: []string{"请尽快帮忙查看"}, parseError: "charset_guessed"},
	{file: "charset-undeclared-cp1251.eml", subject: "Payment refused",
		from: ticket.Address{Name: "Ivan", Email: "ivan@example.ru"}, text: []string{"Пожалуйста, помогите разобраться"}, parseError: "charset_guessed"},
	{file: "charset-short-header-body-declares.eml", subject: "Invoice 42",
		from: ticket.Address{Name: "Олег", Email: "oleg@example.org"}, text: []string{"Счёт за ноябрь выставлен дважды"}, parseError: "the charset the body declares"},
	{file: "charset-short-header-sender-country.eml", subject: "Order 1187 not delivered",
		from: ticket.Address{Name: "Петр", Email: "petr@mail.example.ru"}, text: []string{"has not arrived yet"}, parseError: "by the sender's domain"},
	{file: "bounce-cr-only-gateway.eml", subject: "Delivery failure", from: ticket.Address{Email: "mailer-daemon@example.co.jp"},
		text:      []string{"This user doesn't have a example.co.jp account", "Message-ID: <ticket-1102-reply-1@acme.example>"},
		messageID: "202611262334.q1AB2345@mx5.example.net", returnPath: "mailer-daemon@mx5.example.net", parseError: "bare_cr"},
	{file: "bounce-filter-iso2022jp.eml", subject: "failure notice", from: ticket.Address{Name: "POSTMASTER", Email: "postmaster@example.com"},
		text:      []string{"下記の理由によりメールを送信できませんでした", "550 unknown user <taro@example.com>"},
		messageID: "20261127180005.0A1B2C3D@example.com", returnPath: "postmaster@example.com"},
	{file: "bounce-report-trailing-semicolons.eml", subject: "Re: [#1104] Password reset", from: ticket.Address{Email: "mailer-daemon@example.com"},
		text: []string{"550 kenji@example.com... No such user"}, report: true, returned: "ticket-1104-reply-1@acme.example",
		messageID: "20261128081000.4AB12CD3@mx4.example.com",
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/delivery-status", size: 173, prefix: "Reporting-MTA"},
			{name: "Re_ [#1104] Password reset.eml", ct: "message/rfc822", size: 283, prefix: "To: <kenji"}}},
	{file: "bounce-domino.eml", subject: "DELIVERY FAILURE: User Jan Novak (jan.novak@example.org) not listed in Domino Directory",
		from: ticket.Address{Email: "postmaster@notes.example.org"}, text: []string{"Subject: Re: [#1105] Načtení faktur"},
		messageID: "OF1A2B3C4D.5E6F7A8B-ONC1257D1E.0036A8B9@notes.example.org", returnPath: "postmaster@notes.example.org"},
	{file: "bounce-gmail-dsn.eml", subject: "Delivery Status Notification (Failure)",
		from: ticket.Address{Name: "Mail Delivery Subsystem", Email: "mailer-daemon@googlemail.com"}, text: []string{"Address not found"},
		report: true, returned: "ticket-1106-reply-1@acme.example", inReplyTo: "ticket-1106-reply-1@acme.example", refs: []string{"ticket-1106-reply-1@acme.example"},
		messageID: "6565a1b2.170a0220.1c2d3.ABCD@mx.google.com", headers: map[string]string{"X-Failed-Recipients": "maria.rossi@gmail.com"},
		atts: []wantAtt{{name: "attachment-1.txt", ct: "message/delivery-status", size: 305, prefix: "Reporting-MTA"},
			{name: "attachment-2.txt", ct: "text/rfc822-headers", size: 186, prefix: "From: Acme Support"}}},
	{file: "big5.eml", subject: "訂單查詢",
		from: ticket.Address{Name: "陳小明", Email: "customer@big5.example"}, text: []string{"何時出貨"}},
	{file: "euckr.eml", subject: "결제 문의",
		from: ticket.Address{Name: "김민수", Email: "customer@euckr.example"}, text: []string{"결제가 되지 않습니다"}},
	{file: "rfc2231-filenames.eml", subject: "Contracts attached", text: []string{"contracts attached"},
		from: ticket.Address{Name: "Jonas Bauer", Email: "jonas.bauer@globex.example"},
		atts: []wantAtt{
			{name: "Vertrag für Globex – Nov 2026.pdf", ct: "application/pdf", size: 1076, prefix: "%PDF-1.4"},
			{name: "Rechnung_Übersicht.pdf", ct: "application/pdf", size: 100, prefix: "%PDF-1.4"},
			{name: "report 2026.csv", ct: "text/csv", size: 14, prefix: "id,total"},
			{name: "attachment-4", ct: "application/octet-stream", size: 5, prefix: "\x00\x01\x02\x03\x04"}},
		parseError: "unsafe_filename"},
	{file: "forward-rfc822.eml", subject: "Fwd: Error report from our monitoring",
		from: ticket.Address{Name: "Anna Schmidt", Email: "anna.schmidt@globex.example"},
		text: []string{"See the forwarded alert below."}, notText: []string{"NESTED"}, notHTML: []string{"NESTED"},
		atts: []wantAtt{{name: "ALERT_ API latency – p99 _ 2s.eml", ct: "message/rfc822", size: 467, inline: true, prefix: "From: Monitoring"}}},
	{file: "attachments.eml", subject: "Purchase order and logo",
		from: ticket.Address{Name: "Hooli Billing", Email: "billing@hooli.example"},
		text: []string{"Our purchase order PO-7731 is attached."}, html: []string{"<b>PO-7731</b>"},
		atts: []wantAtt{{name: "PO-7731.pdf", ct: "application/pdf", size: 1076, prefix: "%PDF"},
			{name: "attachment-2.png", ct: "image/png", size: 73, prefix: "\x89PNG"}}},
	{file: "broken-encodings.eml", subject: "Broken encodings",
		from:       ticket.Address{Email: "broken@umbrella.example"},
		text:       []string{"Price = 10€, bad escape =ZZ here, lone = sign, softbreak done."},
		atts:       []wantAtt{{name: "cut.pdf", ct: "application/pdf", size: 63, prefix: "%PDF-1.4"}},
		parseError: "quoted-printable"},
	{file: "broken-headers.eml", subject: "Re:Für Siecafé ok",
		from: ticket.Address{Name: "Zoë Ångström", Email: "zoe@umbrella.example"},
		text: []string{"Naïve café text"}, messageID: "no-brackets-id@umbrella.example",
		inReplyTo: "ticket-1090@acme.example", refs: []string{"a@x.example", "ticket-1090@acme.example"},
		parseError: "unknown charset x-unknown-charset"},
	{file: "malformed-no-blank-line.eml", subject: "no separator", from: ticket.Address{Email: "sloppy@initech.example"},
		text: []string{"Hello, this body starts right after the header.\nSecond line."}, parseError: "blank line"},
	{file: "malformed-missing-boundary.eml", subject: "missing boundary", from: ticket.Address{Email: "sloppy@initech.example"},
		text: []string{"Body in a multipart whose boundary"}, notText: []string{"--XyZzY"}, parseError: "boundary"},
	{file: "malformed-bare-lf.eml", subject: "bare LF and truncated", from: ticket.Address{Name: "Unix Box", Email: "cron@umbrella.example"},
		text: []string{"Line one.\nLine two."}, html: []string{"<p>Line one.</p>"}, parseError: "close delimiter"},
	{file: "hostile-html.eml", subject: "Please click", from: ticket.Address{Email: "attacker@evil.example"},
		text:    []string{"Hello & welcome", "safe link"},
		notText: []string{"alert", "background"},
		html:    []string{`href="https://good.example/"`, "noopener", `src="cid:logo@evil.example"`},
		notHTML: []string{"<script", "onerror", "onload", "javascript:", "<style", "<iframe", "style=", "<form", "<input"}},
}

func TestParseFixtures(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range goldens {
		seen[g.file] = true
		t.Run(g.file, func(t *testing.T) {
			in, blobs := parseFile(t, g.file)
			if in.Subject != g.subject {
				t.Errorf("Subject = %q, want %q", in.Subject, g.subject)
			}
			if in.From != g.from {
				t.Errorf("From = %+v, want %+v", in.From, g.from)
			}
			for _, s := range g.text {
				if !strings.Contains(in.Text, s) {
					t.Errorf("Text lacks %q:\n%s", s, in.Text)
				}
			}
			for _, s := range g.notText {
				if strings.Contains(in.Text, s) {
					t.Errorf("Text has %q:\n%s", s, in.Text)
				}
			}
			for _, s := range g.html {
				if !strings.Contains(in.HTML, s) {
					t.Errorf("HTML lacks %q:\n%s", s, in.HTML)
				}
			}
			for _, s := range g.notHTML {
				if strings.Contains(strings.ToLower(in.HTML), strings.ToLower(s)) {
					t.Errorf("HTML has %q:\n%s", s, in.HTML)
				}
			}
			if g.messageID != "" && in.MessageID != g.messageID {
				t.Errorf("MessageID = %q, want %q", in.MessageID, g.messageID)
			}
			if in.InReplyTo != g.inReplyTo {
				t.Errorf("InReplyTo = %q, want %q", in.InReplyTo, g.inReplyTo)
			}
			if g.refs != nil && fmt.Sprint(in.References) != fmt.Sprint(g.refs) {
				t.Errorf("References = %q, want %q", in.References, g.refs)
			}
			if (in.ConversationID != "") != g.convID || in.ConversationID != "" && len(in.ConversationID) != 44 {
				t.Errorf("ConversationID = %q, want set=%v (44 hex digits)", in.ConversationID, g.convID)
			}
			if in.FeedbackReport != g.feedback {
				t.Errorf("FeedbackReport = %v, want %v", in.FeedbackReport, g.feedback)
			}
			if in.DeliveryReport != g.report || in.ReturnedMessageID != g.returned {
				t.Errorf("DeliveryReport, ReturnedMessageID = %v, %q; want %v, %q", in.DeliveryReport, in.ReturnedMessageID, g.report, g.returned)
			}
			if in.ReturnPath != g.returnPath {
				t.Errorf("ReturnPath = %q, want %q", in.ReturnPath, g.returnPath)
			}
			for k, v := range g.headers {
				if got := in.Header.Get(k); got != v {
					t.Errorf("Header[%s] = %q, want %q", k, got, v)
				}
			}
			if g.parseError == "" && in.ParseError != "" || !strings.Contains(in.ParseError, g.parseError) {
				t.Errorf("ParseError = %q, want containing %q", in.ParseError, g.parseError)
			}
			if len(in.Attachments) != len(g.atts) {
				t.Fatalf("got %d attachments %+v, want %d", len(in.Attachments), in.Attachments, len(g.atts))
			}
			for i, w := range g.atts {
				a := in.Attachments[i]
				if a.Filename != w.name || a.ContentType != w.ct || a.Size != w.size || a.Inline != w.inline || a.ContentID != w.cid {
					t.Errorf("attachment %d = %+v, want %+v", i, a, w)
				}
				rc, err := blobs.Open(context.Background(), a.SHA256)
				if err != nil {
					t.Fatalf("attachment %d blob: %v", i, err)
				}
				data, _ := io.ReadAll(rc)
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(data)) != a.Size {
					t.Errorf("attachment %d: blob does not match SHA256/Size", i)
				}
				if !bytes.HasPrefix(data, []byte(w.prefix)) {
					t.Errorf("attachment %d starts %q, want %q", i, data[:min(len(data), 16)], w.prefix)
				}
			}
			checkInvariants(t, in)
		})
	}
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s has no golden expectation", f)
		}
	}
}

func checkInvariants(t *testing.T, in ticket.Inbound) {
	t.Helper()
	for name, s := range map[string]string{"Text": in.Text, "HTML": in.HTML, "Subject": in.Subject, "From.Name": in.From.Name, "ParseError": in.ParseError} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not valid UTF-8: %q", name, s)
		}
		if strings.IndexByte(s, 0) >= 0 {
			t.Errorf("%s holds NUL", name)
		}
	}
	for _, a := range in.Attachments {
		if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\\x00") {
			t.Errorf("bad attachment filename %q", a.Filename)
		}
	}
}

// TestParseMalformed feeds hostile and broken shapes that have no fixture
// file: Parse must return what it can, with ParseError, and no error.
func TestParseMalformed(t *testing.T) {
	deep := func(n int) string {
		var b strings.Builder
		b.WriteString("Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
		}
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n", n)
		return b.String()
	}
	validDeep := func(n int) string { // nested n deep, every part closed
		var b strings.Builder
		b.WriteString("Subject: deep\r\nMessage-ID: <deep@x.example>\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
		}
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n", n)
		for i := n; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name, raw  string
		text       string
		subject    string
		parseError string
		flags      []string // exactly these
	}{
		{name: "empty", raw: "", parseError: "empty message", flags: []string{"empty_message"}},
		{name: "body only", raw: "just some text\r\n", text: "just some text", parseError: "no header", flags: []string{"no_header"}},
		{name: "header only", raw: "Subject: hi\r\n", subject: "hi"},
		{name: "NUL bytes", raw: "Subject: a\x00b\r\n\r\nte\x00xt\r\n", subject: "ab", text: "text", parseError: "NUL", flags: []string{"nul_bytes"}},
		{name: "deep nesting, unclosed", raw: deep(80), subject: "deep", parseError: "close delimiter", flags: []string{"limit_reached", "truncated"}},
		{name: "valid deep nesting is no broken mail", raw: validDeep(80), subject: "deep", flags: []string{"limit_reached"}},
		{name: "valid nesting within the limit", raw: validDeep(20), subject: "deep", text: "deepest", flags: []string{}},
		{name: "nesting within limit", raw: deep(20), subject: "deep", text: "deepest", parseError: "close delimiter"},
		{name: "huge header line", raw: "Subject: " + strings.Repeat("x", 1<<20) + "\r\n\r\nbody\r\n", text: "body", parseError: "overlong", flags: []string{"overlong_line"}},
		{name: "many header fields", raw: strings.Repeat("X-A: b\r\n", 5000) + "Subject: late\r\n\r\nbody", text: "body", flags: []string{"limit_reached"}},
		{name: "part header garbage", raw: "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nthis is no header\r\nmore\r\n--q--\r\n", text: "this is no header\nmore", parseError: "no header"},
		{name: "boundary never seen", raw: "Content-Type: multipart/mixed; boundary=q\r\n\r\nplain words\r\n", text: "plain words", parseError: "no parts"},
		{name: "unknown transfer encoding", raw: "Content-Transfer-Encoding: x-binhex\r\n\r\nbegin 644\r\n", text: "begin 644", parseError: "Content-Transfer-Encoding"},
		{name: "uuencode without begin line", raw: "Content-Transfer-Encoding: x-uue\r\n\r\nbegin 644\r\nsome text\r\n", text: "some text", parseError: "uuencode"},
		{name: "base64 multipart", raw: "Content-Type: multipart/mixed; boundary=z\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"LS16DQpDb250ZW50LVR5cGU6IHRleHQvcGxhaW4NCg0KaW5uZXINCi0tei0tDQo=\r\n", text: "inner"},
		{name: "invalid utf-8 labelled utf-8", raw: "Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 ol\xe9\r\n", text: "café olé", parseError: "utf-8"},
		{name: "8-bit latin1 subject", raw: "Subject: Caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nx", subject: "Café", text: "x", parseError: "8bit_header", flags: []string{"8bit_header"}},
		{name: "raw UTF-8 subject is allowed (RFC 6532)", raw: "Subject: Café ☕\r\nMessage-ID: <u8@x.example>\r\n\r\nx", subject: "Café ☕", text: "x", flags: []string{}},
		{name: "bad date", raw: "Subject: d\r\nDate: the day after tomorrow\r\n\r\nx", text: "x", parseError: "bad_date", flags: []string{"bad_date"}},
		{name: "bad message-id", raw: "Subject: m\r\nMessage-ID: just-some-token\r\n\r\nx", text: "x", parseError: "bad_message_id", flags: []string{"bad_message_id"}},
		{name: "bad address", raw: "From: Jane Doe\r\nSubject: a\r\n\r\nx", text: "x", parseError: "bad_address", flags: []string{"bad_address"}},
		{name: "bad rfc2231", raw: "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nhi\r\n--q\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*0*=utf-8\x27\x27r%C3%A9sum%; filename*2=.pdf\r\n\r\n%PDF\r\n--q--\r\n", text: "hi", parseError: "bad_rfc2231", flags: []string{"bad_rfc2231"}},
		{name: "empty attached message", raw: "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--q\r\nContent-Type: message/rfc822\r\n\r\n\r\n--q--\r\n", text: "see attached", parseError: "empty_rfc822", flags: []string{"empty_rfc822"}},
		{name: "traversal file name", raw: "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nhi\r\n--q\r\nContent-Type: text/plain; name=\"../../etc/passwd\"\r\nContent-Disposition: attachment; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--q--\r\n", text: "hi", parseError: "unsafe_filename", flags: []string{"unsafe_filename"}},
		{name: "a 2 MB line", raw: "Subject: l\r\n\r\n" + strings.Repeat("y", 2<<20) + "\r\n", text: "yyy", parseError: "overlong_line", flags: []string{"overlong_line"}},
		{name: "utf-7", raw: "Content-Type: text/plain; charset=utf-7\r\n\r\nHi Mom -+Jjo--!\r\n", text: "Hi Mom -☺-!"},
		{name: "unknown charset", raw: "Content-Type: text/plain; charset=x-klingon\r\n\r\nqapla\xe9\r\n", text: "qaplaé", parseError: "unknown charset"},
		{name: "encoded word split utf-8", raw: "Subject: =?UTF-8?B?w6k=?= =?UTF-8?B?4oKs?= =?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=\r\n\r\n", subject: "é€€"},
		{name: "cte with junk", raw: "Content-Transfer-Encoding: Base64 ; x\r\n\r\naGVsbG8=\r\n", text: "hello"},
		{name: "html only gets text", raw: "Content-Type: text/html\r\n\r\n<ul><li>one<li>two</ul><p>a&nbsp;b</p>", text: "- one\n- two\n\na\u00a0b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Parse(context.Background(), strings.NewReader(tt.raw), newMemBlobs(), ParseOptions{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !strings.Contains(in.Text, tt.text) {
				t.Errorf("Text = %q, want containing %q", in.Text, tt.text)
			}
			if tt.subject != "" && in.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", in.Subject, tt.subject)
			}
			if tt.parseError == "" && in.ParseError != "" || !strings.Contains(in.ParseError, tt.parseError) {
				t.Errorf("ParseError = %q, want containing %q", in.ParseError, tt.parseError)
			}
			if tt.flags != nil && strings.Join(in.ParseFlags, ",") != strings.Join(tt.flags, ",") {
				t.Errorf("ParseFlags = %v, want %v", in.ParseFlags, tt.flags)
			}
			checkInvariants(t, in)
		})
	}
}

func TestParseTruncatesBody(t *testing.T) {
	raw := "Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("é", 1000)
	in, err := Parse(context.Background(), strings.NewReader(raw), newMemBlobs(), ParseOptions{MaxBodyBytes: 101})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.Text, strings.Repeat("é", 50)+"\n") || !strings.Contains(in.Text, "truncated") {
		t.Errorf("Text = %q", in.Text)
	}
	if in.ParseError != "" {
		t.Errorf("ParseError = %q, want empty (truncation is not malformed mail)", in.ParseError)
	}
}

func TestParseBlobError(t *testing.T) {
	raw, _ := os.ReadFile("testdata/attachments.eml")
	_, err := Parse(context.Background(), bytes.NewReader(raw), failBlobs{}, ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "store attachment") {
		t.Fatalf("err = %v, want store attachment error", err)
	}
}

// failBlobs starts blobs whose writes fail.
type failBlobs struct{}

func (failBlobs) Create() (ticket.BlobWriter, error) {
	return newTestWriter(failWriter{}), nil
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestDecodeWords(t *testing.T) {
	tests := []struct{ in, fallback, want string }{
		{"=?iso-8859-1?q?caf=E9?=", "", "café"},
		{"=?UTF-8?B?SGVsbG8gV29ybGQ?=", "", "Hello World"}, // no padding
		{"a =?utf-8?q?b?= c", "", "a b c"},
		{"=?utf-8?q?a?=  \t =?utf-8?q?b?=", "", "ab"},
		{"x=?utf-8?q?y?=z", "", "xyz"},
		{"=?utf-8*en?q?lang?=", "", "lang"},
		{"=?bogus", "", "=?bogus"},
		{"=?utf-8?x?nope?=", "", "=?utf-8?x?nope?="},
		{"R\xe9sum\xe9", "iso-8859-1", "Résumé"},
		{"Zoë", "", "Zoë"},
		{"=?gb2312?B?1tDOxA==?=", "", "中文"},
		{"=?ks_c_5601-1987?B?x9Gx2w==?=", "", "한글"},
	}
	for _, tt := range tests {
		if got, _ := decodeWords(tt.in, tt.fallback); got != tt.want {
			t.Errorf("decodeWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseMediaHeader(t *testing.T) {
	tests := []struct {
		in, value string
		params    map[string]string
	}{
		{`text/plain; charset="utf-8"; format=flowed`, "text/plain", map[string]string{"charset": "utf-8", "format": "flowed"}},
		{`TEXT/HTML;charset=ISO-8859-1;`, "text/html", map[string]string{"charset": "ISO-8859-1"}},
		{`text/html charset=utf-8`, "text/html", map[string]string{"charset": "utf-8"}},
		{`attachment; filename=my file.pdf`, "attachment", map[string]string{"filename": "my file.pdf"}},
		{`attachment; filename="unterminated.pdf`, "attachment", map[string]string{"filename": "unterminated.pdf"}},
		{`attachment; filename*=iso-8859-1'de'B%FCro.txt`, "attachment", map[string]string{"filename": "Büro.txt"}},
		{`attachment; filename*1="b.txt"; filename*0="a"`, "attachment", map[string]string{"filename": "ab.txt"}},
		{`attachment; filename="x.txt"; filename*=UTF-8''%E2%9C%93.txt`, "attachment", map[string]string{"filename": "✓.txt"}},
		{`inline; filename="C:\Users\me\doc.pdf"`, "inline", map[string]string{"filename": `C:\Users\me\doc.pdf`}},
		{`attachment; filename="say \"hi\".txt"`, "attachment", map[string]string{"filename": `say "hi".txt`}},
	}
	for _, tt := range tests {
		v, p := parseMediaHeader(tt.in, "")
		if v != tt.value || fmt.Sprint(p) != fmt.Sprint(tt.params) {
			t.Errorf("parseMediaHeader(%q) = %q %v, want %q %v", tt.in, v, p, tt.value, tt.params)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"Doe, John" <John.Doe@X.example>`, `[{Doe, John john.doe@x.example}]`},
		{`Doe, John <john@x.example>, jane@x.example`, `[{Doe, John john@x.example} { jane@x.example}]`},
		{`undisclosed-recipients:;`, `[]`},
		{`team: a@x.example, b@x.example;`, `[{ a@x.example} { b@x.example}]`},
		{`John Q. Public <jqp@x.example>`, `[{John Q. Public jqp@x.example}]`},
		{`jqp@x.example (John Public)`, `[{John Public jqp@x.example}]`},
		{`=?utf-8?q?J=C3=BCrgen?= <j@x.example>`, `[{Jürgen j@x.example}]`},
		{`Jürgen <j@x.example>`, `[{Jürgen j@x.example}]`},
		{`<bare@x.example>`, `[{ bare@x.example}]`},
		{`postmaster`, `[{ postmaster}]`},
		{`"broken <a@x.example>`, `[{broken a@x.example}]`},
	}
	for _, tt := range tests {
		got := parseAddressList(tt.in, "")
		if s := fmt.Sprint(got); s != tt.want && !(tt.want == "[]" && got == nil) {
			t.Errorf("parseAddressList(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	want := time.Date(2026, 11, 17, 8, 14, 2, 0, time.UTC)
	for _, s := range []string{
		"Tue, 17 Nov 2026 09:14:02 +0100",
		"Tue, 17 Nov 2026 09:14:02 +0100 (CET)",
		"17 Nov 2026 08:14:02 GMT",
		"Tue, 17 Nov 2026 08:14:02 UT",
		"Tue,17 Nov 2026 08:14:02 +0000",
		"Tue, 17 Nov 26 08:14:02 +0000",
		"Tue Nov 17 08:14:02 2026",
		"2026-11-17T08:14:02Z",
		"Tue, 17 Nov 2026 08:14:02 GMT+0000",
		"Wed, 17 Nov 2026 08:14:02 +0000", // wrong weekday
		"Tue, 17 Nov 2026 08:14:02 +0000 garbage",
	} {
		if got := parseDate(s); !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v, want %v", s, got, want)
		}
	}
	if got := parseDate("yesterday-ish"); !got.IsZero() {
		t.Errorf("parseDate(hopeless) = %v, want zero", got)
	}
}

func TestConversationID(t *testing.T) {
	if got := conversationID("AQHZ8k3xq1dm0m8bBkSxS4HQ3UQyZ7Av0oTg"); got != "0101d9f24df1ab5766d26f1b0644b14b81d0dd443267" {
		t.Errorf("conversationID = %q", got)
	}
	if got := conversationID("AQHZ8k3x"); got != "" {
		t.Errorf("short Thread-Index gave %q, want empty", got)
	}
}

func TestMsgIDs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<a@b> <c@d>\r\n <a@b>", "[a@b c@d]"},
		{"a@b", "[a@b]"},
		{"<a@b> (John's message of Monday)", "[a@b]"},
		{"<a\r\n @b>", "[a@b]"},
		{"opaque-token", "[opaque-token]"},
		{"", "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(parseMsgIDs(tt.in)); got != tt.want {
			t.Errorf("parseMsgIDs(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSanitizeFilename(t *testing.T) {
	tests := []struct{ in, want string }{
		{"../../etc/passwd", "passwd"},
		{`C:\Users\me\doc.pdf`, "doc.pdf"},
		{"a\x00b\x1f.txt", "ab.txt"},
		{"..", ""},
		{".hidden", "hidden"},
		{"what?.txt", "what_.txt"},
		{strings.Repeat("x", 300) + ".pdf", strings.Repeat("x", 196) + ".pdf"},
	}
	for _, tt := range tests {
		if got := sanitizeFilename(tt.in); got != tt.want {
			t.Errorf("sanitizeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDemoCorpus checks that every demo mail parses cleanly and is what the
// demo promises (threads, a bounce, an auto-reply, a list mail, a non-UTF-8
// mail, attachments with an inline image).
func TestDemoCorpus(t *testing.T) {
	files, _ := filepath.Glob("../demo/mail/*.eml")
	if len(files) < 25 {
		t.Fatalf("demo corpus has %d mails, want about 30", len(files))
	}
	var report, autoReply, list, inline, threadIndex, replies int
	subjects := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > 50<<10 {
			t.Errorf("%s is %d bytes, keep demo mails under 50 KB", f, len(raw))
		}
		in, err := Parse(context.Background(), bytes.NewReader(raw), newMemBlobs(), ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if in.ParseError != "" || in.Subject == "" || in.From.Email == "" || in.MessageID == "" || in.Text == "" || in.Date.IsZero() {
			t.Errorf("%s: ParseError %q, subject %q, from %q, id %q, date %v, text %d bytes", f, in.ParseError, in.Subject, in.From.Email, in.MessageID, in.Date, len(in.Text))
		}
		if in.Date.Year() != 2026 || in.Date.Month() != time.November {
			t.Errorf("%s: date %v not in November 2026", f, in.Date)
		}
		subjects[in.Subject] = true
		if in.DeliveryReport && in.ReturnedMessageID != "" {
			report++
		}
		if in.Header.Has("Auto-Submitted") && !in.DeliveryReport {
			autoReply++
		}
		if in.Header.Has("List-Id") {
			list++
		}
		if in.ConversationID != "" {
			threadIndex++
		}
		if in.InReplyTo != "" || len(in.References) > 0 {
			replies++
		}
		for _, a := range in.Attachments {
			if a.Inline && a.ContentID != "" && strings.Contains(in.HTML, "cid:"+a.ContentID) {
				inline++
			}
		}
	}
	if report < 1 || autoReply < 1 || list < 1 || inline < 1 || threadIndex < 3 || replies < 6 {
		t.Errorf("demo corpus lacks variety: bounces %d, auto-replies %d, lists %d, inline images %d, Thread-Index %d, replies %d",
			report, autoReply, list, inline, threadIndex, replies)
	}
	for _, s := range []string{"Rechnung für Oktober – Umsatzsteuer doppelt", "APIキーの再発行", "URGENT: production is down - API returns 503"} {
		if !subjects[s] {
			t.Errorf("demo corpus lacks subject %q", s)
		}
	}
}

// TestLineEndsNormalised checks both ways line ends become LF (in a body's
// buffer, crlfToLF, and in a string, normalizeNewlines) against the
// definition: CR LF, then a lone CR, replaced by LF.
func TestLineEndsNormalised(t *testing.T) {
	want := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	cases := []string{"", "a", "\r", "\n", "\r\n", "\n\r", "\r\r\n\n", "a\r\nb\rc\nd", "end\r", "\r\nstart",
		strings.Repeat("line\r\n", 1000), "x\r\r\r\ny"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = "ab\r\n"[rng.IntN(4)]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got := string(crlfToLF([]byte(s))); got != want(s) {
			t.Fatalf("crlfToLF(%q) = %q, want %q", s, got, want(s))
		}
		if got := normalizeNewlines(s); got != want(s) {
			t.Fatalf("normalizeNewlines(%q) = %q, want %q", s, got, want(s))
		}
	}
	for _, c := range []struct {
		label string
		b     string
		want  bool
	}{
		{"utf-8", "hi\r\n", true}, {"", "hi", true}, {"ISO-2022-JP", "\x1b$B", true},
		{"UTF-16LE", "h\x00", false}, {"utf-16", "hi", false}, {"unicode-1-1", "hi", false},
		{"utf-8", "h\x00i\x00", false}, // a wrong label: NULs say UTF-16
	} {
		if got := asciiLineEnds(c.label, []byte(c.b)); got != c.want {
			t.Errorf("asciiLineEnds(%q, %q) = %v, want %v", c.label, c.b, got, c.want)
		}
	}
}

// BenchmarkSanitizeHTML sanitises a mail HTML body shaped as Outlook
// writes them: a styled div holding a paragraph per line.
func BenchmarkSanitizeHTML(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<html><head><style>p{margin:0}</style></head><body><div style="font-family:Calibri">`)
	for i := range 150 {
		fmt.Fprintf(&sb, "<p>Line %d of the customer's question &amp; its <a href=\"https://example.com/t/%d\">link</a> and <b>bold</b> words.</p>\r\n", i, i)
	}
	sb.WriteString("</div></body></html>\r\n")
	html := sb.String()
	b.SetBytes(int64(len(html)))
	b.ReportAllocs()
	for b.Loop() { // the policy itself: sanitizeHTML would answer from its cache
		if htmlPolicy().Sanitize(html) == "" {
			b.Fatal("empty")
		}
	}
}

// TestSanitizedCache: a body sanitised again comes from the cache and is
// what the policy makes of it; the cache keeps to its size, drops the
// least recently used body first, and a hash match with another input is
// a miss.
func TestSanitizedCache(t *testing.T) {
	html := `<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:y()">z</a></p>`
	want := strings.TrimSpace(htmlPolicy().Sanitize(html))
	if got := sanitizeHTML(html); got != want {
		t.Fatalf("sanitizeHTML = %q, want %q", got, want)
	}
	if got, ok := sanitized.get(htmlKey(html), html); !ok || got != want {
		t.Fatalf("cache after one sanitising: %q, %v; want %q, true", got, ok, want)
	}
	if got := sanitizeHTML(html); got != want || strings.Contains(got, "script") || strings.Contains(got, "onclick") {
		t.Fatalf("sanitizeHTML from the cache = %q, want %q", got, want)
	}

	c := newHTMLCache(100)
	put := func(in, out string) { c.put(htmlKey(in), in, out) }
	has := func(in string) bool { _, ok := c.get(htmlKey(in), in); return ok }
	put("aaaaaaaaaa", strings.Repeat("A", 30)) // 40 bytes
	put("bbbbbbbbbb", strings.Repeat("B", 30)) // 80
	if !has("aaaaaaaaaa") {                    // a is now the most recent
		t.Fatal("a missing before the cache was full")
	}
	put("cccccccccc", strings.Repeat("C", 30)) // 120 > 100: b goes
	if has("bbbbbbbbbb") {
		t.Error("b, the least recently used, still cached")
	}
	for _, k := range []string{"aaaaaaaaaa", "cccccccccc"} {
		if !has(k) {
			t.Errorf("%s evicted, want kept", k)
		}
	}
	if c.size > c.max || c.size != 80 || len(c.entries) != c.order.Len() {
		t.Errorf("size %d of %d with %d entries and %d in order; want 80", c.size, c.max, len(c.entries), c.order.Len())
	}
	big := strings.Repeat("x", 200)
	put(big, "y") // bigger than the cache: not kept
	if has(big) || c.size != 80 {
		t.Errorf("an entry bigger than the cache was kept (size %d)", c.size)
	}
	// Another input under the same hash is a miss, not its output.
	k := htmlKey("other")
	c.entries[k] = c.order.PushFront(&htmlEntry{key: k, in: "not other", out: "wrong"})
	if out, ok := c.get(k, "other"); ok {
		t.Errorf("hash match with another input answered %q", out)
	}
}
