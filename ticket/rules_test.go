package ticket

import (
	"slices"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	h := func(kv ...string) Header {
		out := Header{}
		for i := 0; i < len(kv); i += 2 {
			k := CanonicalKey(kv[i])
			out[k] = append(out[k], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name string
		in   Inbound
		want Classification
	}{
		{"plain customer mail", Inbound{From: Address{Email: "a@example.com"}, Subject: "Help", Header: h("Return-Path", "<a@example.com>")}, ClassNormal},
		{"no headers at all", Inbound{}, ClassNormal},
		{"delivery report", Inbound{DeliveryReport: true, Header: h("Auto-Submitted", "auto-replied")}, ClassBounce},
		{"mailer-daemon with failure subject", Inbound{From: Address{Email: "MAILER-DAEMON@mx.example.com"}, Subject: "failure notice"}, ClassBounce},
		{"postmaster undeliverable", Inbound{From: Address{Email: "postmaster@corp.example"}, Subject: "Undeliverable: Order 17"}, ClassBounce},
		{"postmaster writing normally", Inbound{From: Address{Email: "postmaster@corp.example"}, Subject: "Question about your SPF record"}, ClassNormal},
		{"null return path alone", Inbound{Subject: "Your message", Header: h("Return-Path", "<>")}, ClassBounce},
		{"null return path, parser gave empty", Inbound{Header: h("Return-Path", "")}, ClassBounce},
		{"null return path with Auto-Submitted is an auto-reply", Inbound{Header: h("Return-Path", "<>", "Auto-Submitted", "auto-replied")}, ClassAutoReply},
		{"return path with address", Inbound{ReturnPath: "a@example.com", Header: h("Return-Path", "<a@example.com>")}, ClassNormal},
		{"Auto-Submitted auto-replied", Inbound{Header: h("Auto-Submitted", "auto-replied")}, ClassAutoReply},
		{"Auto-Submitted auto-generated with params", Inbound{Header: h("Auto-Submitted", "Auto-Generated; owner-email=x@y")}, ClassAutoReply},
		{"Auto-Submitted no", Inbound{Header: h("Auto-Submitted", " No ")}, ClassNormal},
		{"Precedence bulk", Inbound{Header: h("Precedence", "bulk")}, ClassAutoReply},
		{"Precedence junk", Inbound{Header: h("Precedence", "JUNK")}, ClassAutoReply},
		{"Precedence auto_reply", Inbound{Header: h("Precedence", "auto_reply")}, ClassAutoReply},
		{"X-Autoreply", Inbound{Header: h("X-Autoreply", "yes")}, ClassAutoReply},
		{"X-Autorespond", Inbound{Header: h("X-Autorespond", "Out of office")}, ClassAutoReply},
		{"X-Auto-Response-Suppress alone is normal", Inbound{Subject: "Re: invoice", Header: h("X-Auto-Response-Suppress", "All")}, ClassNormal},
		{"Exchange OOF: suppress + automatic reply subject", Inbound{Subject: "Automatic reply: invoice", Header: h("X-Auto-Response-Suppress", "All")}, ClassAutoReply},
		{"German OOF", Inbound{Subject: "Abwesenheitsnotiz: Rechnung", Header: h("X-Auto-Response-Suppress", "DR, RN, NRN, OOF, AutoReply")}, ClassAutoReply},
		{"auto-reply subject alone is normal", Inbound{Subject: "Automatic reply: is this broken?"}, ClassNormal},
		{"Precedence list", Inbound{Header: h("Precedence", "list")}, ClassList},
		{"List-Id", Inbound{Header: h("List-Id", "Users <users.lists.example.org>")}, ClassList},
		{"List-Unsubscribe", Inbound{Header: h("List-Unsubscribe", "<mailto:u@example.org>")}, ClassList},
		{"bulk list mail is list: List-Id before Precedence bulk", Inbound{Header: h("Precedence", "bulk", "List-Id", "<x>")}, ClassList},
		{"a list's vacation reply is still an auto-reply", Inbound{Header: h("Auto-Submitted", "auto-replied", "List-Id", "<x>")}, ClassAutoReply},
		{"bulk without a list is auto_reply", Inbound{Header: h("Precedence", "bulk")}, ClassAutoReply},
		// Bounces without Return-Path: <>, by sender and subject.
		{"MAILER-DAEMON <> delayed", Inbound{Subject: "Delayed Mail (still being retried)", Header: h("From", "MAILER-DAEMON <>")}, ClassBounce},
		{"From: <> alone", Inbound{Subject: "Hello", Header: h("From", "<>")}, ClassBounce},
		{"Postmaster <> failure", Inbound{Subject: "failure delivery", Header: h("From", "Postmaster <>")}, ClassBounce},
		{"Mail Delivery System name", Inbound{From: Address{Name: "Mail Delivery System", Email: "mailer@mx.example"}, Subject: "Mail Not Delivered"}, ClassBounce},
		{"mail failed, returning", Inbound{From: Address{Email: "mailer-daemon"}, Subject: "mail failed, returning to sender"}, ClassBounce},
		{"IMSS gateway", Inbound{From: Address{Email: "imss@gw.corp.example"}, Subject: "Message has not yet been delivered"}, ClassBounce},
		{"antivirus gateway", Inbound{From: Address{Email: "antivirus@corp.example"}, Subject: "Undeliverable: virus found"}, ClassBounce},
		{"ndr", Inbound{From: Address{Email: "ndr@corp.example"}, Subject: "Delivery Status Notification (Failure)"}, ClassBounce},
		{"German NDR", Inbound{From: Address{Email: "postmaster@firma.example"}, Subject: "Unzustellbar: Angebot"}, ClassBounce},
		{"German status", Inbound{From: Address{Email: "postmaster@firma.example"}, Subject: "Benachrichtung zum Übermittlungsstatus (Fehler)"}, ClassBounce},
		{"Japanese NDR", Inbound{From: Address{Email: "mailer-daemon@mail.example.jp"}, Subject: "配信不能のお知らせ"}, ClassBounce},
		{"a customer writing about delivery", Inbound{From: Address{Email: "ann@customer.example"}, Subject: "Mail not delivered to my colleague"}, ClassNormal},
		// Feedback reports.
		{"ARF report", Inbound{FeedbackReport: true, From: Address{Email: "fbl@isp.example"}}, ClassFeedback},
		{"SES complaint", Inbound{From: Address{Email: "no-reply@sns.amazonaws.com"}, Text: `{"notificationType":"Complaint","complaint":{},"mail":{"messageId":"x"}}`}, ClassFeedback},
		{"SES bounce", Inbound{From: Address{Email: "no-reply@sns.amazonaws.com"}, Text: `{"notificationType":"Bounce","bounce":{},"mail":{"messageId":"x"}}`}, ClassBounce},
		{"JSON that is no SES notice", Inbound{From: Address{Email: "dev@customer.example"}, Text: `{"notificationType":"Complaint"}`}, ClassNormal},
		{"bounce before list", Inbound{DeliveryReport: true, Header: h("List-Id", "<x>")}, ClassBounce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.in); got != tt.want {
				t.Errorf("Classify = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReplyToken(t *testing.T) {
	secret := []byte("s3cret")
	addr := ReplyAddress(secret, "", 123, "support@example.com")
	if !strings.HasPrefix(addr, "support+t123.") || !strings.HasSuffix(addr, "@example.com") || len(addr) != len("support+t123.@example.com")+replySigLen {
		t.Fatalf("ReplyAddress = %q", addr)
	}
	sig := addr[len("support+t123.") : len("support+t123.")+replySigLen]
	tests := []struct {
		name   string
		secret []byte
		tenant string
		addr   string
		want   int64
	}{
		{"valid", secret, DefaultTenant, addr, 123},
		{"upper case and brackets", secret, "", " <" + strings.ToUpper(addr) + "> ", 123},
		{"bare local part", secret, "", ReplyAddress(secret, "", 7, "support"), 7},
		{"base with own subaddress", secret, "", ReplyAddress(secret, "", 8, "support+eu@example.com"), 8},
		{"other tenant", secret, "acme", addr, 0},
		{"other secret", []byte("other"), "", addr, 0},
		{"no secret", nil, "", addr, 0},
		{"number changed", secret, "", "support+t124." + sig + "@example.com", 0},
		{"leading zero", secret, "", "support+t0123." + sig + "@example.com", 0},
		{"signature cut", secret, "", "support+t123." + sig[:9] + "@example.com", 0},
		{"forged", secret, "", "support+t123.aaaaaaaaaa@example.com", 0},
		{"no token", secret, "", "support@example.com", 0},
		{"other subaddress", secret, "", "support+sales@example.com", 0},
		{"negative", secret, "", "support+t-1." + sig + "@example.com", 0},
		{"empty", secret, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := ParseReplyToken(tt.secret, tt.tenant, tt.addr)
			if n != tt.want || ok != (tt.want != 0) {
				t.Errorf("ParseReplyToken(%q) = %d, %v; want %d", tt.addr, n, ok, tt.want)
			}
		})
	}
	if got := ReplyAddress(nil, "", 1, "support@example.com"); got != "support@example.com" {
		t.Errorf("without secret: %q", got)
	}
	if got := ReplyAddress(secret, "", 0, "support@example.com"); got != "support@example.com" {
		t.Errorf("number 0: %q", got)
	}
}

func TestSubjectRules(t *testing.T) {
	r := newSubjectRules("#")
	tags := []struct {
		subject string
		want    []int64
	}{
		{"Re: [#12] Printer", []int64{12}},
		{"[#12] and [#7] and [ #12 ]", []int64{12, 7}},
		{"#12 without brackets", nil},
		{"[#0] zero", nil},
		{"[#abc]", nil},
		{"[#99999999999999999999] overflow", nil},
	}
	for _, tt := range tags {
		if got := r.tags(tt.subject); !slices.Equal(got, tt.want) {
			t.Errorf("tags(%q) = %v, want %v", tt.subject, got, tt.want)
		}
	}
	custom := newSubjectRules("Ticket #")
	if got := custom.tags("RE: [ticket #42] x"); !slices.Equal(got, []int64{42}) {
		t.Errorf("custom prefix tags = %v", got)
	}
	norms := []struct{ in, want string }{
		{"Printer broken", "printer broken"},
		{"RE: AW: Fwd:  Printer   broken ", "printer broken"},
		{"Re[2]: [#12] Printer broken", "printer broken"},
		{"SV: VS: Antw: WG: R: RIF: TR: printer broken", "printer broken"},
		{"回复：打印机坏了", "打印机坏了"},
		{"Reply needed", "reply needed"},
		{"Re:", ""},
	}
	for _, tt := range norms {
		if got := r.normalize(tt.in); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeInbound(t *testing.T) {
	in := Inbound{
		MessageID:  " <a@x> ",
		InReplyTo:  "<b@x> (comment) <c@x>",
		References: []string{"<c@x> <d@x>", "", "e@x"},
		From:       Address{Email: " Alice@Example.COM "},
		To:         []Address{{Email: "Support@Example.com"}},
		ReturnPath: "<Bounce@Example.com>",
	}
	to := in.To
	got := normalizeInbound(in)
	if got.Tenant != DefaultTenant || got.MessageID != "a@x" || got.InReplyTo != "b@x" ||
		!slices.Equal(got.References, []string{"c@x", "d@x", "e@x"}) || got.From.Email != "alice@example.com" ||
		got.To[0].Email != "support@example.com" || got.ReturnPath != "bounce@example.com" {
		t.Fatalf("normalizeInbound = %+v", got)
	}
	if to[0].Email != "Support@Example.com" {
		t.Fatal("normalizeInbound changed the caller's slice")
	}
}

func TestNewServiceOptions(t *testing.T) {
	st := newMemStore()
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{Store: st}, true},
		{"no store", Options{}, false},
		{"negative flood limit", Options{Store: st, FloodLimit: -1}, false},
		{"negative window", Options{Store: st, FloodWindow: -1}, false},
		{"negative reopen", Options{Store: st, ReopenWindow: -1}, false},
		{"bracket in prefix", Options{Store: st, TagPrefix: "]"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewService(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("NewService err = %v, want ok %v", err, tt.ok)
			}
			if err == nil && (s.opts.FloodLimit != DefaultFloodLimit || s.opts.FloodWindow != DefaultFloodWindow ||
				s.opts.ReopenWindow != DefaultReopenWindow || s.opts.TagPrefix != DefaultTagPrefix || s.log == nil) {
				t.Fatalf("defaults not filled: %+v", s.opts)
			}
		})
	}
}

// FuzzReplyToken: any address parses without panicking, and every address
// ReplyAddress makes parses back to its number for its tenant only.
func FuzzReplyToken(f *testing.F) {
	f.Add("support@example.com", "default", int64(1), "support+t1.abcdefghij@example.com")
	f.Add("s", "acme", int64(99999), "<+t.@>")
	f.Fuzz(func(t *testing.T, base, tenant string, number int64, addr string) {
		secret := []byte("fuzz")
		ParseReplyToken(secret, tenant, addr)
		if number < 1 || strings.ContainsAny(base, "+<> \t\r\n") || strings.Count(base, "@") > 1 {
			return
		}
		made := ReplyAddress(secret, tenant, number, base)
		if n, ok := ParseReplyToken(secret, tenant, made); !ok || n != number {
			t.Fatalf("ParseReplyToken(ReplyAddress(%q, %d)) = %d, %v", base, number, n, ok)
		}
		if tenant != "" && tenant != DefaultTenant {
			if _, ok := ParseReplyToken(secret, tenant+"x", made); ok {
				t.Fatalf("%q verified for another tenant", made)
			}
		}
	})
}

// FuzzSubjectRules: tag reading and normalising never panic, and
// normalising is idempotent.
func FuzzSubjectRules(f *testing.F) {
	f.Add("Re: AW: [#12] Printer broken")
	f.Add("回复：[#1]")
	r := newSubjectRules("#")
	f.Fuzz(func(t *testing.T, subject string) {
		r.tags(subject)
		once := r.normalize(subject)
		if twice := r.normalize(once); twice != once {
			t.Fatalf("normalize not idempotent: %q → %q → %q", subject, once, twice)
		}
	})
}
