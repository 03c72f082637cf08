package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// TestReadersCreateNothing: a command that only reads names a missing
// database and creates neither it nor its folder.
func TestReadersCreateNothing(t *testing.T) {
	for _, args := range [][]string{{"status"}, {"tasks"}, {"show", "1"}, {"groups"}, {"schedule", "list"}, {"schedule", "show", "x"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			root := t.TempDir()
			db := filepath.Join(root, "typo", "sluice.db")
			r := run(t, db, nil, "", args...)
			if r.code != cli.ExitFailure || !errors.Is(r.err, fs.ErrNotExist) || !strings.Contains(r.stderr, db) {
				t.Fatalf("exit %d, %v, stderr %q; want 1 naming %s", r.code, r.err, r.stderr, db)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("created %s", entries[0].Name())
			}
		})
	}
}

// makeDjango writes a database as Django would: its own tables, rollback journal.
func makeDjango(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		"CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT)",
		"CREATE TABLE auth_user (id INTEGER PRIMARY KEY, username TEXT)",
		"INSERT INTO auth_user(username) VALUES ('ada')",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnotherApplicationsDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite3")
	makeDjango(t, db)
	before, _ := os.ReadFile(db)
	for _, args := range [][]string{{"status"}, {"enqueue", "echo_test", "{}"}, {"drain"}} {
		r := run(t, db, nil, "", args...)
		if !errors.Is(r.err, sqlitewal.ErrForeign) || !strings.Contains(r.stderr, "SLUICE_SHARED_DB") {
			t.Fatalf("%s: %v, stderr %q; want ErrForeign naming SLUICE_SHARED_DB", args, r.err, r.stderr)
		}
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Fatal("the refused file was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("folder has %d entries; want the file alone", len(entries))
	}
	shared := []string{"SLUICE_SHARED_DB=true"}
	if r := run(t, db, shared, "", "enqueue", "echo_test", "{}"); r.code != 0 {
		t.Fatalf("enqueue with SLUICE_SHARED_DB: %v %s", r.err, r.stderr)
	}
	if r := run(t, db, shared, "", "drain"); r.code != 0 {
		t.Fatalf("drain with SLUICE_SHARED_DB: %v %s", r.err, r.stderr)
	}
	if r := run(t, db, shared, "", "status"); r.code != 0 || !strings.Contains(r.stdout, "SUCCEEDED") {
		t.Fatalf("status with SLUICE_SHARED_DB: %v %s %s", r.err, r.stdout, r.stderr)
	}
}

func TestMissingProgramStopsTheStart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sluice.db")
	for _, cmd := range []string{"drain", "run"} {
		r := run(t, db, []string{`SLUICE_EXEC_REPORT=["sluice-no-such-program-xyz","--all"]`}, "", cmd)
		if r.code != cli.ExitConfig || !strings.Contains(r.stderr, `SLUICE_EXEC_REPORT: program "sluice-no-such-program-xyz"`) {
			t.Fatalf("%s: exit %d, stderr %q; want 78 naming the program", cmd, r.code, r.stderr)
		}
	}
}

// TestEnqueueDelayUsesMainNow: every command reads Main.Now, never the wall clock.
func TestEnqueueDelayUsesMainNow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sluice.db")
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	var out bytes.Buffer
	m := &cli.Main{Environ: []string{"SLUICE_DB=" + db}, Stdout: &out, Now: func() time.Time { return now }}
	if err := m.Run(context.Background(), []string{"enqueue", "-delay", "1h", "echo_test", "{}"}); err != nil {
		t.Fatal(err)
	}
	s, err := queue.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	task, err := s.Get(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(time.Hour); !task.RunAt.Equal(want) {
		t.Errorf("run_at = %v; want %v (Main.Now + 1h)", task.RunAt, want)
	}
}

// TestRefusedFilesKeepTheirBytes: a file with its own tasks table, and a
// queue a newer Sluice migrated, are refused by readers and writers alike
// before anything is written (not even the switch to WAL).
func TestRefusedFilesKeepTheirBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"its own tasks table", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite3", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec("CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)"); err != nil {
				t.Fatal(err)
			}
		}, sqlitewal.ErrForeign},
		{"a newer schema", func(t *testing.T, path string) {
			s, err := queue.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().Write.Exec("PRAGMA user_version = 999"); err != nil {
				t.Fatal(err)
			}
			s.Close()
		}, sqlitewal.ErrTooNew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "sluice.db")
			tc.make(t, db)
			before, _ := os.ReadFile(db)
			for _, args := range [][]string{{"status"}, {"tasks"}, {"drain"}, {"enqueue", "echo_test", "{}"}} {
				if r := run(t, db, nil, "", args...); !errors.Is(r.err, tc.want) {
					t.Errorf("%s: %v; want %v", args, r.err, tc.want)
				}
			}
			if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
				t.Error("the refused file was changed")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("folder has %d entries; want the file alone", len(entries))
			}
		})
	}
}
