package crm

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The local CRM's side of RecordForms: its objects described from
// RecordFields, and record values to and from the text of form inputs.

// localPicklists are the values the local CRM offers for its picklist
// fields (Salesforce's defaults for a new org, so records move between
// the two unchanged).
var localPicklists = map[Object]map[string][]string{
	ObjLead:        {"status": {"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}},
	ObjOpportunity: {"stage": {"Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}},
	ObjCase:        {"status": {"New", "Working", "Escalated", "Closed"}},
	ObjCampaign: {"status": {"Planned", "In Progress", "Completed", "Aborted"},
		"type": {"Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program", "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other"}},
}

// DescribeLocal describes obj's fields as a form shows them: every field
// of RecordFields, labelled, typed as Salesforce's describe types them.
func DescribeLocal(obj Object) []FieldInfo {
	var out []FieldInfo
	for _, f := range RecordFields[obj] {
		fi := FieldInfo{Name: f.Name, Label: fieldLabel(f.Name), Updateable: !f.ReadOnly, Createable: !f.ReadOnly,
			Required: f.Required, Picklist: localPicklists[obj][f.Name]}
		switch {
		case len(fi.Picklist) > 0:
			fi.Type = "picklist"
		case f.Kind == KindNumber && f.Name == "ticket_id":
			fi.Type = "int"
		case f.Kind == KindNumber:
			fi.Type = "double"
		case f.Kind == KindBool:
			fi.Type = "boolean"
		case f.Kind == KindDate:
			fi.Type = "date"
		case f.Kind == KindRef:
			fi.Type = "reference"
		case f.Name == "email":
			fi.Type = "email"
		case f.Name == "website":
			fi.Type = "url"
		case f.Name == "phone":
			fi.Type = "phone"
		case f.Name == "description":
			fi.Type = "textarea"
		default:
			fi.Type = "string"
		}
		out = append(out, fi)
	}
	return out
}

// fieldLabel is a field's name as a label: "annual_revenue" → "Annual revenue".
func fieldLabel(name string) string {
	s := strings.ReplaceAll(strings.TrimSuffix(name, "_id"), "_", " ")
	if strings.HasSuffix(name, "_id") {
		s += " ID"
	}
	if s == "" {
		return name
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ValuesFromText turns form inputs (by field name, as text) into a write's
// Values: numbers and booleans parsed, lists split at commas and spaces,
// "" clears a field. A value that does not parse is a RecordError naming
// its field.
func ValuesFromText(obj Object, text map[string]string) (Values, error) {
	out := Values{}
	for name, s := range text {
		i := slices.IndexFunc(RecordFields[obj], func(f RecordField) bool { return f.Name == name })
		if i < 0 {
			out[name] = s // CheckFields names it
			continue
		}
		switch RecordFields[obj][i].Kind {
		case KindNumber:
			if s == "" {
				out[name] = 0.0
				continue
			}
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, RecordError{Field: name, Err: fmt.Errorf("%w: %q is not a number", ErrInvalidValue, s)}
			}
			out[name] = n
		case KindBool:
			b, err := strconv.ParseBool(cmp.Or(s, "false"))
			if err != nil {
				return nil, RecordError{Field: name, Err: fmt.Errorf("%w: %q is not true or false", ErrInvalidValue, s)}
			}
			out[name] = b
		case KindList:
			list := []any{}
			for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
				list = append(list, p)
			}
			out[name] = list
		default:
			out[name] = s
		}
	}
	return out, nil
}

// TextOf is a record's values as form inputs show them: lists joined
// with ", ", numbers as written, booleans "true"/"false".
func TextOf(v Values) map[string]string {
	out := make(map[string]string, len(v))
	for k, x := range v {
		switch y := x.(type) {
		case string:
			out[k] = y
		case bool:
			out[k] = strconv.FormatBool(y)
		case float64:
			out[k] = strconv.FormatFloat(y, 'f', -1, 64)
		case int64:
			out[k] = strconv.FormatInt(y, 10)
		case []string:
			out[k] = strings.Join(y, ", ")
		case []any:
			parts := make([]string, 0, len(y))
			for _, p := range y {
				parts = append(parts, fmt.Sprint(p))
			}
			out[k] = strings.Join(parts, ", ")
		case nil:
			out[k] = ""
		}
	}
	return out
}
