package capture

import (
	"container/list"
	"hash/maphash"
	"regexp"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlPolicy is built once and only read afterwards: a bluemonday Policy is
// safe for concurrent use once configured.
var htmlPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	// Inline images of the message itself (RFC 2392 cid: URLs); small
	// data: images as senders embed them. javascript:, vbscript: and
	// every other scheme stay forbidden.
	p.AllowURLSchemes("mailto", "http", "https", "cid", "tel")
	p.AllowDataURIImages()
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true) // adds rel="noopener"
	p.AllowAttrs("width", "height", "align", "valign", "bgcolor", "border", "cellpadding", "cellspacing", "colspan", "rowspan").OnElements("table", "td", "th", "tr", "img")
	p.AllowElements("center", "font")
	return p
})

// sanitizeHTML makes mail HTML safe to display: no script, style, iframe,
// event handler or style attribute survives, links get rel=noopener.
// Bodies sanitised lately are remembered (sanitized): the same HTML comes
// again and again in support mail (notifications, a newsletter to several
// support addresses, the copy of a mail in a second mailbox, which is
// parsed before it is found to be a duplicate).
func sanitizeHTML(s string) string {
	if s == "" {
		return ""
	}
	k := htmlKey(s)
	if out, ok := sanitized.get(k, s); ok {
		return out
	}
	out := strings.TrimSpace(htmlPolicy().Sanitize(s))
	sanitized.put(k, s, out)
	return out
}

// sanitized remembers the sanitised form of recent HTML bodies, up to
// sanitizedMaxBytes of input and output together; a body bigger than
// sanitizedMaxEntry is not kept. The policy is fixed for the process, so a
// body's sanitised form never changes. At 4 MiB the cache's live bytes
// raised a 10,000-mail capture's peak RSS from 83 to 90 MB (the collector
// works to a 48 MiB soft limit); at 1 MiB it keeps 83-85 MB and still holds
// the last few dozen notification-sized bodies.
var sanitized = newHTMLCache(sanitizedMaxBytes)

const (
	sanitizedMaxBytes = 1 << 20
	sanitizedMaxEntry = 128 << 10
)

// htmlCache is a small LRU keyed by the input (hashed with maphash; a hit
// compares the whole input).
type htmlCache struct {
	mu      sync.Mutex
	max     int
	size    int
	entries map[uint64]*list.Element
	order   *list.List // front: most recent; values *htmlEntry
}

type htmlEntry struct {
	key     uint64
	in, out string
}

var htmlSeed = maphash.MakeSeed()

// htmlKey is the cache key of the HTML in, hashed once per body.
func htmlKey(in string) uint64 { return maphash.String(htmlSeed, in) }

func newHTMLCache(max int) *htmlCache {
	return &htmlCache{max: max, entries: map[uint64]*list.Element{}, order: list.New()}
}

func (c *htmlCache) get(k uint64, in string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok || el.Value.(*htmlEntry).in != in {
		return "", false
	}
	c.order.MoveToFront(el)
	return el.Value.(*htmlEntry).out, true
}

func (c *htmlCache) put(k uint64, in, out string) {
	n := len(in) + len(out)
	if n > sanitizedMaxEntry || n > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok { // a collision or a race: the newer one stays
		e := el.Value.(*htmlEntry)
		c.size -= len(e.in) + len(e.out)
		c.order.Remove(el)
		delete(c.entries, k)
	}
	c.entries[k] = c.order.PushFront(&htmlEntry{key: k, in: in, out: out})
	c.size += n
	for c.size > c.max {
		el := c.order.Back()
		e := el.Value.(*htmlEntry)
		c.order.Remove(el)
		delete(c.entries, e.key)
		c.size -= len(e.in) + len(e.out)
	}
}

var blockElems = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Table: true, atom.Tr: true, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Ul: true, atom.Ol: true,
	atom.Blockquote: true, atom.Pre: true, atom.Hr: true, atom.Section: true, atom.Article: true,
	atom.Header: true, atom.Footer: true, atom.Dl: true, atom.Dt: true, atom.Dd: true,
	atom.Address: true, atom.Center: true, atom.Form: true, atom.Body: true, atom.Html: true,
	atom.Main: true, atom.Nav: true, atom.Aside: true, atom.Figure: true, atom.Figcaption: true,
}

var skipElems = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Head: true, atom.Title: true, atom.Noscript: true,
	atom.Template: true, atom.Iframe: true, atom.Object: true, atom.Svg: true,
}

var multiBlank = regexp.MustCompile(`\n{3,}`)

// htmlToText derives plain text from mail HTML: block elements and <br>
// become line breaks, list items get "- ", table cells are separated by
// tabs, script/style/head content is skipped, entities are decoded and
// runs of white space collapse as a browser would (except in <pre>).
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b []byte
	skip, pre := 0, 0
	lastSpace := true
	trimLine := func() {
		for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
			b = b[:len(b)-1]
		}
	}
	nl := func() { // end the line; at most one blank line in a row
		trimLine()
		n := len(b)
		switch {
		case n == 0:
		case b[n-1] != '\n':
			b = append(b, '\n')
		case n < 2 || b[n-2] != '\n':
			b = append(b, '\n')
		}
		lastSpace = true
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			out := multiBlank.ReplaceAllString(string(b), "\n\n")
			return strings.TrimSpace(out)
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t := z.Text()
			if pre > 0 {
				b = append(b, t...)
				lastSpace = len(t) > 0 && t[len(t)-1] == '\n'
				continue
			}
			for _, c := range t {
				if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
					if !lastSpace {
						b = append(b, ' ')
						lastSpace = true
					}
					continue
				}
				b = append(b, c)
				lastSpace = false
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if skipElems[a] {
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch {
			case a == atom.Br:
				trimLine()
				b = append(b, '\n')
				lastSpace = true
			case a == atom.Li:
				if tt == html.StartTagToken {
					nl()
					if n := len(b); n >= 2 && b[n-1] == '\n' && b[n-2] == '\n' {
						b = b[:n-1]
					}
					b = append(b, "- "...)
					lastSpace = true
				}
			case a == atom.Td || a == atom.Th:
				if tt == html.EndTagToken {
					b = append(b, '\t')
					lastSpace = true
				}
			case a == atom.Tr:
				trimLine()
				if n := len(b); n > 0 && b[n-1] != '\n' {
					b = append(b, '\n')
				}
				lastSpace = true
			case a == atom.Pre:
				nl()
				if tt == html.StartTagToken {
					pre++
				} else if tt == html.EndTagToken && pre > 0 {
					pre--
				}
			case a == atom.Img && tt != html.EndTagToken && hasAttr:
				for {
					k, v, more := z.TagAttr()
					if string(k) == "alt" {
						if alt := strings.TrimSpace(string(v)); alt != "" {
							b = append(b, "["+alt+"]"...)
							lastSpace = false
						}
					}
					if !more {
						break
					}
				}
			case blockElems[a]:
				nl()
			}
		}
	}
}

var metaCharset = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)`)

// htmlCharset finds a <meta charset> declaration near the start of an HTML
// body, for parts whose Content-Type names no charset.
func htmlCharset(b []byte) string {
	if len(b) > 4096 {
		b = b[:4096]
	}
	if m := metaCharset.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}
