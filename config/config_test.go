package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/worker"
)

func TestDefaults(t *testing.T) {
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "./sluice.db" || cfg.Timeout != 120*time.Second || cfg.Retry != 180*time.Second || cfg.Workers != 4 ||
		cfg.Sync != "full" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestEveryProblemReported(t *testing.T) {
	_, err := config.Parse([]string{
		"SLUICE_WORKERS=abc",
		"SLUICE_TIMEOUT=soon",
		"SLUICE_WORKRES=2",
		"PATH=/bin",
	})
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v; want *config.Error", err)
	}
	want := []string{
		`SLUICE_WORKERS="abc": want a whole number`,
		`SLUICE_TIMEOUT="soon": want a duration`,
		`SLUICE_WORKRES: unknown variable (did you mean SLUICE_WORKERS?)`,
	}
	if len(cerr.Problems) != len(want) {
		t.Fatalf("problems = %q; want %d", cerr.Problems, len(want))
	}
	for _, w := range want {
		found := false
		for _, p := range cerr.Problems {
			if strings.Contains(p, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem contains %q in %q", w, cerr.Problems)
		}
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"retry not above timeout", []string{"SLUICE_TIMEOUT=60s", "SLUICE_RETRY=60s"}, "SLUICE_RETRY=1m0s: the lease must exceed"},
		{"retry inside kill grace", []string{"SLUICE_TIMEOUT=60s", "SLUICE_KILL_GRACE=10s", "SLUICE_RETRY=65s"}, "SLUICE_RETRY=1m5s"},
		{"zero workers", []string{"SLUICE_WORKERS=0"}, "SLUICE_WORKERS=0: must be at least 1"},
		{"zero heartbeat", []string{"SLUICE_HEARTBEAT=0s"}, "SLUICE_HEARTBEAT=0s: must be positive"},
		{"stale within three beats", []string{"SLUICE_HEARTBEAT=10s", "SLUICE_STALE_AFTER=25s"}, "SLUICE_STALE_AFTER=25s: must be at least 3 × SLUICE_HEARTBEAT"},
		{"stale within the busy timeout", []string{"SLUICE_HEARTBEAT=1s", "SLUICE_STALE_AFTER=5s"}, "SLUICE_STALE_AFTER=5s: must exceed SLUICE_HEARTBEAT + 5s"},
		{"bad sync", []string{"SLUICE_SYNC=off"}, `SLUICE_SYNC="off": want full or normal`},
		{"bad level", []string{"SLUICE_LOG_LEVEL=loud"}, `SLUICE_LOG_LEVEL="loud"`},
		{"bad format", []string{"SLUICE_LOG_FORMAT=xml"}, `SLUICE_LOG_FORMAT="xml"`},
		{"backoff max below base", []string{"SLUICE_BACKOFF_BASE=1m", "SLUICE_BACKOFF_MAX=10s"}, "SLUICE_BACKOFF_MAX=10s"},
		{"zero attempts", []string{"SLUICE_MAX_ATTEMPTS=0"}, "SLUICE_MAX_ATTEMPTS=0"},
		{"http addr without port", []string{"SLUICE_HTTP_ADDR=127.0.0.1"}, `SLUICE_HTTP_ADDR="127.0.0.1": want host:port`},
		{"http addr empty port", []string{"SLUICE_HTTP_ADDR=localhost:"}, `SLUICE_HTTP_ADDR="localhost:"`},
		{"http addr url", []string{"SLUICE_HTTP_ADDR=http://0.0.0.0:9090"}, `SLUICE_HTTP_ADDR="http://0.0.0.0:9090"`},
		{"malformed postgres url", []string{"SLUICE_DB=postgres://db:port/app"}, "SLUICE_DB: not a valid PostgreSQL URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestPostgresURL: SLUICE_DB takes a postgres:// or postgresql:// URL (the
// PostgreSQL store) as well as a path.
func TestPostgresURL(t *testing.T) {
	for _, db := range []string{"postgres://app@db.internal/app", "postgresql:///app?host=/run/postgresql"} {
		cfg, err := config.Parse([]string{"SLUICE_DB=" + db})
		if err != nil || cfg.DB != db || !config.IsPostgresURL(cfg.DB) {
			t.Errorf("SLUICE_DB=%s: %v, %v; want accepted as a PostgreSQL URL", db, cfg.DB, err)
		}
	}
	if config.IsPostgresURL("./postgres/sluice.db") {
		t.Error("a path counts as a PostgreSQL URL")
	}
}

func TestHTTPAddr(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9090", ":9090", "[::1]:9090", "localhost:http"} {
		cfg, err := config.Parse([]string{"SLUICE_HTTP_ADDR=" + addr})
		if err != nil || cfg.HTTPAddr != addr {
			t.Errorf("SLUICE_HTTP_ADDR=%s: %q, %v", addr, cfg.HTTPAddr, err)
		}
	}
	if def, _ := config.Parse(nil); def.HTTPAddr != "" {
		t.Errorf("default SLUICE_HTTP_ADDR = %q; want off", def.HTTPAddr)
	}
}

func TestExecJobs(t *testing.T) {
	cfg, err := config.Parse([]string{`SLUICE_EXEC_VALIDATE_CEDULA=["python3","manage.py","validate_cedula"]`, "SLUICE_TASK_ID=7"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Exec["validate_cedula"]; len(got) != 3 || got[2] != "validate_cedula" {
		t.Errorf("Exec = %q", cfg.Exec)
	}
	_, err = config.Parse([]string{`SLUICE_EXEC_A=python3 x.py`, `SLUICE_EXEC_B=[]`, `SLUICE_EXEC_C-D=["x"]`})
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 3 {
		t.Fatalf("err = %v; want 3 problems", err)
	}
	for i, want := range []string{"SLUICE_EXEC_A=", "SLUICE_EXEC_B=", "SLUICE_EXEC_C-D"} {
		if !strings.HasPrefix(cerr.Problems[i], want) {
			t.Errorf("problem %d = %q; want it to start with %q", i, cerr.Problems[i], want)
		}
	}
}

func TestVarsListsEverySetting(t *testing.T) {
	cfg, _ := config.Parse([]string{"SLUICE_WORKERS=7"})
	for _, v := range cfg.Vars() {
		if v.Help == "" {
			t.Errorf("%s has no help text", v.Name)
		}
		if v.Name == "SLUICE_WORKERS" && v.Value != "7" {
			t.Errorf("SLUICE_WORKERS value = %q; want 7", v.Value)
		}
	}
}

func TestScheduleSettings(t *testing.T) {
	cfg, err := config.Parse([]string{"SLUICE_TZ=Europe/Berlin", "SLUICE_POLL=250ms", `SLUICE_SCHEDULES=[]`})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Location().String() != "Europe/Berlin" || cfg.Poll != 250*time.Millisecond || cfg.Schedules != "[]" {
		t.Errorf("cfg = %+v", cfg)
	}
	if def, _ := config.Parse(nil); def.Location() != time.UTC || def.Poll != time.Second || def.Schedules != "" {
		t.Errorf("defaults = %+v; want UTC, 1s, no declared schedules", def)
	}
	_, err = config.Parse([]string{"SLUICE_TZ=Mars/Base", "SLUICE_POLL=0s"})
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 2 ||
		!strings.Contains(cerr.Problems[0], "SLUICE_POLL") || !strings.Contains(cerr.Problems[1], `SLUICE_TZ="Mars/Base"`) {
		t.Errorf("err = %v; want problems with SLUICE_POLL and SLUICE_TZ", err)
	}
}

// TestReadmeDocumentsEveryVariable keeps the README's configuration table in
// step with Config: every variable, with its default where it has one.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`SLUICE_") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
		}
	}
	for _, v := range config.Vars() {
		def, ok := rows[v.Name]
		switch {
		case !ok:
			t.Errorf("README's configuration table has no row for %s", v.Name)
		case v.Default != "" && strings.TrimSuffix(v.Default, "s") != "0" && def != "`"+v.Default+"`":
			t.Errorf("README: %s defaults to %s; config says %q", v.Name, def, v.Default)
		}
	}
}

func TestKeepSettings(t *testing.T) {
	cfg, err := config.Parse([]string{"SLUICE_KEEP_SUCCEEDED=1000"})
	if err != nil || cfg.KeepSucceeded != (queue.Keep{Count: 1000}) || cfg.KeepFailed != (queue.Keep{Age: 30 * 24 * time.Hour}) {
		t.Errorf("Parse = %+v, %v", cfg, err)
	}
	_, err = config.Parse([]string{"SLUICE_KEEP_FAILED=week"})
	if err == nil || !strings.Contains(err.Error(), `SLUICE_KEEP_FAILED="week": want an age such as 7d`) {
		t.Errorf("bad KEEP_FAILED: err = %v", err)
	}
}

func TestBounds(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"SLUICE_WORKERS=100000000", "SLUICE_WORKERS=100000000: must be at most 4096"},
		{"SLUICE_MAX_ATTEMPTS=1000000", "SLUICE_MAX_ATTEMPTS=1000000: must be at most 1000"},
		{"SLUICE_SHUTDOWN_GRACE=100000h", "SLUICE_SHUTDOWN_GRACE=100000h0m0s: must be at most"},
		{"SLUICE_DRAIN_DEADLINE=9000h", "SLUICE_DRAIN_DEADLINE=9000h0m0s: must be at most"},
		{"SLUICE_POLL=1ns", "SLUICE_POLL=1ns: must be at least 10ms"},
		{"SLUICE_TIMEOUT=25h", "SLUICE_TIMEOUT=25h0m0s: must be at most 24h0m0s, the longest timeout a task may carry"},
		{"SLUICE_KEEP_SUCCEEDED=99999999999", `SLUICE_KEEP_SUCCEEDED="99999999999"`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			_, err := config.Parse([]string{tc.env})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestParseErrorHidesNoOtherProblem: a value that does not parse is listed
// beside the range and enum problems of the others, and adds no problem
// about the zero its field was left with.
func TestParseErrorHidesNoOtherProblem(t *testing.T) {
	_, err := config.Parse([]string{"SLUICE_WORKERS=abc", "SLUICE_LOG_LEVEL=loud", "SLUICE_MAX_ATTEMPTS=0", "SLUICE_TIMEOUT=soon"})
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v; want *config.Error", err)
	}
	want := []string{`SLUICE_WORKERS="abc"`, `SLUICE_TIMEOUT="soon"`, `SLUICE_LOG_LEVEL="loud"`, "SLUICE_MAX_ATTEMPTS=0"}
	if len(cerr.Problems) != len(want) {
		t.Fatalf("problems = %q; want exactly %q", cerr.Problems, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no problem contains %q in %q", w, cerr.Problems)
		}
	}
}

func TestExecNamesDifferingInCaseAreRefused(t *testing.T) {
	cfg, err := config.Parse([]string{`SLUICE_EXEC_REPORT=["true"]`, `SLUICE_EXEC_report=["false"]`, `SLUICE_EXEC_OTHER=["true"]`})
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 1 ||
		cerr.Problems[0] != `SLUICE_EXEC_REPORT, SLUICE_EXEC_report: all define the job "report"; keep one` {
		t.Fatalf("err = %v; want one problem naming both variables", err)
	}
	if _, ok := cfg.Exec["report"]; ok {
		t.Error("one of the two definitions was kept")
	}
}

func TestCheckPrograms(t *testing.T) {
	script := filepath.Join(t.TempDir(), "not-executable.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]string{
		`SLUICE_EXEC_OK=["sh","-c","true"]`,
		`SLUICE_EXEC_MISSING=["sluice-no-such-program-xyz"]`,
		`SLUICE_EXEC_SCRIPT=["` + script + `"]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckPrograms()
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 2 ||
		!strings.Contains(cerr.Problems[0], `SLUICE_EXEC_MISSING: program "sluice-no-such-program-xyz"`) ||
		!strings.Contains(cerr.Problems[1], `SLUICE_EXEC_SCRIPT: program "`+script+`"`) {
		t.Fatalf("err = %v; want the missing and the unexecutable program named", err)
	}
}

func TestScheduleProblemsListedWithTheOthers(t *testing.T) {
	_, err := config.Parse([]string{"SLUICE_WORKERS=abc", `SLUICE_SCHEDULES=[{"name":"a","job":"j","type":"hourly","evry":5},{"name":"b","job":"j","type":"weekly-ish"}]`})
	for _, want := range []string{`SLUICE_WORKERS="abc"`, `SLUICE_SCHEDULES[0] ("a"): json: unknown field "evry"`, `SLUICE_SCHEDULES[1] ("b"): unknown schedule type`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want it to contain %q", err, want)
		}
	}
}

// TestDefaultsAgreeWithWorker: the settings' defaults (the envDefault tags)
// and the worker's own, for callers that leave an option zero, are one set.
func TestDefaultsAgreeWithWorker(t *testing.T) {
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"SLUICE_TIMEOUT", cfg.Timeout, worker.DefaultTimeout},
		{"SLUICE_RETRY - SLUICE_TIMEOUT", cfg.LeaseMargin(), worker.DefaultLeaseMargin},
		{"SLUICE_MAX_ATTEMPTS", cfg.MaxAttempts, worker.DefaultMaxAttempts},
		{"SLUICE_BACKOFF_BASE", cfg.BackoffBase, worker.DefaultBackoffBase},
		{"SLUICE_BACKOFF_MAX", cfg.BackoffMax, worker.DefaultBackoffMax},
		{"SLUICE_SHUTDOWN_GRACE", cfg.ShutdownGrace, worker.DefaultShutdownGrace},
		{"SLUICE_HEARTBEAT", cfg.Heartbeat, worker.DefaultHeartbeat},
		{"SLUICE_STALE_AFTER", cfg.StaleAfter, worker.DefaultStaleAfter},
	} {
		if c.got != c.want {
			t.Errorf("%s defaults to %v; the worker's default is %v", c.name, c.got, c.want)
		}
	}
}

func TestWebToken(t *testing.T) {
	if _, err := config.Parse([]string{"SLUICE_WEB_TOKEN=short"}); err == nil || !strings.Contains(err.Error(), "SLUICE_WEB_TOKEN") {
		t.Errorf("a short token: %v; want a problem naming SLUICE_WEB_TOKEN", err)
	}
	cfg, err := config.Parse([]string{"SLUICE_WEB_TOKEN=0123456789abcdef0123"})
	if err != nil || cfg.WebToken != "0123456789abcdef0123" {
		t.Fatalf("token: %q, %v", cfg.WebToken, err)
	}
	for _, v := range cfg.Vars() {
		if v.Name == "SLUICE_WEB_TOKEN" && v.Value != "(hidden)" {
			t.Errorf("Vars shows the token as %q; want (hidden)", v.Value)
		}
	}
}
