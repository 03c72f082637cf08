// Package sqlitewal opens SQLite files in WAL mode the one way Sluice needs them:
// one writer connection, a small read-only pool, verified pragmas and versioned migrations.
package sqlitewal

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // registers the "sqlite3" database/sql driver
)

// Defaults for Options.
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultReaders     = 4
)

// ErrNotDatabase is returned for a file that exists but is not a SQLite database.
// Such a file is never written to.
var ErrNotDatabase = errors.New("not a SQLite database")

// ErrTooNew is returned when the database was migrated by a newer binary than this one.
var ErrTooNew = errors.New("database schema is newer than this binary")

// Options tunes Open. The zero value is usable.
type Options struct {
	// BusyTimeout is how long a statement waits for another process's lock
	// before failing with SQLITE_BUSY. Default DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Readers is the size of the read-only connection pool. Default DefaultReaders.
	Readers int
	// Migrations holds files named NNNN_description.sql (NNNN a positive number).
	// Each file with a number above the database's user_version is applied in
	// its own write transaction, in order, and user_version is set to its number.
	Migrations fs.FS
}

// DB is an open SQLite database in WAL mode.
//
// Write is the only connection that writes: every BeginTx on it is BEGIN IMMEDIATE,
// so a transaction that reads and then writes never fails half-way with "database is locked".
// Read is a pool of query_only connections whose transactions should be opened with
// sql.TxOptions{ReadOnly: true} so they never take the write lock.
type DB struct {
	Write *sql.DB
	Read  *sql.DB
	Path  string

	raw rawCache // statements prepared through Raw
}

// sqliteHeader is the first 16 bytes of every SQLite 3 database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Open opens (creating if needed) the SQLite database at path, switches it to WAL
// mode, verifies the pragmas took effect and applies pending migrations.
//
// A missing folder is created with mode 0700 and a new file with mode 0600.
// A file that exists but is not a SQLite database is refused with ErrNotDatabase
// and left byte-for-byte unchanged.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.Readers <= 0 {
		opts.Readers = DefaultReaders
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	db := &DB{Path: abs}
	db.Write, err = sql.Open("sqlite3", dsn(abs, opts.BusyTimeout, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.Write.SetMaxOpenConns(1)
	db.Write.SetMaxIdleConns(1)
	db.Write.SetConnMaxLifetime(0)
	db.Write.SetConnMaxIdleTime(0)

	db.Read, err = sql.Open("sqlite3", dsn(abs, opts.BusyTimeout, true))
	if err != nil {
		db.Write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.Read.SetMaxOpenConns(opts.Readers)
	db.Read.SetMaxIdleConns(opts.Readers)
	db.Read.SetConnMaxIdleTime(time.Minute)

	if err := db.init(ctx, opts.Migrations); err != nil {
		db.Read.Close()
		db.Write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, describe(err))
	}
	return db, nil
}

// dsn builds the connection string. busy_timeout must come first: the driver
// applies pragmas in order, and any _pragma disables its own default timeout.
func dsn(path string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous(normal)")
	q.Add("_pragma", "foreign_keys(on)")
	if readOnly {
		q.Add("_pragma", "query_only(on)")
		q.Set("_txlock", "deferred")
	} else {
		// A statement that changes many rows inside a transaction (the claim's
		// UPDATE ... RETURNING) keeps a statement journal; past 64 KiB SQLite
		// spills it to a new temporary file, created and deleted every time.
		// In memory it costs a copy of the pages the statement touches.
		q.Add("_pragma", "temp_store(memory)")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// prepareFile makes sure the folder exists and is writable, creates a new
// database file with mode 0600, and refuses an existing file that is not SQLite.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close() // an empty file is a valid empty database
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create file: %w", err)
	}
	// SQLite needs to create the -wal and -shm files beside the database.
	if err := checkWritableDir(dir); err != nil {
		return err
	}
	f, err = os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return nil // empty file: SQLite treats it as a new database
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("read header: %w", err)
	case !bytes.Equal(head[:n], sqliteHeader):
		return fmt.Errorf("%w (the file's first bytes are not the SQLite header; it was left unchanged)", ErrNotDatabase)
	}
	return nil
}

func checkWritableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".sluice-probe-*")
	if err != nil {
		return fmt.Errorf("folder %s is not writable (SQLite needs to create its -wal and -shm files there): %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// init verifies the pragmas on both pools and migrates the schema.
func (db *DB) init(ctx context.Context, migrations fs.FS) error {
	var mode string
	if err := db.Write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal (is the file on a filesystem without shared memory?)", mode)
	}
	var busy int64
	if err := db.Write.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		return fmt.Errorf("read busy_timeout: %w", err)
	}
	if busy <= 0 {
		return fmt.Errorf("busy_timeout is %d, want > 0", busy)
	}
	var temp int
	if err := db.Write.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp); err != nil {
		return fmt.Errorf("read temp_store: %w", err)
	}
	if temp != 2 { // MEMORY
		return fmt.Errorf("temp_store is %d on the writer, want 2 (memory)", temp)
	}
	if err := migrate(ctx, db.Write, migrations); err != nil {
		return err
	}
	var readOnly bool
	if err := db.Read.QueryRowContext(ctx, "PRAGMA query_only").Scan(&readOnly); err != nil {
		return fmt.Errorf("read query_only: %w", err)
	}
	if !readOnly {
		return errors.New("read pool is not query_only")
	}
	return nil
}

// describe turns SQLite's terse codes into messages that say what to do.
func describe(err error) error {
	switch {
	case errors.Is(err, sqlite3.NOTADB):
		return fmt.Errorf("%w: %w", ErrNotDatabase, err)
	case errors.Is(err, sqlite3.CORRUPT):
		return fmt.Errorf("database file is corrupted (restore it from a backup): %w", err)
	case errors.Is(err, sqlite3.READONLY), errors.Is(err, sqlite3.CANTOPEN), errors.Is(err, sqlite3.PERM):
		return fmt.Errorf("database file cannot be opened for writing (check its owner and permissions): %w", err)
	case errors.Is(err, sqlite3.FULL):
		return fmt.Errorf("disk is full: %w", err)
	}
	return err
}

// Close checkpoints the WAL into the main file and closes both pools, and
// the statements prepared through Raw.
func (db *DB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, cerr := db.Write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	if cerr != nil && errors.Is(cerr, sqlite3.BUSY) {
		cerr = nil // another process is reading; its own close will checkpoint
	}
	rerr := db.Read.Close()
	serr := db.closeRaw(ctx)
	werr := db.Write.Close()
	if err := errors.Join(cerr, rerr, serr, werr); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// lowSpace is the free space below which an I/O error is blamed on a full disk.
const lowSpace = 1 << 20

// Diagnose adds what a person needs to an error from this database: when
// SQLite reports a full disk, or an I/O error while the filesystem holding
// the file has almost no space left, it says so and where.
func (db *DB) Diagnose(err error) error {
	if err == nil || !(errors.Is(err, sqlite3.FULL) || errors.Is(err, sqlite3.IOERR)) {
		return err
	}
	var st syscall.Statfs_t
	if serr := syscall.Statfs(filepath.Dir(db.Path), &st); serr != nil {
		return err
	}
	free := st.Bavail * uint64(st.Bsize)
	if errors.Is(err, sqlite3.FULL) || free < lowSpace {
		return fmt.Errorf("the disk holding %s is full (%d bytes free); free some space and run again: %w", db.Path, free, err)
	}
	return err
}
