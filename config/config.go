// Package config reads Sluice's settings from SLUICE_* environment variables.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/sqlitewal"
)

// Prefix starts every variable Sluice reads.
const Prefix = "SLUICE_"

// ExecPrefix starts the variables that define exec jobs: SLUICE_EXEC_<NAME>
// holds a JSON array, the program and its arguments, for the job <name>.
const ExecPrefix = Prefix + "EXEC_"

// TaskPrefix starts the variables a command receives about its task; a
// sluice started by a job (process isolation) must not mistake them for typos.
const TaskPrefix = Prefix + "TASK_"

// MinWebToken is the shortest SLUICE_WEB_TOKEN accepted: a token anyone
// who reaches the port could guess would make the actions open to them.
const MinWebToken = 16

// Config is Sluice's whole configuration. Field tags name the variables
// (without Prefix) and their defaults; the README's table mirrors them.
type Config struct {
	DB            string        `env:"DB" envDefault:"./sluice.db" help:"path of the SQLite queue file (created with its folder when missing by commands that write), or a postgres:// URL for the PostgreSQL store"`
	SharedDB      bool          `env:"SHARED_DB" envDefault:"false" help:"true: keep the queue inside another application's SQLite database (its tables are left alone); otherwise such a file is refused"`
	NetworkFS     bool          `env:"ALLOW_NETWORK_FS" envDefault:"false" help:"true: accept a database on NFS, SMB, 9p or FUSE, safe only if one machine ever opens it; otherwise refused"`
	Workers       int           `env:"WORKERS" envDefault:"4" help:"tasks run at once by one process"`
	Queues        []string      `env:"QUEUES" help:"comma-separated queues this process serves; empty serves all"`
	Timeout       time.Duration `env:"TIMEOUT" envDefault:"120s" help:"default hard timeout of a task, at most 24h (as a task's own)"`
	Retry         time.Duration `env:"RETRY" envDefault:"180s" help:"lease of a claimed task at the default timeout; must exceed TIMEOUT + KILL_GRACE"`
	KillGrace     time.Duration `env:"KILL_GRACE" envDefault:"5s" help:"time between SIGTERM and SIGKILL for a timed-out command"`
	MaxAttempts   int           `env:"MAX_ATTEMPTS" envDefault:"3" help:"default attempts per task, counting the first"`
	BackoffBase   time.Duration `env:"BACKOFF_BASE" envDefault:"10s" help:"delay before the first retry; doubles with each attempt"`
	BackoffMax    time.Duration `env:"BACKOFF_MAX" envDefault:"1h" help:"cap on the delay between retries"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" envDefault:"30s" help:"after SIGTERM/SIGINT, how long running tasks may finish before they are stopped and queued again"`
	Heartbeat     time.Duration `env:"HEARTBEAT" envDefault:"2s" help:"how often a drain or run records in the database that it is alive (and writes finished outcomes at the latest)"`
	StaleAfter    time.Duration `env:"STALE_AFTER" envDefault:"30s" help:"a worker whose last heartbeat is this old is dead: any other takes back its tasks, whatever their timeouts"`
	Sync          string        `env:"SYNC" envDefault:"full" help:"full: every commit survives power loss; normal: faster, survives process crashes but may lose the latest commits with the power"`
	DrainDeadline time.Duration `env:"DRAIN_DEADLINE" envDefault:"0s" help:"a drain stops claiming after this long; 0 means no deadline"`
	Poll          time.Duration `env:"POLL" envDefault:"1s" help:"sluice run: how often to look for tasks other processes added (in-process ones start at once)"`
	TZ            string        `env:"TZ" envDefault:"UTC" help:"IANA time zone of schedules that name none (wall-clock times of daily and longer schedules and cron lines)"`
	Schedules     string        `env:"SCHEDULES" help:"declared schedules, a JSON array (see README); set, it is the source of truth for them at drain and run start"`
	Isolation     string        `env:"ISOLATION" envDefault:"inprocess" help:"where Go handlers run: inprocess, or process (a child process killed at the timeout)"`
	KeepSucceeded queue.Keep    `env:"KEEP_SUCCEEDED" envDefault:"7d" help:"succeeded tasks kept: an age (7d, 36h), a count (10000), both (7d,10000) or forever; drain and run remove the rest"`
	KeepFailed    queue.Keep    `env:"KEEP_FAILED" envDefault:"30d" help:"failed and cancelled tasks kept (each state on its own), same form as KEEP_SUCCEEDED"`
	LogLevel      string        `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat     string        `env:"LOG_FORMAT" envDefault:"auto" help:"auto (text on a terminal, else json), text or json"`
	MetricsFile   string        `env:"METRICS_FILE" help:"after each drain, write Prometheus metrics to this .prom file for node_exporter's textfile collector; empty: off"`
	HTTPAddr      string        `env:"HTTP_ADDR" help:"sluice run: serve /metrics and /healthz on this host:port (127.0.0.1:9090, or :9090 for every interface); empty: off"`
	// WebToken turns on the web pages' actions; Vars hides its value.
	WebToken string `env:"WEB_TOKEN" secret:"true" help:"sluice web, and sluice run with HTTP_ADDR: enables the pages' actions (retry, cancel, pause, resume, run now) for requests carrying this token, at least 16 characters; empty: the pages are read-only"`

	// Per-attempt limits (issue 13): they need a writable cgroup v2 subtree.
	MemoryMax int64 `env:"MEMORY_MAX" envDefault:"0" help:"memory limit of each exec or process-isolated attempt, in bytes (its cgroup's memory.max; needs cgroup v2); 0: none"`
	PidsMax   int64 `env:"PIDS_MAX" envDefault:"0" help:"process limit of each exec or process-isolated attempt (its cgroup's pids.max; needs cgroup v2); 0: none"`

	// Warm workers (warm.go, docs/warm-protocol.md): SLUICE_WARM_<NAME>
	// defines them, these two say when a process is replaced.
	WarmRecycle int   `env:"WARM_RECYCLE" envDefault:"500" help:"a warm worker process is replaced after this many tasks (Django-Q2's recycle); 0: never"`
	WarmMaxRSS  Bytes `env:"WARM_MAX_RSS" envDefault:"0" help:"a warm worker process whose resident memory exceeds this after a task is replaced (512MiB, 1GB; Django-Q2's max_rss, which counts KiB); 0: no ceiling"`
	// Warm maps job names to the commands of their warm workers, from SLUICE_WARM_<NAME>.
	Warm map[string][]string `env:"-"`

	// Exec maps job names to the commands that run them, from SLUICE_EXEC_<NAME>.
	Exec map[string][]string `env:"-"`
	// Declared holds the schedules of SLUICE_SCHEDULES; nil when it is not
	// set, empty when it declares none.
	Declared []queue.ScheduleParams `env:"-"`
}

// ParseOpts tunes ParseWith.
type ParseOpts struct {
	// Now reads the start times of SLUICE_SCHEDULES such as "09:30".
	// Default time.Now.
	Now func() time.Time
	// KnownJob, when set, checks that a job SLUICE_SCHEDULES names exists
	// (the jobs of SLUICE_EXEC_* always do); its error is a problem.
	KnownJob func(name string) error
}

// Error lists every problem found in the environment, one per entry.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "configuration: " + strings.Join(e.Problems, "; ")
}

// Parse reads the configuration from environ (KEY=VALUE strings, as os.Environ
// returns). It reports every problem at once in an *Error: values that do not
// parse, values out of range, and SLUICE_* variables it does not know (typos).
func Parse(environ []string) (Config, error) { return ParseWith(environ, ParseOpts{}) }

// ParseWith is like Parse, with a clock for SLUICE_SCHEDULES and a check
// that the jobs it names exist.
func ParseWith(environ []string, opts ParseOpts) (Config, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var cfg Config
	var problems, failed []string
	err := env.ParseWithOptions(&cfg, env.Options{Environment: vars, Prefix: Prefix})
	var agg env.AggregateError
	switch {
	case errors.As(err, &agg):
		for _, e := range agg.Errors {
			problem, name := describe(e, vars)
			problems = append(problems, problem)
			failed = append(failed, name)
		}
	case err != nil:
		problems = append(problems, err.Error())
	}
	problems = append(problems, unknown(vars)...)
	var execProblems []string
	cfg.Exec, execProblems = parseExec(vars)
	problems = append(problems, execProblems...)
	problems = append(problems, cfg.parseWarm(vars)...)
	// Range and relation problems are listed whatever else failed, except
	// those about a variable that did not parse.
	problems = append(problems, without(append(cfg.validate(), cfg.bounds()...), failed)...)
	if cfg.Schedules != "" {
		var sp []string
		cfg.Declared, sp = ParseSchedules(cfg.Schedules, opts.Now(), cfg.Location(), cfg.knownJob(opts.KnownJob))
		if cfg.Declared == nil && len(sp) == 0 {
			cfg.Declared = []queue.ScheduleParams{} // set to []: declares that there are none
		}
		problems = append(problems, sp...)
	}
	if len(problems) > 0 {
		return cfg, &Error{Problems: problems}
	}
	return cfg, nil
}

// describe rewrites a caarlos0/env error so it names the variable and its
// value; it returns the variable's name too.
func describe(err error, vars map[string]string) (problem, name string) {
	var pe env.ParseError
	if errors.As(err, &pe) {
		key := Prefix + fieldKey(pe.Name)
		want := map[string]string{
			"int":           "a whole number",
			"bool":          "true or false (1 or 0)",
			"int64":         "a whole number",
			"time.Duration": "a duration such as 90s, 5m or 1h30m",
			"queue.Keep":    "an age such as 7d or 36h, a count such as 10000, both (7d,10000) or forever",
			"config.Bytes":  "a size such as 512MiB, 1GB or 0",
		}[pe.Type.String()]
		if want == "" {
			want = "a value of type " + pe.Type.String()
		}
		return fmt.Sprintf("%s=%q: want %s", key, vars[key], want), key
	}
	return err.Error(), ""
}

func fieldKey(name string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(name)
	if !ok {
		return name
	}
	return f.Tag.Get("env")
}

// unknown returns a problem for each SLUICE_* variable that is not a setting.
func unknown(vars map[string]string) []string {
	known := map[string]bool{}
	for _, v := range Vars() {
		known[v.Name] = true
	}
	var out []string
	for k := range vars {
		if strings.HasPrefix(k, Prefix) && !known[k] && !strings.HasPrefix(k, ExecPrefix) && !strings.HasPrefix(k, TaskPrefix) && !strings.HasPrefix(k, WarmPrefix) {
			out = append(out, fmt.Sprintf("%s: unknown variable%s", k, suggest(k)))
		}
	}
	slices.Sort(out)
	return out
}

// suggest names the known variable closest to a typo, if one is close.
func suggest(name string) string {
	best, bestD := "", 3
	for _, v := range Vars() {
		if d := distance(name, v.Name); d < bestD {
			best, bestD = v.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// distance is the Levenshtein distance, enough to catch swapped or missing letters.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// IsPostgresURL reports whether SLUICE_DB names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

func (c Config) validate() []string {
	var p []string
	if c.DB == "" {
		p = append(p, "SLUICE_DB: must not be empty")
	}
	if IsPostgresURL(c.DB) {
		if _, err := url.Parse(c.DB); err != nil {
			p = append(p, fmt.Sprintf("SLUICE_DB: not a valid PostgreSQL URL: %v", errors.Unwrap(err)))
		}
	}
	if c.Workers < 1 {
		p = append(p, fmt.Sprintf("SLUICE_WORKERS=%d: must be at least 1", c.Workers))
	}
	if c.Timeout <= 0 {
		p = append(p, fmt.Sprintf("SLUICE_TIMEOUT=%s: must be positive", c.Timeout))
	}
	if c.KillGrace < 0 {
		p = append(p, fmt.Sprintf("SLUICE_KILL_GRACE=%s: must not be negative", c.KillGrace))
	}
	if c.Retry <= c.Timeout+c.KillGrace {
		p = append(p, fmt.Sprintf("SLUICE_RETRY=%s: the lease must exceed SLUICE_TIMEOUT + SLUICE_KILL_GRACE (%s), or a task could run twice",
			c.Retry, c.Timeout+c.KillGrace))
	}
	p = append(p, c.validateHeartbeat()...)
	if !slices.Contains([]string{"full", "normal"}, c.Sync) {
		p = append(p, fmt.Sprintf("SLUICE_SYNC=%q: want full or normal", c.Sync))
	}
	if c.MaxAttempts < 1 {
		p = append(p, fmt.Sprintf("SLUICE_MAX_ATTEMPTS=%d: must be at least 1", c.MaxAttempts))
	}
	if c.BackoffBase <= 0 {
		p = append(p, fmt.Sprintf("SLUICE_BACKOFF_BASE=%s: must be positive", c.BackoffBase))
	}
	if c.BackoffMax < c.BackoffBase {
		p = append(p, fmt.Sprintf("SLUICE_BACKOFF_MAX=%s: must be at least SLUICE_BACKOFF_BASE (%s)", c.BackoffMax, c.BackoffBase))
	}
	if c.ShutdownGrace <= 0 {
		p = append(p, fmt.Sprintf("SLUICE_SHUTDOWN_GRACE=%s: must be positive", c.ShutdownGrace))
	}
	if c.DrainDeadline < 0 {
		p = append(p, fmt.Sprintf("SLUICE_DRAIN_DEADLINE=%s: must not be negative", c.DrainDeadline))
	}
	if c.Poll <= 0 {
		p = append(p, fmt.Sprintf("SLUICE_POLL=%s: must be positive", c.Poll))
	}
	if _, err := time.LoadLocation(c.TZ); err != nil || c.TZ == "" || strings.EqualFold(c.TZ, "local") {
		p = append(p, fmt.Sprintf("SLUICE_TZ=%q: want an IANA time zone such as UTC or Europe/Berlin", c.TZ))
	}
	if !slices.Contains([]string{"inprocess", "process"}, c.Isolation) {
		p = append(p, fmt.Sprintf("SLUICE_ISOLATION=%q: want inprocess or process", c.Isolation))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		p = append(p, fmt.Sprintf("SLUICE_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	if !slices.Contains([]string{"auto", "text", "json"}, c.LogFormat) {
		p = append(p, fmt.Sprintf("SLUICE_LOG_FORMAT=%q: want auto, text or json", c.LogFormat))
	}
	if c.MetricsFile != "" && !strings.HasSuffix(c.MetricsFile, ".prom") {
		p = append(p, fmt.Sprintf("SLUICE_METRICS_FILE=%q: must end in .prom (node_exporter's textfile collector reads no other files)", c.MetricsFile))
	}
	if c.HTTPAddr != "" {
		if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
			p = append(p, fmt.Sprintf("SLUICE_HTTP_ADDR=%q: want host:port such as 127.0.0.1:9090 or :9090", c.HTTPAddr))
		}
	}
	if c.MemoryMax < 0 || c.PidsMax < 0 {
		p = append(p, fmt.Sprintf("SLUICE_MEMORY_MAX=%d, SLUICE_PIDS_MAX=%d: must not be negative", c.MemoryMax, c.PidsMax))
	}
	if c.WebToken != "" && (len(c.WebToken) < MinWebToken || strings.TrimSpace(c.WebToken) != c.WebToken) {
		p = append(p, fmt.Sprintf("SLUICE_WEB_TOKEN: want at least %d characters without surrounding spaces (openssl rand -hex 16 makes one)", MinWebToken))
	}
	for _, q := range c.Queues {
		if strings.TrimSpace(q) == "" {
			p = append(p, "SLUICE_QUEUES: empty queue name in the list")
			break
		}
	}
	return p
}

// knownJob checks a job name against the exec jobs, then known.
func (c Config) knownJob(known func(string) error) func(string) error {
	if known == nil {
		return nil
	}
	return func(name string) error {
		if _, ok := c.Exec[name]; ok {
			return nil
		}
		if _, ok := c.Warm[name]; ok {
			return nil
		}
		return known(name)
	}
}

// MinHeartbeats is how many heartbeat intervals SLUICE_STALE_AFTER must span
// at least: a worker may miss two beats (a slow disk, a long pause) and live.
const MinHeartbeats = 3

// validateHeartbeat checks the heartbeat settings against each other and the
// database's busy timeout: a heartbeat can wait that long for the write lock.
func (c Config) validateHeartbeat() []string {
	var p []string
	if c.Heartbeat <= 0 {
		return append(p, fmt.Sprintf("SLUICE_HEARTBEAT=%s: must be positive", c.Heartbeat))
	}
	if c.StaleAfter < MinHeartbeats*c.Heartbeat {
		p = append(p, fmt.Sprintf("SLUICE_STALE_AFTER=%s: must be at least %d × SLUICE_HEARTBEAT (%s), or a worker that misses a beat is taken for dead",
			c.StaleAfter, MinHeartbeats, MinHeartbeats*c.Heartbeat))
	}
	if floor := c.Heartbeat + sqlitewal.DefaultBusyTimeout; c.StaleAfter <= floor {
		p = append(p, fmt.Sprintf("SLUICE_STALE_AFTER=%s: must exceed SLUICE_HEARTBEAT + %s, the longest a heartbeat waits for the database lock (%s)",
			c.StaleAfter, sqlitewal.DefaultBusyTimeout, floor))
	}
	return p
}

// LeaseMargin is how much longer than a task's timeout its lease lasts.
// It is derived from the defaults (RETRY - TIMEOUT) so a task with a longer
// timeout gets a proportionally longer lease.
func (c Config) LeaseMargin() time.Duration { return c.Retry - c.Timeout }

// Location is the zone named by TZ; Parse has checked that it loads.
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TZ)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Var describes one setting for `sluice config` and the docs.
type Var struct {
	Name, Default, Help string
	Value               string
}

// Vars lists every setting with its default and help, in declaration order.
func Vars() []Var { return Config{}.Vars() }

// Vars lists every setting with its value in c.
func (c Config) Vars() []Var {
	t := reflect.TypeFor[Config]()
	v := reflect.ValueOf(c)
	out := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("env") == "-" {
			continue
		}
		out = append(out, Var{
			Name:    Prefix + f.Tag.Get("env"),
			Default: f.Tag.Get("envDefault"),
			Help:    f.Tag.Get("help"),
			Value:   format(v.Field(i).Interface()),
		})
		if f.Tag.Get("secret") == "true" && out[len(out)-1].Value != "" {
			out[len(out)-1].Value = "(hidden)"
		}
	}
	return out
}

func format(v any) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, ",")
	case time.Duration, queue.Keep:
		return fmt.Sprint(v)
	default:
		return fmt.Sprint(v)
	}
}

// parseExec reads the SLUICE_EXEC_<NAME> variables: each a JSON array of
// strings, the program and its arguments. The job is <name> in lower case.
func parseExec(vars map[string]string) (map[string][]string, []string) {
	return parseCommands(vars, ExecPrefix, nil)
}

// parseCommands reads the variables prefix<NAME> as parseExec describes,
// except the names in skip (settings that share the prefix).
func parseCommands(vars map[string]string, prefix string, skip map[string]bool) (map[string][]string, []string) {
	exec := map[string][]string{}
	var problems []string
	keys := map[string][]string{} // job name -> the variables defining it
	for k, v := range vars {
		suffix, ok := strings.CutPrefix(k, prefix)
		if !ok || skip[k] {
			continue
		}
		name := strings.ToLower(suffix)
		if !validJobName(name) {
			problems = append(problems, fmt.Sprintf("%s: the job name %q must be letters, digits and underscores", k, name))
			continue
		}
		keys[name] = append(keys[name], k)
		var argv []string
		if err := json.Unmarshal([]byte(v), &argv); err != nil {
			problems = append(problems, fmt.Sprintf(`%s=%q: want a JSON array of strings such as ["python3","manage.py","my_command"] (%v)`, k, v, err))
			continue
		}
		if len(argv) == 0 || argv[0] == "" {
			problems = append(problems, fmt.Sprintf("%s=%q: the array must start with a program", k, v))
			continue
		}
		exec[name] = argv
	}
	// SLUICE_EXEC_X and SLUICE_EXEC_x name the same job; which one won
	// would change from start to start with the order of a map.
	for name, ks := range keys {
		if len(ks) > 1 {
			slices.Sort(ks)
			problems = append(problems, fmt.Sprintf("%s: all define the job %q; keep one", strings.Join(ks, ", "), name))
			delete(exec, name)
		}
	}
	slices.Sort(problems)
	return exec, problems
}

func validJobName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
