package sftest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Record is one sObject row: canonical field name → value (string,
// float64, bool or nil). "Id" is always set.
type Record map[string]any

// field is one describe entry.
type field struct {
	Name       string
	Type       string // id, string, email, phone, url, textarea, picklist, reference, boolean, currency, double, date, datetime
	Label      string
	Required   bool     // !nillable && createable && no default
	ReadOnly   bool     // not createable, not updateable (formula, system)
	ReferTo    string   // reference: the parent object
	Rel        string   // reference: the relationship name (AccountId → Account)
	Picklist   []string // picklist values
	DefaultVal any
}

// object is one sObject type: its describe and rows.
type object struct {
	Name   string
	Prefix string // key prefix of its ids
	Fields []field
	rows   []Record
}

func (o *object) field(name string) (field, bool) {
	for _, f := range o.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return field{}, false
}

func (o *object) relationship(name string) (field, bool) {
	for _, f := range o.Fields {
		if f.Rel != "" && strings.EqualFold(f.Rel, name) {
			return f, true
		}
	}
	return field{}, false
}

// resolve reads a (possibly dotted) field path of a row; ok is false when
// the path names no field of the object (INVALID_FIELD).
func (s *Server) resolve(o *object, r Record, path string) (any, bool) {
	parts := strings.Split(path, ".")
	if len(parts) > 1 && strings.EqualFold(parts[0], o.Name) {
		parts = parts[1:] // Contact.Email on Contact
	}
	cur, row := o, r
	for i, p := range parts {
		if i == len(parts)-1 {
			f, ok := cur.field(p)
			if !ok {
				return nil, false
			}
			if row == nil {
				return nil, true
			}
			return row[f.Name], true
		}
		rel, ok := cur.relationship(p)
		if !ok {
			return nil, false
		}
		parent := s.objects[strings.ToLower(rel.ReferTo)]
		if parent == nil {
			return nil, false
		}
		var next Record
		if row != nil {
			if id, _ := row[rel.Name].(string); id != "" {
				next = parent.byID(id)
			}
		}
		cur, row = parent, next
	}
	return nil, false
}

func (o *object) byID(id string) Record {
	for _, r := range o.rows {
		if sameID(r["Id"].(string), id) {
			return r
		}
	}
	return nil
}

// sameID compares a 15- or 18-character id: the first 15 are the id (case
// sensitive), the last 3 a checksum.
func sameID(a, b string) bool {
	if len(a) < 15 || len(b) < 15 {
		return false
	}
	return a[:15] == b[:15]
}

func invalidField(obj, f string) error {
	return &queryError{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", f, obj)}
}

// run evaluates a parsed query; rows are the selected records as the REST
// API renders them (with "attributes" and nested parent objects).
func (s *Server) run(q *query) (rows []Record, total int, err error) {
	o := s.objects[strings.ToLower(q.object)]
	if o == nil {
		return nil, 0, &queryError{"INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name.", q.object)}
	}
	for _, f := range q.fields {
		if _, ok := s.resolve(o, nil, f); !ok {
			return nil, 0, invalidField(o.Name, f)
		}
	}
	for _, it := range q.orderBy {
		if _, ok := s.resolve(o, nil, it.field); !ok {
			return nil, 0, invalidField(o.Name, it.field)
		}
	}
	if err := s.checkCond(o, q.where); err != nil {
		return nil, 0, err
	}
	var matched []Record
	for _, r := range o.rows {
		ok, err := s.match(o, r, q.where)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			matched = append(matched, r)
		}
	}
	if len(q.orderBy) > 0 {
		sort.SliceStable(matched, func(i, j int) bool {
			for _, it := range q.orderBy {
				a, _ := s.resolve(o, matched[i], it.field)
				b, _ := s.resolve(o, matched[j], it.field)
				switch {
				case a == nil && b == nil:
					continue
				case a == nil:
					return !it.nullsLast
				case b == nil:
					return it.nullsLast
				}
				c := compare(a, b)
				if c == 0 || c == -2 {
					continue
				}
				if it.desc {
					return c > 0
				}
				return c < 0
			}
			return false
		})
	}
	if q.offset > 0 {
		matched = matched[min(q.offset, len(matched)):]
	}
	if q.limit >= 0 && len(matched) > q.limit {
		matched = matched[:q.limit]
	}
	if q.count {
		return nil, len(matched), nil
	}
	for _, r := range matched {
		rows = append(rows, s.render(o, r, q.fields))
	}
	return rows, len(rows), nil
}

func (s *Server) checkCond(o *object, c cond) error {
	switch c := c.(type) {
	case nil:
		return nil
	case andCond:
		if err := s.checkCond(o, c.l); err != nil {
			return err
		}
		return s.checkCond(o, c.r)
	case orCond:
		if err := s.checkCond(o, c.l); err != nil {
			return err
		}
		return s.checkCond(o, c.r)
	case notCond:
		return s.checkCond(o, c.c)
	case cmpCond:
		if _, ok := s.resolve(o, nil, c.field); !ok {
			return invalidField(o.Name, c.field)
		}
	case inCond:
		if _, ok := s.resolve(o, nil, c.field); !ok {
			return invalidField(o.Name, c.field)
		}
		if c.sub != nil {
			so := s.objects[strings.ToLower(c.sub.object)]
			if so == nil {
				return &queryError{"INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported.", c.sub.object)}
			}
			if _, ok := s.resolve(so, nil, c.sub.fields[0]); !ok {
				return invalidField(so.Name, c.sub.fields[0])
			}
			return s.checkCond(so, c.sub.where)
		}
	}
	return nil
}

func (s *Server) match(o *object, r Record, c cond) (bool, error) {
	switch c := c.(type) {
	case nil:
		return true, nil
	case andCond:
		l, err := s.match(o, r, c.l)
		if err != nil || !l {
			return false, err
		}
		return s.match(o, r, c.r)
	case orCond:
		l, err := s.match(o, r, c.l)
		if err != nil || l {
			return l, err
		}
		return s.match(o, r, c.r)
	case notCond:
		v, err := s.match(o, r, c.c)
		return !v, err
	case cmpCond:
		v, _ := s.resolve(o, r, c.field)
		switch c.op {
		case "=":
			return equal(v, c.value), nil
		case "!=":
			return !equal(v, c.value), nil
		case "like":
			str, _ := v.(string)
			if v == nil {
				return false, nil
			}
			re, err := likeRE(c.value.(string))
			if err != nil {
				return false, malformed("bad LIKE pattern")
			}
			return re.MatchString(str), nil
		default:
			if v == nil || c.value == nil {
				return false, nil
			}
			cmp := compare(v, c.value)
			if cmp == -2 {
				return false, nil
			}
			switch c.op {
			case "<":
				return cmp < 0, nil
			case "<=":
				return cmp <= 0, nil
			case ">":
				return cmp > 0, nil
			case ">=":
				return cmp >= 0, nil
			}
		}
		return false, malformed("unknown operator %s", c.op)
	case inCond:
		v, _ := s.resolve(o, r, c.field)
		values := c.values
		if c.sub != nil {
			so := s.objects[strings.ToLower(c.sub.object)]
			for _, sr := range so.rows {
				ok, err := s.match(so, sr, c.sub.where)
				if err != nil {
					return false, err
				}
				if ok {
					sv, _ := s.resolve(so, sr, c.sub.fields[0])
					if sv != nil {
						values = append(values, sv)
					}
				}
			}
		}
		in := slices.ContainsFunc(values, func(x any) bool {
			if a, ok := v.(string); ok {
				if b, ok := x.(string); ok && len(a) >= 15 && len(b) >= 15 && sameID(a, b) {
					return true
				}
			}
			return equal(v, x)
		})
		if c.not {
			return !in && v != nil, nil
		}
		return in, nil
	}
	return false, malformed("unknown condition")
}

// render builds the REST rendering of a row with the selected fields:
// "attributes", the fields by their canonical names, and parent fields as
// nested objects (null when the lookup is empty).
func (s *Server) render(o *object, r Record, fields []string) Record {
	out := Record{"attributes": s.attributes(o, r)}
	for _, path := range fields {
		parts := strings.Split(path, ".")
		if len(parts) > 1 && strings.EqualFold(parts[0], o.Name) {
			parts = parts[1:]
		}
		cur, row, dst := o, r, out
		for i, p := range parts {
			if i == len(parts)-1 {
				f, _ := cur.field(p)
				if row != nil {
					dst[f.Name] = row[f.Name]
				}
				break
			}
			rel, _ := cur.relationship(p)
			parent := s.objects[strings.ToLower(rel.ReferTo)]
			var next Record
			if row != nil {
				if id, _ := row[rel.Name].(string); id != "" {
					next = parent.byID(id)
				}
			}
			if next == nil {
				dst[rel.Rel] = nil
				break
			}
			sub, ok := dst[rel.Rel].(Record)
			if !ok {
				sub = Record{"attributes": s.attributes(parent, next)}
				dst[rel.Rel] = sub
			}
			cur, row, dst = parent, next, sub
		}
	}
	return out
}

func (s *Server) attributes(o *object, r Record) map[string]string {
	return map[string]string{"type": o.Name, "url": fmt.Sprintf("/services/data/%s/sobjects/%s/%s", s.version, o.Name, r["Id"])}
}
