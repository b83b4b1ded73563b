package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded SQL file, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9_]+)\.sql$`)

func embeddedMigrations() ([]migration, error) {
	return loadMigrations(migrationFS, "migrations")
}

// loadMigrations reads dir of fsys, ordered by version number (numbers may
// have gaps). A file that does not follow the naming rule, or two files with
// one version, is an error: a build with a typo must not skip a migration.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("store: migration file %q: %w", e.Name(), err)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %q and %q have the same version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)`

// Migrate applies every embedded migration not applied yet, in version
// order, each in its own transaction together with its schema_migrations
// row. It refuses, changing nothing, when the database carries a version
// this binary does not know (a newer sidedesk migrated it). Several
// processes may call it at once: each migration re-checks inside its
// write transaction.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, s.w)
	if err != nil {
		return err
	}
	if err := checkKnown(applied, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		var ran bool
		err := s.write(ctx, func(q querier) error {
			var n int
			if err := q.QueryRowContext(ctx,
				`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil // another process got there first
			}
			if _, err := q.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, fmtTime(s.nowUTC())); err != nil {
				return err
			}
			ran = true
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
		}
		if ran {
			s.log.LogAttrs(ctx, slog.LevelInfo, "store: applied migration",
				slog.Int("version", m.version), slog.String("name", m.name))
		}
	}
	return nil
}

// checkKnown refuses a database that has a version the binary lacks.
func checkKnown(applied map[int]bool, ms []migration) error {
	known := map[int]bool{}
	maxKnown := 0
	for _, m := range ms {
		known[m.version] = true
		maxKnown = max(maxKnown, m.version)
	}
	unknown := 0
	for v := range applied {
		if !known[v] && v > unknown {
			unknown = v
		}
	}
	if unknown != 0 {
		return fmt.Errorf("store: database schema version %d is not known to this binary (it knows up to version %d): "+
			"the database was migrated by a newer sidedesk; upgrade sidedesk, or restore a backup", unknown, maxKnown)
	}
	return nil
}

func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	return applied, nil
}

// SchemaVersion returns the highest migration version applied to the
// database (0 for a new one) and the highest this binary knows. current >
// known means a newer sidedesk migrated the database.
func (s *Store) SchemaVersion(ctx context.Context) (current, known int, err error) {
	ms, err := s.migrations()
	if err != nil {
		return 0, 0, err
	}
	for _, m := range ms {
		known = max(known, m.version)
	}
	ok, err := tableExists(ctx, s.r, "schema_migrations")
	if err != nil || !ok {
		return 0, known, err
	}
	var cur sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&cur); err != nil {
		return 0, known, fmt.Errorf("store: read schema version: %w", err)
	}
	return int(cur.Int64), known, nil
}
