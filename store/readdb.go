package store

import "database/sql"

// ReadDB returns the read pool (query-only connections, several at once
// beside the writer thanks to WAL) for packages that keep tables of their
// own and serve hot look-ups from them (crm's Match). Writes through it fail.
func (s *Store) ReadDB() *sql.DB { return s.r }
