package crm

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Generic record access, for the API's /api/v1/crm/{object} routes: every
// object as Values (values by the snake_case names of RecordFields), the
// same for the local CRM and Salesforce.

// Field kinds.
const (
	KindString = "string"
	KindNumber = "number"
	KindBool   = "boolean"
	KindDate   = "date" // YYYY-MM-DD
	KindList   = "list" // of strings
	KindRef    = "ref"  // another record's id
)

// RecordField is one field of an object.
type RecordField struct {
	Name     string // the API's (and the local CRM's column)
	Kind     string
	Required bool // on create
	// ReadOnly fields are set by the CRM, never by a write.
	ReadOnly bool
	// SF is the Salesforce API name; "" when Salesforce has no such
	// standard field (the field is then absent with Salesforce).
	SF  string
	Max int // characters of a string (0: 255)
}

// RecordFields are the fields of each object, in the order they are shown.
var RecordFields = map[Object][]RecordField{
	ObjAccount: {
		{Name: "name", Kind: KindString, Required: true, SF: "Name"},
		{Name: "website", Kind: KindString, SF: "Website"},
		{Name: "domains", Kind: KindList},
		{Name: "type", Kind: KindString, SF: "Type"},
		{Name: "tier", Kind: KindString},
		{Name: "industry", Kind: KindString, SF: "Industry"},
		{Name: "annual_revenue", Kind: KindNumber, SF: "AnnualRevenue"},
		{Name: "owner", Kind: KindString},
	},
	ObjContact: {
		{Name: "first_name", Kind: KindString, SF: "FirstName"},
		{Name: "last_name", Kind: KindString, Required: true, SF: "LastName"},
		{Name: "email", Kind: KindString, SF: "Email"},
		{Name: "other_emails", Kind: KindList},
		{Name: "phone", Kind: KindString, SF: "Phone"},
		{Name: "title", Kind: KindString, SF: "Title"},
		{Name: "account_id", Kind: KindRef, SF: "AccountId"},
	},
	ObjLead: {
		{Name: "first_name", Kind: KindString, SF: "FirstName"},
		{Name: "last_name", Kind: KindString, Required: true, SF: "LastName"},
		{Name: "email", Kind: KindString, SF: "Email"},
		{Name: "company", Kind: KindString, Required: true, SF: "Company"},
		{Name: "status", Kind: KindString, SF: "Status"},
	},
	ObjOpportunity: {
		{Name: "name", Kind: KindString, Required: true, SF: "Name"},
		{Name: "stage", Kind: KindString, Required: true, SF: "StageName"},
		{Name: "amount", Kind: KindNumber, SF: "Amount"},
		{Name: "close_date", Kind: KindDate, SF: "CloseDate"},
		{Name: "account_id", Kind: KindRef, SF: "AccountId"},
		{Name: "closed", Kind: KindBool, SF: "IsClosed", ReadOnly: true},
	},
	ObjCase: {
		{Name: "subject", Kind: KindString, Required: true, SF: "Subject"},
		{Name: "status", Kind: KindString, SF: "Status"},
		{Name: "account_id", Kind: KindRef, SF: "AccountId"},
		{Name: "contact_id", Kind: KindRef, SF: "ContactId"},
		{Name: "ticket_id", Kind: KindNumber},
	},
	ObjCampaign: {
		{Name: "name", Kind: KindString, Required: true, SF: "Name", Max: 80},
		{Name: "status", Kind: KindString, SF: "Status"},
		{Name: "type", Kind: KindString, SF: "Type"},
		{Name: "start_date", Kind: KindDate, SF: "StartDate"},
		{Name: "end_date", Kind: KindDate, SF: "EndDate"},
		{Name: "active", Kind: KindBool, SF: "IsActive"},
		{Name: "budgeted_cost", Kind: KindNumber, SF: "BudgetedCost"},
		{Name: "description", Kind: KindString, SF: "Description", Max: 32000},
	},
}

// Objects are the objects of RecordFields, in a fixed order.
var Objects = []Object{ObjAccount, ObjContact, ObjLead, ObjOpportunity, ObjCase, ObjCampaign}

// ParseObject reads an object name: singular or plural, any case
// ("contacts", "Opportunity").
func ParseObject(s string) (Object, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "accounts", "contacts", "leads", "opportunities", "cases", "campaigns":
		if s == "opportunities" {
			s = "opportunity"
		} else {
			s = strings.TrimSuffix(s, "s")
		}
	}
	o := Object(s)
	_, ok := RecordFields[o]
	return o, ok
}

// Values are one record's values by field name, and its meta fields: id,
// source, external_id, url, created_at, updated_at.
type Values map[string]any

// Text is the value of field k when it is text; "" otherwise.
func (v Values) Text(k string) string {
	s, _ := v[k].(string)
	return s
}

// RecordQuery filters a list of records.
type RecordQuery struct {
	Email     string // contacts and leads: this address (any of a contact's)
	Name      string // names starting with this (case-insensitive)
	AccountID string // contacts, opportunities, cases of this account
	Limit     int    // at most this many (1..200; 0: 50)
}

// Records is generic CRUD over the five objects; both connectors
// implement it. Errors: ErrNotFound for an unknown id (another tenant's
// included), RecordError naming the field for a refused value.
type Records interface {
	GetRecord(ctx context.Context, tenant string, ref Ref) (Values, error)
	ListRecords(ctx context.Context, tenant string, obj Object, q RecordQuery) ([]Values, error)
	CreateRecord(ctx context.Context, tenant string, obj Object, f Values) (Values, error)
	UpdateRecord(ctx context.Context, tenant string, ref Ref, f Values) (Values, error)
	DeleteRecord(ctx context.Context, tenant string, ref Ref) error
}

// customField is a Salesforce custom field's API name (Region__c).
var customField = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,38}__c$`)

// IsCustomField reports whether name is a CRM custom field (Salesforce
// "…__c"), which a connector that has them passes through as written.
func IsCustomField(name string) bool { return customField.MatchString(name) }

// CheckFields checks and normalises the fields of a write to obj: every
// name known (or a custom field, when custom allows them), no read-only
// or meta field, each value of its field's kind, strings trimmed; on
// create, the required ones present and not empty. Refusals are a
// RecordError naming the field.
func CheckFields(obj Object, in Values, create, custom bool) (Values, error) {
	specs, ok := RecordFields[obj]
	if !ok {
		return nil, fmt.Errorf("crm: unknown object %q", obj)
	}
	out := Values{}
	for name, v := range in {
		i := slices.IndexFunc(specs, func(f RecordField) bool { return f.Name == name })
		if i < 0 {
			if custom && IsCustomField(name) {
				switch v.(type) {
				case string, float64, bool, nil:
					out[name] = v
					continue
				}
				return nil, RecordError{Field: name, Err: fmt.Errorf("%w: want a string, number, boolean or null", ErrInvalidValue)}
			}
			known := make([]string, 0, len(specs))
			for _, f := range specs {
				if !f.ReadOnly {
					known = append(known, f.Name)
				}
			}
			return nil, RecordError{Field: name, Err: fmt.Errorf("%w: %s has no such field (its fields: %s)", ErrInvalidValue, obj, strings.Join(known, ", "))}
		}
		f := specs[i]
		if f.ReadOnly {
			return nil, RecordError{Field: name, Err: fmt.Errorf("%w: set by the CRM, not writable", ErrInvalidValue)}
		}
		nv, err := checkValue(f, v)
		if err != nil {
			return nil, RecordError{Field: name, Err: err}
		}
		out[name] = nv
	}
	if create {
		for _, f := range specs {
			if !f.Required {
				continue
			}
			if v, ok := out[f.Name]; !ok || v == nil || v == "" {
				return nil, RecordError{Field: f.Name, Err: ErrMissingField}
			}
		}
	}
	return out, nil
}

// ErrInvalidValue: a field's value is of the wrong kind or shape.
var ErrInvalidValue = fmt.Errorf("invalid value")

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func checkValue(f RecordField, v any) (any, error) {
	if v == nil {
		// null clears a field (not a required one on create: CheckFields).
		switch f.Kind {
		case KindNumber:
			return 0.0, nil
		case KindBool:
			return false, nil
		case KindList:
			return []string{}, nil
		}
		return "", nil
	}
	switch f.Kind {
	case KindString, KindRef:
		s, ok := v.(string)
		if !ok {
			if n, isNum := v.(float64); isNum && f.Kind == KindRef && n == math.Trunc(n) {
				return strconv.FormatFloat(n, 'f', 0, 64), nil
			}
			return nil, fmt.Errorf("%w: want a string", ErrInvalidValue)
		}
		s = strings.TrimSpace(s)
		max := f.Max
		if max == 0 {
			max = 255
		}
		if n := len([]rune(s)); n > max {
			return nil, fmt.Errorf("%w: %d characters, at most %d", ErrInvalidValue, n, max)
		}
		if f.Name == "email" && s != "" {
			e, err := CheckEmail(s)
			if err != nil {
				return nil, fmt.Errorf("%w %q", ErrBadEmail, s)
			}
			s = e
		}
		return s, nil
	case KindNumber:
		n, ok := v.(float64)
		if !ok || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%w: want a number", ErrInvalidValue)
		}
		return n, nil
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%w: want true or false", ErrInvalidValue)
		}
		return b, nil
	case KindDate:
		s, ok := v.(string)
		if ok && s == "" {
			return "", nil
		}
		if !ok || !dateRE.MatchString(s) {
			return nil, fmt.Errorf("%w: want a date as YYYY-MM-DD", ErrInvalidValue)
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, fmt.Errorf("%w: %q is not a date", ErrInvalidValue, s)
		}
		return s, nil
	case KindList:
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: want a list of strings", ErrInvalidValue)
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("%w: want a list of strings", ErrInvalidValue)
			}
			if s = strings.ToLower(strings.TrimSpace(s)); s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		if f.Name == "other_emails" {
			for _, e := range out {
				if _, err := CheckEmail(e); err != nil {
					return nil, fmt.Errorf("%w %q", ErrBadEmail, e)
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown kind %s", ErrInvalidValue, f.Kind)
}

// MetaValues are the meta fields of a record: id, source, external_id,
// url, created_at, updated_at.
func MetaValues(m Meta) Values {
	f := Values{"id": m.ID, "source": m.Source, "external_id": m.ExternalID, "url": m.URL,
		"created_at": timeField(m.CreatedAt), "updated_at": timeField(m.UpdatedAt)}
	return f
}

func timeField(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func listField(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// FieldsOf renders a record (Account, Contact, Lead, Opportunity or Case)
// as Values.
func FieldsOf(rec any) Values {
	var f Values
	switch r := rec.(type) {
	case Account:
		f = MetaValues(r.Meta)
		f["name"], f["website"], f["domains"], f["type"], f["tier"] = r.Name, r.Website, listField(r.Domains), r.Type, r.Tier
		f["industry"], f["annual_revenue"], f["owner"] = r.Industry, r.AnnualRevenue, r.Owner
	case Contact:
		f = MetaValues(r.Meta)
		f["first_name"], f["last_name"], f["email"], f["other_emails"] = r.FirstName, r.LastName, r.Email, listField(r.Emails)
		f["phone"], f["title"], f["account_id"] = r.Phone, r.Title, r.AccountID
	case Lead:
		f = MetaValues(r.Meta)
		f["first_name"], f["last_name"], f["email"], f["company"], f["status"] = r.FirstName, r.LastName, r.Email, r.Company, r.Status
	case Opportunity:
		f = MetaValues(r.Meta)
		f["name"], f["stage"], f["amount"], f["account_id"], f["closed"] = r.Name, r.Stage, r.Amount, r.AccountID, r.Closed
		f["close_date"] = dateField(r.CloseDate)
	case Case:
		f = MetaValues(r.Meta)
		f["subject"], f["status"], f["account_id"], f["contact_id"], f["ticket_id"] = r.Subject, r.Status, r.AccountID, r.ContactID, float64(r.TicketID)
	case Campaign:
		f = MetaValues(r.Meta)
		f["name"], f["status"], f["type"], f["active"], f["budgeted_cost"], f["description"] = r.Name, r.Status, r.Type, r.Active, r.BudgetedCost, r.Description
		f["start_date"], f["end_date"] = dateField(r.StartDate), dateField(r.EndDate)
	default:
		panic(fmt.Sprintf("crm: FieldsOf(%T)", rec))
	}
	return f
}

// dateField is a date as a record shows it: YYYY-MM-DD, "" for none.
func dateField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
