package sqlitewal_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/sqlitewal"
)

// testAppID is the application_id the tests claim files with.
const testAppID = 0x54455354 // "TEST"

func ownedOpts() sqlitewal.Options {
	return sqlitewal.Options{Migrations: testMigrations, ApplicationID: testAppID}
}

// makeForeign writes a database the way another program would: plain
// SQLite, the default rollback journal, the given statements.
func makeForeign(tb testing.TB, path string, stmts ...string) {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

// snapshot is a folder's files and their bytes.
func snapshot(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func assertUnchanged(tb testing.TB, dir string, before map[string][]byte) {
	tb.Helper()
	after := snapshot(tb, dir)
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			tb.Errorf("%s was changed", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			tb.Errorf("%s was created", name)
		}
	}
}

func TestOpenSetsApplicationID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sqlitewal.Open(context.Background(), path, ownedOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int32
	if err := db.Read.QueryRow("PRAGMA application_id").Scan(&id); err != nil || id != testAppID {
		t.Fatalf("application_id = %#x, %v; want %#x", id, err, testAppID)
	}
}

func TestOpenRefusesOthersFilesUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stmts []string
		want  error
	}{
		{"django", []string{
			"CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)",
			"CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT)",
			"INSERT INTO auth_user(username) VALUES ('ada')",
		}, sqlitewal.ErrForeign},
		{"its own table of the same name", []string{
			"CREATE TABLE t (name TEXT, size INTEGER)",
		}, sqlitewal.ErrForeign},
		{"its own table of the same name, versioned", []string{
			"CREATE TABLE t (name TEXT, size INTEGER)", "CREATE TABLE other (x)", "PRAGMA user_version = 1",
		}, sqlitewal.ErrForeign},
		{"another application_id", []string{
			"PRAGMA application_id = 42",
		}, sqlitewal.ErrForeign},
		{"another application_id with the same tables", []string{
			"PRAGMA application_id = 42", "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "PRAGMA user_version = 1",
		}, sqlitewal.ErrForeign},
		{"a WAL file", []string{
			"PRAGMA journal_mode = wal", "CREATE TABLE t (name TEXT)",
		}, sqlitewal.ErrForeign},
		{"newer schema", []string{
			"PRAGMA application_id = " + strconv.Itoa(testAppID), "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "PRAGMA user_version = 99",
		}, sqlitewal.ErrTooNew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "db.sqlite3")
			makeForeign(t, path, tc.stmts...)
			before := snapshot(t, dir)
			_, err := sqlitewal.Open(context.Background(), path, ownedOpts())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("error %q does not say the file was left alone", err)
			}
			assertUnchanged(t, dir, before)
		})
	}
}

func TestOpenSharedKeepsTheOtherApplicationsTables(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.sqlite3")
	makeForeign(t, path,
		"CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT)",
		"INSERT INTO auth_user(username) VALUES ('ada')")
	opts := ownedOpts()
	opts.Shared = true
	for range 2 { // the second open finds its own tables beside the others
		db, err := sqlitewal.Open(context.Background(), path, opts)
		if err != nil {
			t.Fatal(err)
		}
		var user string
		var n, id int
		if err := db.Read.QueryRow("SELECT username FROM auth_user").Scan(&user); err != nil || user != "ada" {
			t.Errorf("auth_user = %q, %v; want ada", user, err)
		}
		if err := db.Read.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
			t.Errorf("rows of t = %d, %v; want the seed row", n, err)
		}
		if err := db.Read.QueryRow("PRAGMA application_id").Scan(&id); err != nil || id != 0 {
			t.Errorf("application_id = %#x, %v; want the other application's (0) left alone", id, err)
		}
		db.Close()
	}
	if _, err := sqlitewal.Open(context.Background(), path, ownedOpts()); !errors.Is(err, sqlitewal.ErrForeign) {
		t.Errorf("without Shared: err = %v; want ErrForeign", err)
	}
}

func TestOpenSharedRefusesAClashingTable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.sqlite3")
	makeForeign(t, path, "CREATE TABLE auth_user (id INTEGER PRIMARY KEY)", "CREATE TABLE t (name TEXT)")
	before := snapshot(t, dir)
	opts := ownedOpts()
	opts.Shared = true
	_, err := sqlitewal.Open(context.Background(), path, opts)
	if !errors.Is(err, sqlitewal.ErrForeign) || !strings.Contains(err.Error(), "table t") {
		t.Fatalf("err = %v; want ErrForeign naming table t", err)
	}
	assertUnchanged(t, dir, before)
}

func TestOpenClaimsAFileMadeBeforeApplicationID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = mustOpenWith(t, path, ownedOpts())
	var id int32
	if err := db.Read.QueryRow("PRAGMA application_id").Scan(&id); err != nil || id != testAppID {
		t.Fatalf("application_id = %#x, %v; want %#x", id, err, testAppID)
	}
}

func mustOpenWith(tb testing.TB, path string, opts sqlitewal.Options) *sqlitewal.DB {
	tb.Helper()
	db, err := sqlitewal.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpenReadOnlyCreatesNothing(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "typo", "q.db")
	opts := ownedOpts()
	opts.ReadOnly = true
	_, err := sqlitewal.Open(context.Background(), path, opts)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v; want ErrNotExist naming %s", err, path)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("created %s", entries[0].Name())
	}
}

func TestOpenReadOnlyMigratesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	old := sqlitewal.Options{Migrations: fstest.MapFS{"0001_init.sql": testMigrations["0001_init.sql"]}, ApplicationID: testAppID}
	db, err := sqlitewal.Open(context.Background(), path, old)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := snapshot(t, dir)
	opts := ownedOpts()
	opts.ReadOnly = true
	if _, err := sqlitewal.Open(context.Background(), path, opts); !errors.Is(err, sqlitewal.ErrNotMigrated) {
		t.Fatalf("err = %v; want ErrNotMigrated", err)
	}
	assertUnchanged(t, dir, before)

	mustOpenWith(t, path, ownedOpts()).Close() // a writer migrates it
	db = mustOpenWith(t, path, opts)
	var n int
	if err := db.Read.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
	if _, err := db.Write.Exec("INSERT INTO t(v) VALUES ('x')"); err == nil {
		t.Error("a read-only open wrote")
	}
}

func TestOpenGivesWALFilesTheDatabaseMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, existing := range []bool{false, true} {
		t.Run(map[bool]string{false: "new", true: "left 0644"}[existing], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			if existing {
				mustOpenWith(t, path, ownedOpts()).Close()
				for _, s := range []string{"-wal", "-shm"} {
					if err := os.WriteFile(path+s, nil, 0o644); err != nil {
						t.Fatal(err)
					}
					os.Chmod(path+s, 0o644)
				}
			}
			db := mustOpenWith(t, path, ownedOpts())
			if _, err := db.Write.Exec("INSERT INTO t(v) VALUES ('secret')"); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(name)
				if err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, %v; want 0600", filepath.Base(name), fi.Mode().Perm(), err)
				}
			}
		})
	}
}

func TestOpenTruncatesTheWALAfterACheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	opts := ownedOpts()
	opts.JournalSizeLimit = 64 << 10
	db := mustOpenWith(t, path, opts)
	// One large transaction swells the WAL, as a batch does before a disk fills up.
	if _, err := db.Write.Exec("INSERT INTO t(v) SELECT printf('%.1000c', 'x') FROM generate_series(1, 2000)"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("WAL size %d, %v; want over 1 MiB before the checkpoint", fi.Size(), err)
	}
	if _, err := db.Write.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		t.Fatal(err)
	}
	// The next write starts the WAL over and cuts it back.
	if _, err := db.Write.Exec("INSERT INTO t(v) VALUES ('small')"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() > opts.JournalSizeLimit {
		t.Fatalf("WAL size %d, %v; want at most %d", fi.Size(), err, opts.JournalSizeLimit)
	}
}

func TestReadOnlyCloses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	mustOpenWith(t, path, ownedOpts()).Close()
	opts := ownedOpts()
	opts.ReadOnly = true
	db, err := sqlitewal.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
