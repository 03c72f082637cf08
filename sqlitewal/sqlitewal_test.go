package sqlitewal_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/sqlitewal"
)

var testMigrations = fstest.MapFS{
	"0001_init.sql":  {Data: []byte("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);")},
	"0002_index.sql": {Data: []byte("CREATE INDEX t_v ON t(v); INSERT INTO t(v) VALUES ('seed');")},
}

func mustOpen(tb testing.TB, path string) *sqlitewal.DB {
	tb.Helper()
	db, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: testMigrations})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestSyncModes: each mode is set on the writer and read back; an unknown
// one is refused before the file is touched.
func TestSyncModes(t *testing.T) {
	for mode, want := range map[sqlitewal.Sync]int{sqlitewal.SyncFull: 2, sqlitewal.SyncNormal: 1} {
		t.Run(string(mode), func(t *testing.T) {
			db, err := sqlitewal.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), sqlitewal.Options{Sync: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got int
			if err := db.Write.QueryRow("PRAGMA synchronous").Scan(&got); err != nil || got != want {
				t.Fatalf("synchronous = %d, %v; want %d", got, err, want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "q.db")
	if _, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Sync: "off"}); err == nil {
		t.Fatal("Open with synchronous off succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused open created the file: %v", err)
	}
}

func TestOpenCreatesWALDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "folder")
	path := filepath.Join(dir, "q.db")
	db := mustOpen(t, path)

	var mode string
	if err := db.Read.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var sync int
	if err := db.Write.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v; want 2 (FULL, the default)", sync, err)
	}
	var fk int
	if err := db.Write.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
	var v int
	if err := db.Read.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Fatalf("user_version = %d, %v; want 2", v, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if _, err := db.Read.Exec("INSERT INTO t(v) VALUES ('x')"); err == nil {
		t.Error("insert through the read pool succeeded; want query_only error")
	}
}

func TestMigrationsRunOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := mustOpen(t, path)
	db.Close()
	db = mustOpen(t, path) // second open: nothing applied again
	var n int
	if err := db.Read.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want the one seed row", n, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := mustOpen(t, path)
	if _, err := db.Write.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: testMigrations})
	if !errors.Is(err, sqlitewal.ErrTooNew) {
		t.Fatalf("err = %v; want ErrTooNew", err)
	}
	if !strings.Contains(err.Error(), "99") {
		t.Errorf("error %q does not name the version", err)
	}
}

func TestOpenRefusesNonDatabaseUnchanged(t *testing.T) {
	for name, content := range map[string][]byte{
		"text":  []byte("hello, this is not a database\n"),
		"short": []byte("SQL"),
		"zeros": make([]byte, 8192),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "q.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: testMigrations})
			if !errors.Is(err, sqlitewal.ErrNotDatabase) {
				t.Fatalf("err = %v; want ErrNotDatabase", err)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, content) {
				t.Error("file was changed")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("folder has %d entries; want only the file (no -wal or -shm)", len(entries))
			}
		})
	}
}

func TestOpenRefusesCorruptedDatabaseUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db := mustOpen(t, path)
	db.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the header, wreck the rest of page 1 (the schema table).
	for i := 100; i < len(data) && i < 4096; i++ {
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlitewal.Open(context.Background(), path, sqlitewal.Options{Migrations: testMigrations}); err == nil {
		t.Fatal("Open succeeded on a corrupted file")
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, data) {
		t.Error("corrupted file was changed")
	}
}

func TestOpenUnwritableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores folder permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := sqlitewal.Open(context.Background(), filepath.Join(dir, "q.db"), sqlitewal.Options{})
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %v; want an error naming %s", err, dir)
	}
}

func TestOpenMissingParentIsAFile(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlitewal.Open(context.Background(), filepath.Join(blocker, "sub", "q.db"), sqlitewal.Options{})
	if err == nil || !strings.Contains(err.Error(), "create folder") {
		t.Fatalf("err = %v; want a create folder error", err)
	}
}

func TestBadMigrationName(t *testing.T) {
	_, err := sqlitewal.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"),
		sqlitewal.Options{Migrations: fstest.MapFS{"init.sql": {Data: []byte("SELECT 1")}}})
	if err == nil || !strings.Contains(err.Error(), "init.sql") {
		t.Fatalf("err = %v; want an error naming init.sql", err)
	}
}

// TestWriterSkipsTriggers: with the option, a trigger does not fire on the
// writer (a new writer connection included), and still fires for every
// other connection to the file.
func TestWriterSkipsTriggers(t *testing.T) {
	ctx := context.Background()
	refuse := fstest.MapFS{"0001_t.sql": {Data: []byte(`CREATE TABLE t (v INTEGER);
		CREATE TRIGGER refuse BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'refused'); END;`)}}
	for _, skip := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "db")
		db, err := sqlitewal.Open(ctx, path, sqlitewal.Options{Migrations: refuse, WriterSkipsTriggers: skip})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.Write.SetMaxIdleConns(0) // every statement on a new connection
		for range 2 {
			_, err := db.Write.Exec("INSERT INTO t VALUES (1)")
			if fired := err != nil && strings.Contains(err.Error(), "refused"); fired == skip {
				t.Errorf("WriterSkipsTriggers %v: insert on the writer: %v", skip, err)
			}
		}
		other, err := sqlitewal.Open(ctx, path, sqlitewal.Options{Migrations: refuse})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.Write.Exec("INSERT INTO t VALUES (1)"); err == nil {
			t.Errorf("WriterSkipsTriggers %v: another connection's insert was not refused", skip)
		}
	}
}
