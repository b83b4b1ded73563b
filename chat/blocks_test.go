package chat

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestEscapeMax(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a<b>&c", 100, "a&lt;b&gt;&amp;c"},
		{"abcdef", 4, "abc…"},
		{"ab&cd", 5, "ab…"}, // "&amp;" does not fit whole: cut before it
		{"ab&cd", 8, "ab&amp;…"},
		{"héllo", 5, "héllo"},
		{"", 3, ""},
	} {
		got := escapeMax(c.in, c.n)
		if got != c.want {
			t.Errorf("escapeMax(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if utf8.RuneCountInString(got) > c.n {
			t.Errorf("escapeMax(%q, %d) = %q: over the limit", c.in, c.n, got)
		}
	}
}

// hostileTicket has every text at a size and with markup a customer controls.
func hostileTicket() ticketView {
	long := strings.Repeat("&<!channel>", 2000) // 22,000 characters, 5x on escaping
	return ticketView{
		T: ticket.Ticket{ID: 7, Number: 42, Subject: "<!channel> " + long, Priority: ticket.PriorityUrgent,
			Status: ticket.StatusNew, Mailbox: long, Assignee: long,
			Requester: ticket.Address{Name: "<https://evil.example|Your bank> " + long, Email: `"<!here>|x"@evil.example`}},
		Account: long,
		Excerpt: excerpt(long, excerptRunes),
	}
}

func TestAlertWithinBlockKitLimitsAndEscaped(t *testing.T) {
	b := newEnv(t).bot()
	v := hostileTicket()
	blocks := b.alertBlocks(v)
	raw, err := json.Marshal(slack.Blocks{BlockSet: blocks})
	if err != nil {
		t.Fatal(err)
	}
	var parsed []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		t.Fatal(err)
	}
	texts := 0
	for _, bl := range parsed {
		if bl.Text != nil {
			texts++
			if n := utf8.RuneCountInString(bl.Text.Text); n > maxSectionText {
				t.Errorf("%s text of %d characters, over Block Kit's %d", bl.Type, n, maxSectionText)
			}
			checkNoMarkup(t, bl.Text.Text)
		}
		for _, f := range bl.Fields {
			texts++
			if n := utf8.RuneCountInString(f.Text); n > maxFieldText {
				t.Errorf("field of %d characters, over Block Kit's %d", n, maxFieldText)
			}
			checkNoMarkup(t, f.Text)
		}
	}
	if texts < 8 {
		t.Fatalf("only %d texts checked; the blocks changed shape: %s", texts, raw)
	}
	fb := fallbackText(v)
	if strings.ContainsAny(fb, "<>") {
		t.Errorf("fallback text carries raw markup: %.200s", fb)
	}
	if utf8.RuneCountInString(fb) > 1000 {
		t.Errorf("fallback text of %d characters", utf8.RuneCountInString(fb))
	}
}

// checkNoMarkup fails when text has a Slack control sequence other than the
// ticket link and mailto links sidedesk writes itself.
func checkNoMarkup(t *testing.T, text string) {
	t.Helper()
	for rest := text; ; {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		end := strings.IndexByte(rest[i:], '>')
		if end < 0 {
			t.Errorf("unclosed < in %.200q", text)
			return
		}
		link := rest[i+1 : i+end]
		url, _, _ := strings.Cut(link, "|")
		if !strings.HasPrefix(url, "https://desk.example/sidebar?ticket=") && !strings.HasPrefix(url, "mailto:") {
			t.Errorf("control sequence <%s> in %.200q", link, text)
		}
		if strings.Contains(link, "<") {
			t.Errorf("link %q holds another <: an address or subject broke out of it", link)
		}
		rest = rest[i+end+1:]
	}
	if strings.Contains(strings.ReplaceAll(text, "&lt;!channel&gt;", ""), "!channel>") {
		t.Errorf("unescaped mention in %.200q", text)
	}
}
