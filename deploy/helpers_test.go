package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// root is the repository root, relative to this package.
const root = ".."

// readFile returns a shipped file's contents, failing the test if it is missing.
func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read shipped file: %v", err)
	}
	return b
}

// parseEnvFile reads KEY=VALUE lines as systemd's EnvironmentFile= and
// docker's --env-file both read them: blank lines and # comments are skipped.
// A value that starts with a quote, or holds a backslash, is refused: systemd
// strips or interprets those, docker keeps them, so the file would mean two
// things. Quotes inside a value (a JSON array) are literal to both.
// With examples, commented-out "# SLUICE_X=..." lines are read as settings too,
// so the examples in the file are checked like the rest.
func parseEnvFile(tb testing.TB, path string, examples ...bool) []string {
	tb.Helper()
	var environ []string
	sc := bufio.NewScanner(bytes.NewReader(readFile(tb, path)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if len(examples) > 0 && examples[0] && exampleLine.MatchString(line) {
			line = strings.TrimPrefix(line, "# ")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			tb.Fatalf("%s:%d: want KEY=VALUE, got %q", path, n, line)
		}
		if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'") || strings.Contains(v, `\`) {
			tb.Fatalf("%s:%d: %s: a leading quote or a backslash means different things to systemd and docker", path, n, k)
		}
		environ = append(environ, k+"="+v)
	}
	return environ
}

// exampleLine is a commented-out setting: "# SLUICE_NAME=value", no spaces.
var exampleLine = regexp.MustCompile(`^# SLUICE_[A-Z0-9_]+=\S+$`)

// mustConfig parses environ as Sluice would, failing the test on any problem
// (a misspelt name, a bad value, RETRY not above TIMEOUT + KILL_GRACE, ...).
func mustConfig(tb testing.TB, what string, environ []string) config.Config {
	tb.Helper()
	cfg, err := config.Parse(environ)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return cfg
}

// mapEnviron turns a map into KEY=VALUE strings.
func mapEnviron(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// checkOrder fails unless every duration is strictly below the next one.
func checkOrder(tb testing.TB, what string, names []string, ds ...time.Duration) {
	tb.Helper()
	for i := 1; i < len(ds); i++ {
		if ds[i-1] >= ds[i] {
			tb.Errorf("%s: want %s (%s) < %s (%s)", what, names[i-1], ds[i-1], names[i], ds[i])
		}
	}
}

// underDir reports whether path is dir or inside it.
func underDir(path, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && filepath.IsAbs(path)
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// sluiceBinary builds the release binary once per test run, as the Dockerfile
// does (CGO_ENABLED=0, -trimpath), and returns its path.
func sluiceBinary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipped with -short: builds the sluice binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "sluice")
		cmd := exec.Command("go", "build", "-trimpath", "-o", buildPath, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildPath
}

// TestMain removes the binary built by sluiceBinary.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// TestStaticBinary checks the release build has no ELF interpreter and no
// shared libraries, so it runs on distroless/static or scratch.
func TestStaticBinary(t *testing.T) {
	bin := sluiceBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP program header: it needs a dynamic loader", bin)
		}
	}
	if s := f.Section(".interp"); s != nil {
		t.Errorf("%s has an .interp section", bin)
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s links shared libraries %v", bin, libs)
	}
}
