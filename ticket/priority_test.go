package ticket

import (
	"errors"
	"strings"
	"testing"
)

func TestPrioritize(t *testing.T) {
	rules := PriorityRules{
		Keywords: map[string]Priority{
			"outage":       PriorityUrgent,
			"down":         PriorityUrgent,
			"urgent":       PriorityHigh,
			"service down": PriorityUrgent,
			"newsletter":   PriorityLow,
		},
		VIPSenders: []string{"CEO@Big.example"},
		VIPDomains: []string{"vip.example"},
		Tiers:      map[string]Priority{"Gold": PriorityHigh, "platinum": PriorityUrgent},
	}
	type hdr = map[string][]string
	cases := []struct {
		name    string
		in      Inbound
		tier    string
		want    Priority
		reasons []string // each must appear among the reasons
	}{
		{name: "nothing", in: Inbound{Subject: "Question about invoice", Text: "Hello"}, want: PriorityNormal},
		{name: "keyword in subject any case", in: Inbound{Subject: "OUTAGE in EU"}, want: PriorityUrgent, reasons: []string{"keyword:outage=urgent"}},
		{name: "keyword in text", in: Inbound{Subject: "hi", Text: "our site is down!"}, want: PriorityUrgent},
		{name: "not a whole word", in: Inbound{Subject: "outages report", Text: "downtown, lowdown, urgently"}, want: PriorityNormal},
		{name: "keyword next to punctuation", in: Inbound{Subject: "(urgent)"}, want: PriorityHigh},
		{name: "unicode word chars are word chars", in: Inbound{Subject: "überurgent"}, want: PriorityNormal},
		{name: "phrase across whitespace", in: Inbound{Text: "the Service\n  Down again"}, want: PriorityUrgent, reasons: []string{"keyword:service down=urgent"}},
		{name: "highest keyword wins", in: Inbound{Subject: "urgent: outage"}, want: PriorityUrgent},
		{name: "low keyword alone", in: Inbound{Subject: "Newsletter"}, want: PriorityLow},
		{name: "importance high", in: Inbound{Header: hdr{"Importance": {"High"}}}, want: PriorityHigh, reasons: []string{"importance:high=high"}},
		{name: "importance low", in: Inbound{Header: hdr{"Importance": {"low"}}}, want: PriorityLow},
		{name: "x-priority 1 with comment", in: Inbound{Header: hdr{"X-Priority": {"1 (Highest)"}}}, want: PriorityHigh, reasons: []string{"x-priority:1=high"}},
		{name: "x-priority 2", in: Inbound{Header: hdr{"X-Priority": {"2"}}}, want: PriorityHigh},
		{name: "x-priority 3", in: Inbound{Header: hdr{"X-Priority": {"3 (Normal)"}}}, want: PriorityNormal},
		{name: "x-priority 5", in: Inbound{Header: hdr{"X-Priority": {"5 (Lowest)"}}}, want: PriorityLow},
		{name: "x-priority garbage", in: Inbound{Header: hdr{"X-Priority": {"x"}}}, want: PriorityNormal},
		{name: "rfc2156 priority urgent is high", in: Inbound{Header: hdr{"Priority": {"urgent"}}}, want: PriorityHigh},
		{name: "rfc2156 priority non-urgent", in: Inbound{Header: hdr{"Priority": {"non-urgent"}}}, want: PriorityLow},
		{name: "low header loses to keyword", in: Inbound{Subject: "outage", Header: hdr{"Importance": {"low"}}}, want: PriorityUrgent},
		{name: "vip sender", in: Inbound{From: Address{Email: "ceo@big.example"}}, want: PriorityHigh, reasons: []string{"vip_sender=high"}},
		{name: "vip domain and sub-domain", in: Inbound{From: Address{Email: "x@eu.vip.example"}}, want: PriorityHigh, reasons: []string{"vip_domain=high"}},
		{name: "not vip look-alike domain", in: Inbound{From: Address{Email: "x@notvip.example"}}, want: PriorityNormal},
		{name: "tier", in: Inbound{}, tier: "GOLD", want: PriorityHigh, reasons: []string{"tier:gold=high"}},
		{name: "tier highest", in: Inbound{From: Address{Email: "ceo@big.example"}}, tier: "platinum", want: PriorityUrgent},
		{name: "unknown tier", in: Inbound{}, tier: "bronze", want: PriorityNormal},
		{name: "auto-reply never prioritised", in: Inbound{Subject: "Automatic reply: outage", Header: hdr{"Auto-Submitted": {"auto-replied"}, "Importance": {"high"}}}, want: PriorityNormal, reasons: []string{"class:auto_reply"}},
		{name: "bounce never prioritised", in: Inbound{Subject: "outage", DeliveryReport: true}, want: PriorityNormal},
	}
	p, err := NewPrioritizer(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, reasons := p.Prioritize(c.in, c.tier)
			if got != c.want {
				t.Errorf("priority = %s, want %s (reasons %v)", got, c.want, reasons)
			}
			for _, r := range c.reasons {
				found := false
				for _, g := range reasons {
					found = found || g == r
				}
				if !found {
					t.Errorf("reasons %v lack %q", reasons, r)
				}
			}
			// The one-shot function agrees with the compiled rules.
			if g2, _ := Prioritize(c.in, rules, c.tier); g2 != got {
				t.Errorf("Prioritize = %s, Prioritizer = %s", g2, got)
			}
		})
	}
}

func TestPrioritizeIgnoreHeaders(t *testing.T) {
	in := Inbound{Header: Header{"Importance": {"high"}, "X-Priority": {"1"}}}
	if got, _ := Prioritize(in, PriorityRules{IgnoreHeaders: true}, ""); got != PriorityNormal {
		t.Fatalf("with IgnoreHeaders got %s, want normal", got)
	}
	if got, _ := Prioritize(in, PriorityRules{}, ""); got != PriorityHigh {
		t.Fatalf("without IgnoreHeaders got %s, want high", got)
	}
}

func TestPrioritizeLongTextBounded(t *testing.T) {
	in := Inbound{Text: strings.Repeat("x ", maxKeywordScan) + " outage"}
	if got, _ := Prioritize(in, PriorityRules{Keywords: map[string]Priority{"outage": PriorityUrgent}}, ""); got != PriorityNormal {
		t.Fatalf("keyword beyond the scan limit counted: %s", got)
	}
}

func TestNewPrioritizerRejects(t *testing.T) {
	for name, r := range map[string]PriorityRules{
		"bad keyword priority": {Keywords: map[string]Priority{"x": "asap"}},
		"empty keyword":        {Keywords: map[string]Priority{"  ": PriorityHigh}},
		"bad vip priority":     {VIPPriority: "meh"},
		"bad tier priority":    {Tiers: map[string]Priority{"gold": "max"}},
	} {
		if _, err := NewPrioritizer(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if got, reasons := Prioritize(Inbound{Subject: "x"}, PriorityRules{VIPPriority: "meh"}, ""); got != PriorityNormal || len(reasons) != 1 {
		t.Errorf("invalid rules: %s %v", got, reasons)
	}
}

func TestKeywords(t *testing.T) {
	k, err := CompileKeywords([]string{"down", "Service Down", "c++"})
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]string{
		"SERVICE   DOWN now": "Service Down",
		"it is down.":        "down",
		"we use c++ a lot":   "c++",
		"countdown":          "",
		"down_stream":        "",
	} {
		got, ok := k.Match(s)
		if got != want || ok != (want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", s, got, ok, want)
		}
	}
	var none *Keywords
	if _, ok := none.Match("down"); ok {
		t.Error("nil Keywords matched")
	}
}

func TestPrioritizerIsVIP(t *testing.T) {
	p, err := NewPrioritizer(PriorityRules{VIPSenders: []string{"a@x.example"}, VIPDomains: []string{"@corp.example"}})
	if err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]bool{"A@X.example": true, "b@corp.example": true, "b@x.example": false, "": false, "noat": false} {
		if got := p.IsVIP(email); got != want {
			t.Errorf("IsVIP(%q) = %v", email, got)
		}
	}
}

// TestKeywordsMatch: whole words and phrases, any case, any white space
// inside a phrase, Unicode word characters as boundaries.
func TestKeywordsMatch(t *testing.T) {
	k, err := CompileKeywords([]string{"down", "Service  Down", "outage", "Störung", "asap"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s, want string
	}{
		{"The SERVICE\n\t down since 9:00", "Service  Down"},
		{"service down", "Service  Down"},
		{"it is down.", "down"},
		{"Down!", "down"},
		{"(outage)", "outage"},
		{"grosse STÖRUNG im Netz", "Störung"},
		{"asap", "asap"},
		{"downtime planned", ""},
		{"breakdown", ""},
		{"outages", ""},
		{"is_down", ""},
		{"Störungen", ""},
		{"ädown", ""},
		{"down\u00e9", ""},
		{"", ""},
	} {
		got, ok := k.Match(tc.s)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Match(%q) = %q, %v; want %q", tc.s, got, ok, tc.want)
		}
	}
	if _, err := CompileKeywords([]string{"ok", "  "}); err == nil {
		t.Errorf("an empty keyword was accepted")
	}
}

// TestNormalizeText: lower-cased, every run of white space one space, both
// ends trimmed; the ASCII fast path and the rune path agree.
func TestNormalizeText(t *testing.T) {
	for in, want := range map[string]string{
		"":                               "",
		"  \t\r\n ":                      "",
		"URGENT: Server DOWN":            "urgent: server down",
		"\tline one\r\n\r\nline  two \n": "line one line two",
		"ÄRGER  über\u00a0Ölpreise":      "ärger über ölpreise",
		"mixed\u2003ЗАПРОС\u3000now!":    "mixed запрос now!",
		"a\vb\fc":                        "a b c",
		"already plain text, one space":  "already plain text, one space",
		"x  y z ":                        "x y z",
		"no-change_here.123/x?y=z&w":     "no-change_here.123/x?y=z&w",
		"ＦＵＬＬ width":                     "ｆｕｌｌ width",
		"\xff\xfeBAD bytes":              "\ufffd\ufffdbad bytes",
		"trailing\u00a0":                 "trailing",
		" \u2028lead and sep\u2029 ":     "lead and sep",
	} {
		if got := normalizeText(in); got != want {
			t.Errorf("normalizeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkNormalizeText: a typical 5 KB support mail's text made ready
// for keyword matching (on the parse workers, once per message).
func BenchmarkNormalizeText(b *testing.B) {
	text := strings.Repeat("Hello Support, since this morning our integration fails with a TIMEOUT when we call the orders API (case 4711).\r\n", 40)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if normalizeText(text) == "" {
			b.Fatal("empty")
		}
	}
}
