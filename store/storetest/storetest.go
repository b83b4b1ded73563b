// Package storetest opens real, migrated stores for the tests of the
// packages that run on one.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/store"
)

// Open opens a migrated SQLite store in t.TempDir(), closed at cleanup.
func Open(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(t.TempDir(), "sidedesk.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// OpenCRM opens a store (Open) and the local CRM over it, treating
// example.com as free mail like the demo; both are closed at cleanup.
func OpenCRM(t testing.TB) (*store.LocalCRM, *store.Store) {
	t.Helper()
	st := Open(t)
	l, err := st.NewLocalCRM(store.LocalCRMOptions{FreeMailDomains: crm.DemoFreeMailDomains()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, st
}
