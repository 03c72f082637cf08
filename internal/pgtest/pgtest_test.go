package pgtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatalf("connect to %s: %v", u, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestURLGivesSeparateDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := URL(t), URL(t)
	if a == b {
		t.Fatalf("two calls returned the same URL %s", a)
	}
	ca, cb := connect(t, a), connect(t, b)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := cb.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found {
		t.Error("a table created in one database is visible in the other")
	}
	var name string
	if err := ca.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "sluice_testurlgivesseparatedatabases_") {
		t.Errorf("database name %q does not name the test", name)
	}
}

func TestURLDropsTheDatabaseAtCleanup(t *testing.T) {
	ctx := context.Background()
	var name string
	t.Run("inner", func(t *testing.T) {
		c := connect(t, URL(t))
		if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// The connection stays open: the drop must end it (WITH (FORCE)).
	})
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestPrivateServerIsSocketOnly(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("pgtest: " + EnvURL + " is set: no private server to check")
	}
	c := connect(t, URL(t))
	var listen string
	if err := c.QueryRow(context.Background(), "SHOW listen_addresses").Scan(&listen); err != nil {
		t.Fatal(err)
	}
	if listen != "" {
		t.Errorf("listen_addresses = %q, want '' (Unix socket only)", listen)
	}
}

func TestVerdict(t *testing.T) {
	missing := errors.New("initdb not found")
	tests := []struct {
		name      string
		err       error
		missing   bool
		ci        string
		wantFatal bool
		wantIn    string
	}{
		{"missing binaries skip", missing, true, "", false, "skipped"},
		{"missing binaries fail under CI", missing, true, "true", true, "CI=true"},
		{"a broken server fails", errors.New("initdb: exit 1"), false, "", true, "initdb: exit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, fatal := verdict(tt.err, tt.missing, tt.ci)
			if fatal != tt.wantFatal || !strings.Contains(msg, tt.wantIn) || strings.Contains(msg, "\n") {
				t.Errorf("verdict = %q, %v; want fatal %v, one line containing %q", msg, fatal, tt.wantFatal, tt.wantIn)
			}
		})
	}
}

func TestFindBinariesIn(t *testing.T) {
	t.Setenv("PATH", "")
	root := t.TempDir()
	for _, v := range []string{"9", "15", "13"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, p), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := findBinariesIn(filepath.Join(root, "*", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin", "initdb"); b.initdb != want {
		t.Errorf("initdb = %s, want the newest version's %s", b.initdb, want)
	}
	if _, err := findBinariesIn(filepath.Join(t.TempDir(), "*", "bin")); err == nil {
		t.Error("found binaries in an empty folder")
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p@db:5432/postgres?sslmode=require", "postgres://u:p@db:5432/x?sslmode=require"},
		{"postgres://postgres@/postgres?host=/tmp/s&port=5432", "postgres://postgres@/x?host=/tmp/s&port=5432"},
		{"host=/tmp/s user=postgres", "host=/tmp/s user=postgres dbname='x'"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "x")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDatabaseName(t *testing.T) {
	got := databaseName("TestX/sub case#1", 7)
	if !strings.HasPrefix(got, "sluice_testx_sub_case_1_") || !strings.HasSuffix(got, "_7") || len(got) > 63 {
		t.Errorf("databaseName = %q", got)
	}
}

func TestRemoveOrphans(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	mk := func(owner string) string {
		d, err := os.MkdirTemp("", tempPrefix)
		if err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	// A process that has exited: its id is free until reused.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	orphan := mk(strconv.Itoa(cmd.Process.Pid))
	mine := mk(strconv.Itoa(os.Getpid()))
	making := mk("")
	removeOrphans()
	for d, want := range map[string]bool{orphan: false, mine: true, making: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists: %v; want %v", filepath.Base(d), err == nil, want)
		}
	}
}
