package sqlitewal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ErrForeign is returned for a SQLite database that another application
// owns. Such a file is never written to, unless Options.Shared says so.
var ErrForeign = errors.New("database belongs to another application")

// ErrNotMigrated is returned by a ReadOnly open of a database whose schema
// is older than the migrations: reading it needs a migration, which is a write.
var ErrNotMigrated = errors.New("database schema is older than this binary")

// fileInfo is what Open reads from an existing database before it writes
// anything, through a connection opened read-only.
type fileInfo struct {
	appID   int32
	version int
	tables  []string // tables and views, without SQLite's own
}

// inspect reads the owner, schema version and table names of the database
// at path without changing it: the connection is opened with mode=ro and
// sets no journal mode. When no -wal or -journal file holds changes the
// main file lacks, it is opened immutable, so that a WAL-mode file does not
// get -wal and -shm files from the reading.
func inspect(ctx context.Context, path string, busy time.Duration) (fileInfo, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Set("mode", "ro")
	if !exists(path+"-wal") && !exists(path+"-journal") {
		q.Set("immutable", "1")
	}
	q.Set("_txlock", "deferred")
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return fileInfo{}, err
	}
	defer db.Close()
	var fi fileInfo
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&fi.appID); err != nil {
		return fileInfo{}, fmt.Errorf("read application_id: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&fi.version); err != nil {
		return fileInfo{}, fmt.Errorf("read schema version: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return fileInfo{}, fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fileInfo{}, fmt.Errorf("read schema: %w", err)
		}
		fi.tables = append(fi.tables, name)
	}
	if err := rows.Err(); err != nil {
		return fileInfo{}, fmt.Errorf("read schema: %w", err)
	}
	return fi, nil
}

// createdName finds the tables and views a migration creates.
var createdName = regexp.MustCompile(`(?i)\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?["\x60\[]?(\w+)`)

// ownTables lists every table and view the migrations create.
func ownTables(ms []migration) map[string]bool {
	own := map[string]bool{}
	for _, m := range ms {
		for _, sub := range createdName.FindAllStringSubmatch(m.SQL, -1) {
			own[strings.ToLower(sub[1])] = true
		}
	}
	return own
}

// check decides, before anything is written, whether Open may use an
// existing database, and whether it must write its application_id (a new
// or empty file, or one made before the application set one). latest is the
// newest migration's version.
func (o Options) check(fi fileInfo, own map[string]bool, latest int) (claim bool, err error) {
	var foreign, ours []string
	for _, t := range fi.tables {
		if own[strings.ToLower(t)] {
			ours = append(ours, t)
		} else {
			foreign = append(foreign, t)
		}
	}
	switch {
	case o.ApplicationID == 0 || fi.appID == o.ApplicationID:
	case fi.appID == 0 && len(foreign) == 0 && (fi.version == 0) == (len(ours) == 0):
		// Empty, or made by a release that set no application_id yet.
		claim = !o.ReadOnly
	case !o.Shared:
		return false, fmt.Errorf("%w (application_id %#x, %s); nothing was changed",
			ErrForeign, uint32(fi.appID), describeTables(foreign))
	case fi.version == 0 && len(ours) > 0:
		return false, fmt.Errorf("%w: its table %s has a name this application uses and was not made by it; nothing was changed", ErrForeign, ours[0])
	case fi.version > 0 && len(ours) == 0:
		return false, fmt.Errorf("%w: it uses user_version (%d) itself, which this application needs to track its schema; nothing was changed", ErrForeign, fi.version)
	}
	if fi.version > latest {
		return false, fmt.Errorf("%w: database is at schema version %d, this binary knows up to %d (upgrade it); nothing was changed", ErrTooNew, fi.version, latest)
	}
	if o.ReadOnly && fi.version < latest {
		return false, fmt.Errorf("%w: database is at schema version %d, this binary's is %d; a command that writes migrates it", ErrNotMigrated, fi.version, latest)
	}
	return claim, nil
}

// describeTables names a few of a foreign database's tables.
func describeTables(tables []string) string {
	switch {
	case len(tables) == 0:
		return "no tables"
	case len(tables) > 4:
		return fmt.Sprintf("tables %s, ... (%d in all)", strings.Join(tables[:4], ", "), len(tables))
	}
	return "tables " + strings.Join(slices.Clone(tables), ", ")
}

// missing is the error for a database a ReadOnly open does not create.
func missing() error {
	return fmt.Errorf("%w (a command that writes creates it)", fs.ErrNotExist)
}

// claimFile writes the application_id, first of all writes to a file the
// application takes, so that another process inspecting it meanwhile sees
// whose it is.
func claimFile(ctx context.Context, db *sql.DB, id int32) error {
	// PRAGMA takes no parameters; id is a number we were given.
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", id)); err != nil {
		return fmt.Errorf("set application_id: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
