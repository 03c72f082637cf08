package deploy

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/sluicehq/sluice/config"
)

// flyConfig is the part of flyctl's fly.toml schema (internal/appconfig in
// superfly/flyctl) that Sluice's files use. Decoding is strict: a key not
// declared here fails the test, so a typo cannot be silently ignored by us,
// and a key that flyctl does not know cannot get in.
type flyConfig struct {
	App           string              `toml:"app"`
	PrimaryRegion string              `toml:"primary_region"`
	KillSignal    string              `toml:"kill_signal"`
	KillTimeout   any                 `toml:"kill_timeout"` // seconds (integer) or a duration string
	Build         *flyBuild           `toml:"build"`
	Env           map[string]string   `toml:"env"`
	Processes     map[string]string   `toml:"processes"`
	Mounts        []flyMount          `toml:"mounts"`
	Restart       []flyRestart        `toml:"restart"`
	VM            []flyVM             `toml:"vm"`
	Checks        map[string]flyCheck `toml:"checks"`
}

// flyCheck is a top-level (machine) check, flyctl's appconfig.ToplevelCheck.
type flyCheck struct {
	Type          string            `toml:"type"`
	Port          int               `toml:"port"`
	Method        string            `toml:"method"`
	Path          string            `toml:"path"`
	Protocol      string            `toml:"protocol"`
	TLSSkipVerify bool              `toml:"tls_skip_verify"`
	Headers       map[string]string `toml:"headers"`
	Interval      string            `toml:"interval"`
	Timeout       string            `toml:"timeout"`
	GracePeriod   string            `toml:"grace_period"`
	Processes     []string          `toml:"processes"`
}

type flyBuild struct {
	Dockerfile string `toml:"dockerfile"`
	Image      string `toml:"image"`
}

type flyMount struct {
	Source      string   `toml:"source"`
	Destination string   `toml:"destination"`
	InitialSize string   `toml:"initial_size"`
	Processes   []string `toml:"processes"`
}

type flyRestart struct {
	Policy    string   `toml:"policy"`
	Retries   int      `toml:"retries"`
	Processes []string `toml:"processes"`
}

type flyVM struct {
	Size      string   `toml:"size"`
	Memory    string   `toml:"memory"`
	CPUKind   string   `toml:"cpu_kind"`
	CPUs      int      `toml:"cpus"`
	Processes []string `toml:"processes"`
}

// flyKillTimeoutMax is Fly's cap on kill_timeout for shared-CPU Machines.
const flyKillTimeoutMax = 300 * time.Second

func decodeFly(b []byte) (flyConfig, error) {
	var c flyConfig
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	return c, err
}

func (c flyConfig) killTimeout() (time.Duration, error) {
	switch v := c.KillTimeout.(type) {
	case int64:
		return time.Duration(v) * time.Second, nil
	case string:
		return time.ParseDuration(v)
	case nil:
		return 5 * time.Second, nil // Fly's default
	}
	return 0, fmt.Errorf("kill_timeout %v: want seconds or a duration string", c.KillTimeout)
}

// groups returns the process groups a section applies to: those listed, or
// every group when none is.
func (c flyConfig) groups(listed []string) []string {
	if len(listed) > 0 {
		return listed
	}
	var all []string
	for g := range c.Processes {
		all = append(all, g)
	}
	return all
}

func TestFlyToml(t *testing.T) {
	files := []struct {
		path, command string
		postgres      bool // the queue is in PostgreSQL: SLUICE_DB is a secret, no volume
	}{
		{filepath.Join(root, "fly.toml"), "run", false},
		{filepath.Join("fly", "drain.toml"), "drain", false},
		{filepath.Join("fly", "postgres.toml"), "run", true},
	}
	for _, f := range files {
		path, command := f.path, f.command
		t.Run(path, func(t *testing.T) {
			c, err := decodeFly(readFile(t, path))
			if err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			if c.App == "" || c.PrimaryRegion == "" {
				t.Error("app and primary_region must be set")
			}
			environ := mapEnviron(c.Env)
			if f.postgres {
				if db, ok := c.Env["SLUICE_DB"]; ok {
					t.Errorf("[env] SLUICE_DB=%s: a PostgreSQL URL carries a password; set it with `fly secrets set`", db)
				}
				environ = append(environ, "SLUICE_DB="+secretDB) // what `fly secrets set` adds
			}
			cfg := mustConfig(t, "[env]", environ)

			// Shutdown: the signal is explicit and Sluice treats it as graceful;
			// the platform waits longer than Sluice's own grace.
			if c.KillSignal != "SIGTERM" && c.KillSignal != "SIGINT" {
				t.Errorf("kill_signal=%q, want SIGTERM or SIGINT set explicitly", c.KillSignal)
			}
			kill, err := c.killTimeout()
			if err != nil {
				t.Fatal(err)
			}
			checkOrder(t, path, []string{"SLUICE_TIMEOUT", "SLUICE_SHUTDOWN_GRACE", "kill_timeout"},
				cfg.Timeout, cfg.ShutdownGrace, kill)
			if kill > flyKillTimeoutMax {
				t.Errorf("kill_timeout %s: Fly caps it at %s on shared CPUs", kill, flyKillTimeoutMax)
			}

			// The process that runs `sluice <command>` is the one with the volume.
			var group string
			for g, cmd := range c.Processes {
				if strings.Fields(cmd)[0] == command {
					group = g
				}
			}
			if group == "" {
				t.Fatalf("no process runs %q: [processes] = %v", command, c.Processes)
			}
			if f.postgres {
				checkNoVolume(t, c, cfg, group)
			}
			var mounted bool
			for _, m := range c.Mounts {
				if m.Source == "" || !filepath.IsAbs(m.Destination) {
					t.Errorf("mount %+v: want a source and an absolute destination", m)
				}
				if slices.Contains(c.groups(m.Processes), group) && underDir(cfg.DB, m.Destination) {
					mounted = true
				}
			}
			if !mounted && !f.postgres {
				t.Errorf("SLUICE_DB=%s is not on a volume mounted in process %q: the queue would vanish with the Machine", cfg.DB, group)
			}

			var policy string
			for _, r := range c.Restart {
				if !slices.Contains([]string{"always", "never", "on-failure"}, r.Policy) {
					t.Errorf("restart policy %q: want always, never or on-failure", r.Policy)
				}
				if slices.Contains(c.groups(r.Processes), group) {
					policy = r.Policy
				}
			}
			switch command {
			case "drain":
				if policy != "never" {
					t.Errorf("restart policy %q for the drain: want never (a one-shot must not restart when it exits)", policy)
				}
				if cfg.DrainDeadline <= 0 {
					t.Error("SLUICE_DRAIN_DEADLINE is 0: a scheduled drain needs a finite deadline")
				}
			case "run":
				if policy != "on-failure" {
					t.Errorf("restart policy %q for run: want on-failure (a clean stop stays stopped)", policy)
				}
				checkFlyHealth(t, c, cfg, group)
			}

			var named []string
			for _, m := range c.Mounts {
				named = append(named, m.Processes...)
			}
			for _, r := range c.Restart {
				named = append(named, r.Processes...)
			}
			for _, v := range c.VM {
				named = append(named, v.Processes...)
			}
			for _, ch := range c.Checks {
				named = append(named, ch.Processes...)
			}
			for _, p := range named {
				if _, ok := c.Processes[p]; !ok {
					t.Errorf("a section names process %q, which is not in [processes]", p)
				}
			}
		})
	}
}

// secretDB stands for the PostgreSQL URL a deployment keeps in a secret
// (Fly secrets, a Kubernetes Secret), which the shipped files leave out.
const secretDB = "postgres://sluice:secret@db.internal:5432/sluice"

// checkNoVolume: workers on PostgreSQL keep nothing on the Machine, so none
// is pinned to a volume's host and any number can run.
func checkNoVolume(t *testing.T, c flyConfig, cfg config.Config, group string) {
	t.Helper()
	if !config.IsPostgresURL(cfg.DB) {
		t.Errorf("SLUICE_DB=%s: want a PostgreSQL URL", cfg.DB)
	}
	for _, m := range c.Mounts {
		if slices.Contains(c.groups(m.Processes), group) {
			t.Errorf("mount %+v in process %q: a volume pins the Machine to one host, and workers on PostgreSQL need none", m, group)
		}
	}
}

// checkFlyHealth: the run Machine serves /healthz on SLUICE_HTTP_ADDR on
// every interface (Fly's checks come over the private network) and an http
// check asks it there.
func checkFlyHealth(t *testing.T, c flyConfig, cfg config.Config, group string) {
	t.Helper()
	if cfg.HTTPAddr == "" {
		t.Error("SLUICE_HTTP_ADDR is not set: no /healthz for a check")
		return
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("SLUICE_HTTP_ADDR=%s: Fly's checks do not come over loopback; listen on every interface (:%s)", cfg.HTTPAddr, port)
	}
	var checked bool
	for name, ch := range c.Checks {
		for _, d := range []string{ch.Interval, ch.Timeout, ch.GracePeriod} {
			if _, err := time.ParseDuration(d); err != nil {
				t.Errorf("check %s: %v", name, err)
			}
		}
		if ch.Type == "http" && ch.Path == "/healthz" && strconv.Itoa(ch.Port) == port && slices.Contains(c.groups(ch.Processes), group) {
			checked = true
		}
	}
	if !checked {
		t.Errorf("no http check of /healthz on port %s for process %q: %+v", port, group, c.Checks)
	}
}

// TestFlyTomlStrict shows the decoder fails on keys flyctl would not know,
// so the check above can fail.
func TestFlyTomlStrict(t *testing.T) {
	good := readFile(t, filepath.Join(root, "fly.toml"))
	for name, extra := range map[string]string{
		"top level":  "\nkill_timout = 10\n",
		"in a table": "\n[[mounts]]\nsource = \"x\"\ndestinaton = \"/data\"\n",
		"in a check": "\n[checks.extra]\ntype = \"http\"\npth = \"/healthz\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeFly(append(bytes.Clone(good), extra...)); err == nil {
				t.Errorf("decoding fly.toml with %q: want an error", extra)
			}
		})
	}
}
