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
	"github.com/ncruces/go-sqlite3/driver" // also registers the "sqlite3" database/sql driver

	"github.com/sluicehq/sluice/internal/migrations"
)

// Defaults for Options.
const (
	DefaultBusyTimeout = 5 * time.Second
	DefaultReaders     = 4
	// DefaultJournalSizeLimit is the size the WAL is cut back to each time
	// a checkpoint lets it start over. A little above the 4 MiB that SQLite's
	// automatic checkpoint lets it reach, so a busy queue does not regrow it
	// every time, yet a WAL that swelled (a large batch, a disk that filled
	// up) gives its space back at the next checkpoint.
	DefaultJournalSizeLimit = 8 << 20
)

// ErrNotDatabase is returned for a file that exists but is not a SQLite database.
// Such a file is never written to.
var ErrNotDatabase = errors.New("not a SQLite database")

// ErrTooNew is returned when the database was migrated by a newer binary than
// this one. The file is left unchanged.
var ErrTooNew = errors.New("database schema is newer than this binary")

// Sync is a synchronous mode of the writer connection (PRAGMA synchronous).
type Sync string

// Sync modes; see Options.Sync.
const (
	SyncFull   Sync = "full"
	SyncNormal Sync = "normal"
)

// level is the value PRAGMA synchronous reads back for the mode.
func (s Sync) level() (int, error) {
	switch s {
	case SyncFull:
		return 2, nil
	case SyncNormal:
		return 1, nil
	}
	return 0, fmt.Errorf("synchronous mode %q: want %q or %q", s, SyncFull, SyncNormal)
}

// Options tunes Open. The zero value is usable.
type Options struct {
	// BusyTimeout is how long a statement waits for another process's lock
	// before failing with SQLITE_BUSY. Default DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Readers is the size of the read-only connection pool. Default DefaultReaders.
	Readers int
	// Sync is the writer's synchronous mode: SyncFull (the default) syncs
	// the WAL at every commit, so a commit survives power loss; SyncNormal
	// syncs only at checkpoints, so a commit survives a process crash but
	// the latest ones can be lost with the machine's power.
	Sync Sync
	// Migrations holds files named NNNN_description.sql (NNNN a positive number).
	// Each file with a number above the database's user_version is applied in
	// its own write transaction, in order, and user_version is set to its number.
	Migrations fs.FS
	// ApplicationID marks the files this application owns (PRAGMA
	// application_id), written to every file it creates. An existing file is
	// used only when it carries this id, or is empty, or holds nothing but
	// the tables the Migrations create (a file made before the id was set);
	// any other file is refused with ErrForeign before anything is written.
	// Zero turns the check off.
	ApplicationID int32
	// Shared lets the migrations add their tables to another application's
	// database (a web framework's, so that it can enqueue in the same
	// transaction as its own writes). Tables named like the migrations' own
	// are still refused, and the file's application_id is left alone.
	Shared bool
	// ReadOnly opens an existing database without creating, migrating or
	// changing it: a missing file is an error naming the path (and no folder
	// is created), and a schema older than Migrations is ErrNotMigrated.
	ReadOnly bool
	// AllowNetworkFS accepts a file on a network or FUSE filesystem, which
	// Open otherwise refuses with ErrNetworkFS: only safe when one machine,
	// and one kernel, ever opens it.
	AllowNetworkFS bool
	// JournalSizeLimit is the size the WAL is cut back to after a checkpoint.
	// Default DefaultJournalSizeLimit.
	JournalSizeLimit int64
	// WriterSkipsTriggers makes the writer connection fire no triggers. For
	// triggers that guard what other programs write (the queue's row rules)
	// when this program checks its own writes: they would cost each of its
	// inserts a trigger program.
	WriterSkipsTriggers bool
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
// A missing folder is created with mode 0700 and a new file with mode 0600;
// the -wal and -shm files get the database file's mode. Everything that can
// refuse a file is checked before the first write, so a refused file is
// left byte-for-byte unchanged: one that is not a SQLite database
// (ErrNotDatabase), another application's (ErrForeign), one from a newer
// binary (ErrTooNew), one on a network filesystem (ErrNetworkFS).
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
	if opts.JournalSizeLimit <= 0 {
		opts.JournalSizeLimit = DefaultJournalSizeLimit
	}
	if opts.Sync == "" {
		opts.Sync = SyncFull
	}
	if _, err := opts.Sync.level(); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	ms, err := migrations.Load(opts.Migrations)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	claim, err := opts.prepare(ctx, abs, ms)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, describe(err))
	}

	db := &DB{Path: abs}
	db.Write, err = driver.Open(dsn(abs, opts, opts.ReadOnly), opts.initWriter)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.Write.SetMaxOpenConns(1)
	db.Write.SetMaxIdleConns(1)
	db.Write.SetConnMaxLifetime(0)
	db.Write.SetConnMaxIdleTime(0)

	db.Read, err = sql.Open("sqlite3", dsn(abs, opts, true))
	if err != nil {
		db.Write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.Read.SetMaxOpenConns(opts.Readers)
	db.Read.SetMaxIdleConns(opts.Readers)
	db.Read.SetConnMaxIdleTime(time.Minute)

	if err := db.init(ctx, opts, ms, claim); err != nil {
		db.Read.Close()
		db.Write.Close()
		return nil, fmt.Errorf("open database %s: %w", path, describe(err))
	}
	return db, nil
}

// prepare checks everything that can refuse the file before anything is
// written, then creates the folder and file when missing and the -wal and
// -shm files with the file's mode. It reports whether the file is to be
// claimed (given the ApplicationID).
func (o Options) prepare(ctx context.Context, path string, ms []migration) (claim bool, err error) {
	if !o.AllowNetworkFS {
		if err := checkLocalFS(path); err != nil {
			return false, err
		}
	}
	size, err := fileSize(path)
	if errors.Is(err, syscall.ENOTDIR) { // a file where a folder should be: creating the folder says so
		err = fs.ErrNotExist
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.ReadOnly:
		return false, missing()
	case errors.Is(err, fs.ErrNotExist):
		if err := createFile(path); err != nil {
			return false, err
		}
	case err != nil:
		return false, err
	}
	if err := checkExisting(path); err != nil {
		return false, err
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].Version
	}
	fi := fileInfo{}
	// An empty file whose first transaction is still in its WAL is not new.
	if size > 0 || exists(path+"-wal") {
		if fi, err = inspect(ctx, path, o.BusyTimeout); err != nil {
			return false, err
		}
	}
	if claim, err = o.check(fi, ownTables(ms), latest); err != nil {
		return false, err
	}
	return claim, prepareSidecars(path)
}

// fileSize returns the size of the file at path.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%w: not a regular file", ErrNotDatabase)
	}
	return fi.Size(), nil
}

// initWriter sets up each new writer connection beyond what its pragmas do.
func (o Options) initWriter(c *sqlite3.Conn) error {
	if !o.WriterSkipsTriggers {
		return nil
	}
	on, err := c.Config(sqlite3.DBCONFIG_ENABLE_TRIGGER, false)
	if err == nil && on {
		err = errors.New("triggers are still on")
	}
	if err != nil {
		return fmt.Errorf("turn triggers off on the writer: %w", err)
	}
	return nil
}

// dsn builds the connection string. busy_timeout must come first: the driver
// applies pragmas in order, and any _pragma disables its own default timeout.
func dsn(path string, opts Options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous("+string(opts.Sync)+")")
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
		// Without a limit the WAL keeps its largest size for ever: after a
		// disk filled up, freeing space would not be enough to run again.
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", opts.JournalSizeLimit))
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// createFile creates the folder (0700) and a new, empty database file (0600).
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil && !errors.Is(err, fs.ErrExist) { // another process may have just made it
		return fmt.Errorf("create file: %w", err)
	}
	if err == nil {
		return f.Close() // an empty file is a valid empty database
	}
	return nil
}

// checkExisting refuses a file that is not SQLite, and a folder where
// SQLite could not create its -wal and -shm files.
func checkExisting(path string) error {
	if err := checkWritableDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.Open(path)
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

// init verifies the pragmas on both pools, claims the file when it is
// new, and migrates the schema (unless ReadOnly).
func (db *DB) init(ctx context.Context, opts Options, ms []migration, claim bool) error {
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
	if !opts.ReadOnly {
		if err := db.checkWriter(ctx, opts); err != nil {
			return err
		}
	}
	if claim && opts.ApplicationID != 0 {
		if err := claimFile(ctx, db.Write, opts.ApplicationID); err != nil {
			return err
		}
	}
	if !opts.ReadOnly {
		if err := migrate(ctx, db.Write, ms); err != nil {
			return err
		}
	}
	// SQLite created the -wal and -shm files if they were gone again.
	if err := prepareSidecars(db.Path); err != nil {
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

// checkWriter verifies the pragmas only the writer sets.
func (db *DB) checkWriter(ctx context.Context, opts Options) error {
	var level int
	if err := db.Write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if want, _ := opts.Sync.level(); level != want {
		return fmt.Errorf("synchronous is %d on the writer, want %d (%s)", level, want, opts.Sync)
	}
	var temp int
	if err := db.Write.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp); err != nil {
		return fmt.Errorf("read temp_store: %w", err)
	}
	if temp != 2 { // MEMORY
		return fmt.Errorf("temp_store is %d on the writer, want 2 (memory)", temp)
	}
	var limit int64
	if err := db.Write.QueryRowContext(ctx, "PRAGMA journal_size_limit").Scan(&limit); err != nil {
		return fmt.Errorf("read journal_size_limit: %w", err)
	}
	if limit != opts.JournalSizeLimit {
		return fmt.Errorf("journal_size_limit is %d on the writer, want %d", limit, opts.JournalSizeLimit)
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
//
// The checkpoint is PASSIVE: it copies every frame no reader holds back
// and never waits. A process that keeps a read transaction open (Litestream
// always does, so that it alone decides when the WAL is copied back) would
// make a RESTART or TRUNCATE checkpoint wait out the whole busy timeout at
// every exit. When the writer closes last, SQLite checkpoints again and
// removes the WAL file on its own, without waiting either.
func (db *DB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, cerr := db.Write.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	if cerr != nil && errors.Is(cerr, sqlite3.BUSY) {
		cerr = nil // another process is writing; its own close will checkpoint
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
