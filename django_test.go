package main

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/pgtest"
)

// djangoPython returns a Python that imports Django: Debian's python3-django
// installs for /usr/bin/python3, which a pyenv python3 on PATH does not see.
func djangoPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import django").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no python3 imports django: apt-get install python3-django (.ci/run does)")
	}
	t.Skip("no python3 imports django (apt-get install python3-django): the Django example's tests need it")
	return ""
}

// TestDjangoExample runs examples/django's tests with Django's test runner:
// async_task through a real `sluice run` with warm workers, the admin's
// failure list and resubmit, a timeout that replaces its warm process, a
// rolled-back view, and the sync test mode.
func TestDjangoExample(t *testing.T) {
	py := djangoPython(t)
	if testing.Short() {
		t.Skip("-short: the Django example builds sluice and starts Django")
	}
	dir := t.TempDir()
	// DATABASE_URL empty: SQLite, whatever the caller's environment says.
	runDjangoExample(t, py, "DATABASE_URL=",
		"EXAMPLE_DB="+filepath.Join(dir, "dev.sqlite3"), "EXAMPLE_TEST_DB="+filepath.Join(dir, "test.sqlite3"))
}

// TestDjangoExamplePostgres runs the same tests with Django's database, and
// so the queue, on PostgreSQL: DATABASE_URL names a fresh database on
// pgtest's server, and Django's test runner creates and drops test_<name>
// beside it (pgtest's user is a superuser); sluice_django gives the sluice
// processes the test database.
func TestDjangoExamplePostgres(t *testing.T) {
	py := djangoPostgresPython(t)
	if testing.Short() {
		t.Skip("-short: the Django example builds sluice and starts Django")
	}
	runDjangoExample(t, py, "DATABASE_URL="+djangoDatabaseURL(t, pgtest.URL(t)))
}

// djangoPostgresPython returns a Python that imports Django and psycopg2
// (Debian's python3-psycopg2, the driver Django 3.2 supports).
func djangoPostgresPython(t *testing.T) string {
	t.Helper()
	py := djangoPython(t)
	if exec.Command(py, "-c", "import psycopg2").Run() == nil {
		return py
	}
	if os.Getenv("CI") != "" {
		t.Fatal(py + " does not import psycopg2: apt-get install python3-psycopg2 (.ci/run does)")
	}
	t.Skip(py + " does not import psycopg2 (apt-get install python3-psycopg2): Django on PostgreSQL needs it")
	return ""
}

// djangoDatabaseURL turns a pgtest connection string (a URL or key=value
// pairs, PG* variables applied) into the postgres://user:password@host:port/name
// URL the example's settings read, with a Unix-socket host as ?host=.
func djangoDatabaseURL(t *testing.T, conn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		t.Fatalf("parse %s: %v", conn, err)
	}
	u := url.URL{Scheme: "postgres", Path: "/" + cfg.Database}
	u.User = url.User(cfg.User)
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	port := strconv.Itoa(int(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		u.RawQuery = url.Values{"host": {cfg.Host}, "port": {port}}.Encode()
	} else {
		u.Host = net.JoinHostPort(cfg.Host, port)
	}
	return u.String()
}

// runDjangoExample builds sluice and runs `manage.py test accounts` in
// examples/django with env added, failing on a failed or empty run.
func runDjangoExample(t *testing.T, py string, env ...string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "manage.py", "test", "accounts", "-v", "2", "--noinput")
	cmd.Dir = "examples/django"
	cmd.Env = append(os.Environ(), "EXAMPLE_SLUICE_BIN="+bin, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	summary := regexp.MustCompile(`(?m)^(Ran \d+ tests? in .*|OK.*|FAILED.*)$`).FindAll(out, -1)
	for _, s := range summary {
		t.Logf("django: %s", s)
	}
	if err != nil {
		t.Fatalf("manage.py test: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^Ran (\d+) tests?`).Match(out) || regexp.MustCompile(`(?m)^Ran 0 tests`).Match(out) {
		t.Fatalf("manage.py test ran no tests:\n%s", out)
	}
}

// TestDjangoWorkerConformance checks `manage.py sluice_worker` with the warm
// protocol's conformance test (docs/warm-protocol.md), as any implementation
// can be checked; on PostgreSQL its tasks write Notes through Django's ORM,
// which must all be in the database afterwards.
func TestDjangoWorkerConformance(t *testing.T) {
	py := djangoPython(t)
	if testing.Short() {
		t.Skip("-short: starts Django")
	}
	t.Run("sqlite", func(t *testing.T) {
		djangoConformance(t, py, `{"func":"accounts.tasks.echo_test","args":["hi"]}`,
			"DATABASE_URL=", "EXAMPLE_DB="+filepath.Join(t.TempDir(), "db.sqlite3"))
	})
	t.Run("postgres", func(t *testing.T) {
		py := djangoPostgresPython(t)
		conn := pgtest.URL(t)
		env := []string{"DATABASE_URL=" + djangoDatabaseURL(t, conn)}
		migrate := exec.Command(py, "manage.py", "migrate", "--noinput")
		migrate.Dir = "examples/django"
		migrate.Env = append(os.Environ(), append(env, "PYTHONDONTWRITEBYTECODE=1")...)
		if out, err := migrate.CombinedOutput(); err != nil {
			t.Fatalf("manage.py migrate: %v\n%s", err, out)
		}
		djangoConformance(t, py, `{"func":"accounts.tasks.add_note","args":["conformance"]}`, env...)
		ctx := context.Background()
		db, err := pgx.Connect(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close(ctx)
		var notes int
		if err := db.QueryRow(ctx, "SELECT count(*) FROM accounts_note WHERE text = 'conformance'").Scan(&notes); err != nil {
			t.Fatal(err)
		}
		if notes < 50 { // -warm.n's default: tasks one process serves in a row
			t.Errorf("%d notes written by the warm worker's tasks; want at least 50", notes)
		}
	})
}

// djangoConformance runs jobs' TestWarmConformance on the example's
// sluice_worker with ok as the payload that must succeed, and env added.
func djangoConformance(t *testing.T, py, ok string, env ...string) {
	t.Helper()
	manage, err := filepath.Abs("examples/django/manage.py")
	if err != nil {
		t.Fatal(err)
	}
	argv, _ := json.Marshal([]string{py, manage, "sluice_worker"})
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestWarmConformance$", "./jobs", "-args",
		"-warm.cmd="+string(argv), "-warm.ok="+ok, `-warm.fail={"func":"accounts.tasks.always_fails"}`)
	cmd.Env = append(append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("conformance: %v\n%s", err, out)
	}
}
