package crm

import (
	"errors"
	"fmt"
)

// UpsertBatch is how many records one transaction of a bulk upsert writes.
const UpsertBatch = 1000

// UpsertResult is what a bulk upsert did.
type UpsertResult struct {
	Inserted, Updated int
	// Failed are the records not written (the others were), with why.
	Failed []RecordError
}

// RecordError says why one record of a bulk upsert was not written.
type RecordError struct {
	Index int    // position in the input slice
	Field string // the field at fault, e.g. "email", "account"; "" for the whole record
	Err   error
}

// Error says which record and field failed, and why.
func (e RecordError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("record %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("record %d: %s: %v", e.Index, e.Field, e.Err)
}

// Unwrap gives the reason (ErrBadEmail, ErrUnknownAccount, ...).
func (e RecordError) Unwrap() error { return e.Err }

// Reasons a record is refused. RecordError.Err wraps one of them.
var (
	ErrMissingField   = errors.New("missing required field")
	ErrBadEmail       = errors.New("bad email")
	ErrUnknownAccount = errors.New("unknown account")
	ErrAmbiguous      = errors.New("ambiguous account name")
	ErrUnknownRecord  = errors.New("unknown record")
	// ErrRefused: the CRM itself refused the record (a Salesforce
	// validation rule, duplicate rule or required field).
	ErrRefused = errors.New("refused by the CRM")
)
