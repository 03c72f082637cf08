package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
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
	bin := filepath.Join(dir, "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "manage.py", "test", "accounts", "-v", "2")
	cmd.Dir = "examples/django"
	cmd.Env = append(os.Environ(), "EXAMPLE_SLUICE_BIN="+bin, "PYTHONDONTWRITEBYTECODE=1",
		"EXAMPLE_DB="+filepath.Join(dir, "dev.sqlite3"), "EXAMPLE_TEST_DB="+filepath.Join(dir, "test.sqlite3"))
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
// can be checked.
func TestDjangoWorkerConformance(t *testing.T) {
	py := djangoPython(t)
	if testing.Short() {
		t.Skip("-short: starts Django")
	}
	manage, err := filepath.Abs("examples/django/manage.py")
	if err != nil {
		t.Fatal(err)
	}
	argv, _ := json.Marshal([]string{py, manage, "sluice_worker"})
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestWarmConformance$", "./jobs", "-args",
		"-warm.cmd="+string(argv),
		`-warm.ok={"func":"accounts.tasks.echo_test","args":["hi"]}`,
		`-warm.fail={"func":"accounts.tasks.always_fails"}`)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "EXAMPLE_DB="+filepath.Join(t.TempDir(), "db.sqlite3"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("conformance: %v\n%s", err, out)
	}
}
