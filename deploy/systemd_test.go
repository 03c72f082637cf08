package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const systemdDir = "systemd"

// unit is a parsed systemd unit file: section → key → values in file order.
type unit map[string]map[string][]string

// parseUnit reads the unit file format enough to check our own files:
// sections, Key=Value lines, comments, and backslash continuations.
func parseUnit(tb testing.TB, path string) unit {
	tb.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(tb, path)))
	var cont string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line, cont = cont+" "+line, ""
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				tb.Fatalf("%s:%d: not Key=Value inside a section: %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// get returns the last value of a key (systemd's rule for single-value keys).
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// parseSpan parses a systemd time span ("15min", "180s", "1min 30s", "90").
func parseSpan(s string) (time.Duration, error) {
	units := map[string]time.Duration{
		"": time.Second, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	re := regexp.MustCompile(`^\s*(\d+)\s*([a-z]*)`)
	var total time.Duration
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("time span %q: cannot parse %q", s, rest)
		}
		n, _ := strconv.Atoi(m[1])
		u, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("time span %q: unknown unit %q", s, m[2])
		}
		total += time.Duration(n) * u
		rest = rest[len(m[0]):]
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	return total, nil
}

func mustSpan(tb testing.TB, what, s string) time.Duration {
	tb.Helper()
	d, err := parseSpan(s)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return d
}

// unitEnviron is the environment a unit gives Sluice: its Environment= lines,
// then the environment file, which systemd reads after them and lets win.
func unitEnviron(tb testing.TB, u unit) []string {
	tb.Helper()
	vars := map[string]string{}
	for _, e := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(e) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	files := u["Service"]["EnvironmentFile"]
	if !slices.Equal(files, []string{"-/etc/sluice/sluice.env"}) {
		tb.Fatalf("EnvironmentFile = %q, want -/etc/sluice/sluice.env (optional, so a missing file means defaults)", files)
	}
	for _, kv := range parseEnvFile(tb, filepath.Join(systemdDir, "sluice.env")) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return mapEnviron(vars)
}

// hardening lists settings both services must carry, with their values.
var hardening = map[string]string{
	"NoNewPrivileges":       "yes",
	"PrivateTmp":            "yes",
	"ProtectSystem":         "strict",
	"ProtectHome":           "yes",
	"UMask":                 "0077",
	"CapabilityBoundingSet": "",
	"RestrictSUIDSGID":      "yes",
	"SystemCallErrorNumber": "EPERM",
	"StateDirectory":        "sluice",
	"User":                  "sluice",
	"Group":                 "sluice",
	"KillMode":              "mixed",
	"KillSignal":            "SIGTERM",
}

func TestSystemdUnits(t *testing.T) {
	drain := parseUnit(t, filepath.Join(systemdDir, "sluice-drain.service"))
	run := parseUnit(t, filepath.Join(systemdDir, "sluice.service"))
	timer := parseUnit(t, filepath.Join(systemdDir, "sluice-drain.timer"))

	for name, u := range map[string]unit{"sluice-drain.service": drain, "sluice.service": run} {
		t.Run(name, func(t *testing.T) {
			for k, want := range hardening {
				if got, ok := u["Service"][k]; !ok || u.get("Service", k) != want {
					t.Errorf("%s=%q, want %q", k, got, want)
				}
			}
			if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
				t.Errorf("SystemCallFilter=%q, want @system-service first", f)
			}
			if u.get("Service", "DynamicUser") == "yes" {
				t.Error("DynamicUser=yes: both units must share the fixed user sluice, or the state folder is re-owned")
			}
			cfg := mustConfig(t, name+" environment", unitEnviron(t, u))
			if !underDir(cfg.DB, "/var/lib/sluice") {
				t.Errorf("SLUICE_DB=%s is outside StateDirectory /var/lib/sluice, which is the only writable place", cfg.DB)
			}
			stop := mustSpan(t, "TimeoutStopSec", u.get("Service", "TimeoutStopSec"))
			checkOrder(t, name, []string{"SLUICE_TIMEOUT", "SLUICE_SHUTDOWN_GRACE", "TimeoutStopSec"},
				cfg.Timeout, cfg.ShutdownGrace, stop)
		})
	}

	t.Run("drain", func(t *testing.T) {
		if got := drain.get("Service", "Type"); got != "oneshot" {
			t.Errorf("Type=%s, want oneshot", got)
		}
		if got := drain.get("Service", "ExecStart"); !strings.HasSuffix(got, "/sluice drain") {
			t.Errorf("ExecStart=%s, want .../sluice drain", got)
		}
		cfg := mustConfig(t, "drain environment", unitEnviron(t, drain))
		if cfg.DrainDeadline <= 0 {
			t.Error("SLUICE_DRAIN_DEADLINE is 0: a one-shot drain needs a finite deadline below TimeoutStartSec")
		}
		start := mustSpan(t, "TimeoutStartSec", drain.get("Service", "TimeoutStartSec"))
		checkOrder(t, "drain", []string{"SLUICE_DRAIN_DEADLINE + SLUICE_TIMEOUT + SLUICE_KILL_GRACE", "TimeoutStartSec"},
			cfg.DrainDeadline+cfg.Timeout+cfg.KillGrace, start)
	})

	t.Run("run", func(t *testing.T) {
		if got := run.get("Service", "ExecStart"); !strings.HasSuffix(got, "/sluice run") {
			t.Errorf("ExecStart=%s, want .../sluice run", got)
		}
		if got := run.get("Service", "Restart"); got != "on-failure" {
			t.Errorf("Restart=%s, want on-failure", got)
		}
		if got := strings.Fields(run.get("Service", "RestartPreventExitStatus")); !slices.Contains(got, "78") {
			t.Errorf("RestartPreventExitStatus=%q, want 78 (bad configuration: a restart cannot help)", got)
		}
		if got := run.get("Install", "WantedBy"); got != "multi-user.target" {
			t.Errorf("WantedBy=%s, want multi-user.target", got)
		}
		// sluice run says READY=1 and feeds the watchdog (cli/notify.go).
		if got := run.get("Service", "Type"); got != "notify" {
			t.Errorf("Type=%s, want notify: sluice run tells systemd when it is ready", got)
		}
		if got := run.get("Service", "WatchdogSec"); got == "" || got == "0" {
			t.Errorf("WatchdogSec=%q, want a period: sluice run pings it while the database answers", got)
		}
	})

	t.Run("install block enables one unit", func(t *testing.T) {
		// Copying the README's install block must not enable both the timer
		// and the service.
		readme := string(readFile(t, filepath.Join(systemdDir, "README.md")))
		for _, block := range strings.Split(readme, "```sh")[1:] {
			block, _, _ = strings.Cut(block, "```")
			var enabled []string
			for _, line := range strings.Split(block, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "sudo systemctl enable") {
					enabled = append(enabled, strings.TrimSpace(line))
				}
			}
			if len(enabled) > 1 {
				t.Errorf("one shell block enables %d units:\n%s", len(enabled), strings.Join(enabled, "\n"))
			}
		}
	})

	t.Run("timer", func(t *testing.T) {
		for k, want := range map[string]string{"Persistent": "yes", "Unit": "sluice-drain.service"} {
			if got := timer.get("Timer", k); got != want && !(want == "yes" && got == "true") {
				t.Errorf("%s=%s, want %s", k, got, want)
			}
		}
		if timer.get("Timer", "OnCalendar") == "" {
			t.Error("no OnCalendar=")
		}
		if d := mustSpan(t, "RandomizedDelaySec", timer.get("Timer", "RandomizedDelaySec")); d <= 0 {
			t.Error("RandomizedDelaySec must be positive")
		}
		if got := timer.get("Install", "WantedBy"); got != "timers.target" {
			t.Errorf("WantedBy=%s, want timers.target", got)
		}
	})
}

func TestParseSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"180s": 180 * time.Second, "15min": 15 * time.Minute, "1min 30s": 90 * time.Second,
		"90": 90 * time.Second, "2h": 2 * time.Hour, "500ms": 500 * time.Millisecond,
	} {
		if got, err := parseSpan(in); err != nil || got != want {
			t.Errorf("parseSpan(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "5 fortnights"} {
		if _, err := parseSpan(in); err == nil {
			t.Errorf("parseSpan(%q): want an error", in)
		}
	}
}

// systemdAnalyze returns the path of systemd-analyze, or skips the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd); the offline unit checks still ran")
	}
	return p
}

// unitCopies copies the units to a temporary folder with ExecStart pointing
// at the built binary, so `verify` can check the command exists.
func unitCopies(t *testing.T) string {
	t.Helper()
	bin := sluiceBinary(t)
	dir := t.TempDir()
	for _, name := range []string{"sluice-drain.service", "sluice-drain.timer", "sluice.service"} {
		b := readFile(t, filepath.Join(systemdDir, name))
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/sluice"), []byte(bin))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSystemdAnalyze(t *testing.T) {
	analyze := systemdAnalyze(t)
	dir := unitCopies(t)

	t.Run("verify", func(t *testing.T) {
		cmd := exec.Command(analyze, "verify", "sluice-drain.service", "sluice-drain.timer", "sluice.service")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})

	t.Run("calendar", func(t *testing.T) {
		timer := parseUnit(t, filepath.Join(dir, "sluice-drain.timer"))
		for _, spec := range timer["Timer"]["OnCalendar"] {
			out, err := exec.Command(analyze, "calendar", spec).CombinedOutput()
			if err != nil {
				t.Errorf("systemd-analyze calendar %q: %v\n%s", spec, err, out)
			}
		}
	})

	exposure := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`)
	for _, name := range []string{"sluice-drain.service", "sluice.service"} {
		t.Run("security/"+name, func(t *testing.T) {
			cmd := exec.Command(analyze, "security", "--offline=yes", "--no-pager", "./"+name)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			m := exposure.FindSubmatch(out)
			if m == nil {
				t.Fatalf("systemd-analyze security: %v, no score in:\n%s", err, out)
			}
			score, _ := strconv.ParseFloat(string(m[1]), 64)
			if score > 2.0 {
				t.Errorf("%s: exposure %.1f, want at most 2.0:\n%s", name, score, out)
			}
			t.Logf("%s: exposure %.1f", name, score)
		})
	}
}

// TestEnvFileExamples checks the commented-out examples in sluice.env too, so
// copying one in cannot bring a typo.
func TestEnvFileExamples(t *testing.T) {
	env := parseEnvFile(t, filepath.Join(systemdDir, "sluice.env"), true)
	cfg := mustConfig(t, "sluice.env with its examples", env)
	if len(cfg.Exec) == 0 {
		t.Error("sluice.env shows no SLUICE_EXEC_ example")
	}
}
