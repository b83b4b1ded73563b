package sftest

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// The subset of SOQL this server evaluates, after the SOQL and SOSL
// Reference: SELECT field list (with parent relationship fields such as
// Account.Name and COUNT()), FROM one object, WHERE with AND, OR, NOT and
// parentheses over =, !=, <>, <, <=, >, >=, LIKE, IN and NOT IN (a list or
// a semi-join sub-select), ORDER BY (ASC, DESC, NULLS FIRST/LAST), LIMIT
// and OFFSET. String literals take the reference's escapes (\' \" \\ \n
// \r \t \b \f, and \_ \% in LIKE). Comparisons of text are
// case-insensitive, as in Salesforce. What it does not evaluate it refuses
// with MALFORMED_QUERY, as Salesforce refuses what it cannot parse.

type token struct {
	kind string // ident, string, number, op, punct, eof
	text string // identifiers as written; strings unescaped
}

type queryError struct{ code, msg string }

func (e *queryError) Error() string { return e.msg }

func malformed(format string, a ...any) error {
	return &queryError{"MALFORMED_QUERY", fmt.Sprintf(format, a...)}
}

func lex(q string) ([]token, error) {
	var out []token
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				c := rs[i]
				if c == '\\' {
					if i+1 >= len(rs) {
						return nil, malformed("unterminated escape in a string literal")
					}
					n := rs[i+1]
					switch n {
					case '\'', '"', '\\':
						b.WriteRune(n)
					case 'n':
						b.WriteByte('\n')
					case 'r':
						b.WriteByte('\r')
					case 't':
						b.WriteByte('\t')
					case 'b':
						b.WriteByte('\b')
					case 'f':
						b.WriteByte('\f')
					case '_', '%':
						// Kept escaped: LIKE reads them as literals.
						b.WriteRune('\\')
						b.WriteRune(n)
					default:
						return nil, malformed("invalid escape sequence \\%c in a string literal", n)
					}
					i += 2
					continue
				}
				if c == '\'' {
					closed = true
					i++
					break
				}
				if c == '\n' || c == '\r' {
					return nil, malformed("line break in a string literal")
				}
				b.WriteRune(c)
				i++
			}
			if !closed {
				return nil, malformed("unterminated string literal")
			}
			out = append(out, token{"string", b.String()})
		case r == '-' || r == '.' || unicode.IsDigit(r):
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == '-' || rs[j] == ':' || rs[j] == 'T' || rs[j] == 'Z' || rs[j] == '+') {
				j++
			}
			out = append(out, token{"number", string(rs[i:j])})
			i = j
		case unicode.IsLetter(r) || r == '_':
			j := i + 1
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '.') {
				j++
			}
			out = append(out, token{"ident", string(rs[i:j])})
			i = j
		case strings.ContainsRune("=<>!", r):
			j := i + 1
			if j < len(rs) && (rs[j] == '=' || (r == '<' && rs[j] == '>')) {
				j++
			}
			op := string(rs[i:j])
			if op == "!" {
				return nil, malformed("unexpected token '!'")
			}
			out = append(out, token{"op", op})
			i = j
		case strings.ContainsRune("(),", r):
			out = append(out, token{"punct", string(r)})
			i++
		default:
			return nil, malformed("unexpected character %q", r)
		}
	}
	return append(out, token{kind: "eof"}), nil
}

// query is a parsed SELECT.
type query struct {
	object  string   // as named in FROM
	fields  []string // as written
	count   bool     // SELECT COUNT()
	where   cond     // nil: all rows
	orderBy []orderItem
	limit   int // -1: none
	offset  int
}

type orderItem struct {
	field     string
	desc      bool
	nullsLast bool
}

// cond is a WHERE expression.
type cond interface{}

type andCond struct{ l, r cond }
type orCond struct{ l, r cond }
type notCond struct{ c cond }
type cmpCond struct {
	field string
	op    string // = != < <= > >= like
	value any    // string, float64, bool, nil
}
type inCond struct {
	field  string
	not    bool
	values []any
	sub    *query // semi-join: SELECT one field FROM ...
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *parser) keyword(k string) bool {
	if t := p.peek(); t.kind == "ident" && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expectKeyword(k string) error {
	if !p.keyword(k) {
		return malformed("expecting '%s', found '%s'", k, p.peek().text)
	}
	return nil
}

func (p *parser) punct(c string) bool {
	if t := p.peek(); t.kind == "punct" && t.text == c {
		p.pos++
		return true
	}
	return false
}

func parseQuery(q string) (*query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	qq, err := p.selectStmt()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, malformed("unexpected token: '%s'", t.text)
	}
	return qq, nil
}

var reserved = []string{"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "limit", "offset", "asc", "desc", "nulls", "first", "last", "null", "true", "false"}

func (p *parser) selectStmt() (*query, error) {
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	q := &query{limit: -1}
	for {
		t := p.next()
		if t.kind != "ident" || slices.Contains(reserved, strings.ToLower(t.text)) {
			return nil, malformed("unexpected token: '%s'", t.text)
		}
		if strings.EqualFold(t.text, "COUNT") && p.punct("(") {
			if !p.punct(")") {
				return nil, malformed("COUNT() takes no field here")
			}
			q.count = true
		} else {
			q.fields = append(q.fields, t.text)
		}
		if !p.punct(",") {
			break
		}
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	obj := p.next()
	if obj.kind != "ident" {
		return nil, malformed("expecting an object name after FROM")
	}
	q.object = obj.text
	if p.keyword("WHERE") {
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		q.where = c
	}
	if p.keyword("ORDER") {
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			f := p.next()
			if f.kind != "ident" {
				return nil, malformed("expecting a field in ORDER BY")
			}
			it := orderItem{field: f.text}
			if p.keyword("DESC") {
				it.desc = true
			} else {
				p.keyword("ASC")
			}
			it.nullsLast = it.desc // Salesforce: nulls first ascending, last descending
			if p.keyword("NULLS") {
				switch {
				case p.keyword("FIRST"):
					it.nullsLast = false
				case p.keyword("LAST"):
					it.nullsLast = true
				default:
					return nil, malformed("expecting FIRST or LAST after NULLS")
				}
			}
			q.orderBy = append(q.orderBy, it)
			if !p.punct(",") {
				break
			}
		}
	}
	if p.keyword("LIMIT") {
		n, err := strconv.Atoi(p.next().text)
		if err != nil || n < 0 {
			return nil, malformed("LIMIT wants a non-negative integer")
		}
		q.limit = n
	}
	if p.keyword("OFFSET") {
		n, err := strconv.Atoi(p.next().text)
		if err != nil || n < 0 || n > 2000 {
			return nil, &queryError{"NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"}
		}
		q.offset = n
	}
	return q, nil
}

func (p *parser) orExpr() (cond, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		if hasSemiJoin(l) || hasSemiJoin(r) {
			return nil, &queryError{"MALFORMED_QUERY", "Semi join sub-selects are not allowed with the 'OR' operator"}
		}
		l = orCond{l, r}
	}
	return l, nil
}

func hasSemiJoin(c cond) bool {
	switch c := c.(type) {
	case inCond:
		return c.sub != nil
	case andCond:
		return hasSemiJoin(c.l) || hasSemiJoin(c.r)
	case orCond:
		return hasSemiJoin(c.l) || hasSemiJoin(c.r)
	case notCond:
		return hasSemiJoin(c.c)
	}
	return false
}

func (p *parser) andExpr() (cond, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andCond{l, r}
	}
	return l, nil
}

func (p *parser) unary() (cond, error) {
	if p.keyword("NOT") {
		c, err := p.unary()
		return notCond{c}, err
	}
	if p.punct("(") {
		c, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if !p.punct(")") {
			return nil, malformed("expecting ')'")
		}
		return c, nil
	}
	f := p.next()
	if f.kind != "ident" || slices.Contains(reserved, strings.ToLower(f.text)) {
		return nil, malformed("unexpected token: '%s'", f.text)
	}
	not := p.keyword("NOT")
	if p.keyword("IN") {
		if !p.punct("(") {
			return nil, malformed("expecting '(' after IN")
		}
		in := inCond{field: f.text, not: not}
		if t := p.peek(); t.kind == "ident" && strings.EqualFold(t.text, "SELECT") {
			sub, err := p.selectStmt()
			if err != nil {
				return nil, err
			}
			if len(sub.fields) != 1 {
				return nil, malformed("a semi-join sub-select selects one field")
			}
			in.sub = sub
		} else {
			for {
				v, err := p.literal()
				if err != nil {
					return nil, err
				}
				in.values = append(in.values, v)
				if !p.punct(",") {
					break
				}
			}
		}
		if !p.punct(")") {
			return nil, malformed("expecting ')'")
		}
		return in, nil
	}
	if not {
		return nil, malformed("expecting IN after NOT")
	}
	if p.keyword("LIKE") {
		t := p.next()
		if t.kind != "string" {
			return nil, malformed("LIKE wants a string literal")
		}
		return cmpCond{f.text, "like", t.text}, nil
	}
	op := p.next()
	if op.kind != "op" {
		return nil, malformed("unexpected token: '%s'", op.text)
	}
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	o := op.text
	if o == "<>" {
		o = "!="
	}
	return cmpCond{f.text, o, v}, nil
}

func (p *parser) literal() (any, error) {
	t := p.next()
	switch t.kind {
	case "string":
		return unescapeLike(t.text), nil
	case "number":
		if f, err := strconv.ParseFloat(t.text, 64); err == nil {
			return f, nil
		}
		return t.text, nil // a date or datetime literal
	case "ident":
		switch strings.ToLower(t.text) {
		case "null":
			return nil, nil
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return nil, malformed("unexpected token: '%s'", t.text)
}

// unescapeLike drops the \ of \_ and \% outside LIKE (where they are the
// characters themselves).
func unescapeLike(s string) string {
	return strings.NewReplacer(`\_`, "_", `\%`, "%").Replace(s)
}

// likeRE turns a LIKE pattern into a case-insensitive regexp.
func likeRE(pat string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("(?is)^")
	rs := []rune(pat)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs):
			b.WriteString(regexp.QuoteMeta(string(rs[i+1])))
			i++
		case r == '%':
			b.WriteString(".*")
		case r == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// compare orders two field values: -2 when they do not compare.
func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return -2
		}
		return strings.Compare(strings.ToLower(x), strings.ToLower(y))
	case float64:
		y, ok := b.(float64)
		if !ok {
			return -2
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y, ok := b.(bool)
		if !ok {
			return -2
		}
		if x == y {
			return 0
		}
		return -2
	}
	return -2
}

func equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok {
			return math.Abs(x-y) < 1e-9
		}
	}
	return compare(a, b) == 0
}
