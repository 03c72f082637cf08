package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// instruction is one Dockerfile instruction: its keyword and the rest of the line.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
	Line int
}

// parseDockerfile splits a Dockerfile into instructions, joining backslash
// continuations and dropping comments (no engine runs here to build it).
func parseDockerfile(tb testing.TB, b []byte) []instruction {
	tb.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		tb.Fatalf("Dockerfile ends inside a continued line (from line %d)", start)
	}
	return out
}

// stages splits instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.Cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument, or returns ok=false.
func execForm(args string) ([]string, bool) {
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil || len(v) == 0 {
		return nil, false
	}
	return v, true
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, readFile(t, filepath.Join(root, "Dockerfile")))
	st := stages(ins)
	if len(st) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(st))
	}
	build, final := st[0], st[len(st)-1]

	t.Run("build stage", func(t *testing.T) {
		var goBuild string
		for _, in := range build {
			if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
				goBuild = in.Args
			}
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
			if !strings.Contains(goBuild, want) {
				t.Errorf("the go build step lacks %s: %q", want, goBuild)
			}
		}
	})

	t.Run("final stage", func(t *testing.T) {
		base := strings.Fields(final[0].Args)[0]
		if base != "scratch" && !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(base) {
			t.Errorf("final stage FROM %s, want scratch or gcr.io/distroless/static...:nonroot", base)
		}
		last := map[string]instruction{}
		var env, volumes, copies []string
		for _, in := range final {
			last[in.Cmd] = in
			switch in.Cmd {
			case "ENV":
				env = append(env, in.Args)
			case "VOLUME":
				v, ok := execForm(in.Args)
				if !ok {
					v = strings.Fields(in.Args)
				}
				volumes = append(volumes, v...)
			case "COPY":
				copies = append(copies, in.Args)
			}
		}

		user, group, _ := strings.Cut(last["USER"].Args, ":")
		uid, err := strconv.Atoi(user)
		if err != nil || uid == 0 {
			t.Errorf("USER %q: want a numeric non-root uid (Kubernetes runAsNonRoot can only check numbers)", last["USER"].Args)
		}
		if gid, err := strconv.Atoi(group); group != "" && (err != nil || gid == 0) {
			t.Errorf("USER %q: want a numeric non-root gid", last["USER"].Args)
		}

		if !slices.Contains(volumes, "/data") {
			t.Errorf("VOLUME %v, want /data", volumes)
		}
		var db string
		for _, e := range env {
			if k, v, _ := strings.Cut(e, "="); k == "SLUICE_DB" {
				db = v
			}
		}
		if !underDir(db, "/data") {
			t.Errorf("ENV SLUICE_DB=%q, want a file under the /data volume", db)
		}
		// The image's default command is the long-running `run`: it serves
		// /metrics and /healthz on the port it EXPOSEs, on every interface.
		var addr string
		for _, e := range env {
			if k, v, _ := strings.Cut(e, "="); k == "SLUICE_HTTP_ADDR" {
				addr = v
			}
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || !strings.HasPrefix(addr, ":") ||
			!slices.Contains(strings.Fields(last["EXPOSE"].Args), port) {
			t.Errorf("ENV SLUICE_HTTP_ADDR=%q with EXPOSE %q: want :PORT on every interface, the port exposed", addr, last["EXPOSE"].Args)
		}
		if !slices.ContainsFunc(copies, func(c string) bool {
			return strings.Contains(c, "--chown="+last["USER"].Args) && strings.HasSuffix(c, " /data")
		}) {
			t.Errorf("no COPY --chown=%s ... /data: a fresh named volume would be owned by root and unwritable", last["USER"].Args)
		}

		entry, ok := execForm(last["ENTRYPOINT"].Args)
		if !ok {
			t.Fatalf("ENTRYPOINT %q: want exec form, so signals reach sluice and not a shell", last["ENTRYPOINT"].Args)
		}
		if !slices.ContainsFunc(copies, func(c string) bool { return strings.HasSuffix(c, " "+entry[0]) }) {
			t.Errorf("ENTRYPOINT %s is not a file the final stage copies in", entry[0])
		}
		if cmd, ok := execForm(last["CMD"].Args); !ok || !slices.Contains([]string{"run", "drain"}, cmd[0]) {
			t.Errorf("CMD %q: want exec form naming run or drain", last["CMD"].Args)
		}
		if sig := last["STOPSIGNAL"].Args; sig != "SIGTERM" && sig != "SIGINT" {
			t.Errorf("STOPSIGNAL %q, want SIGTERM (or SIGINT): the signals Sluice stops gracefully on", sig)
		}
		if _, ok := last["SHELL"]; ok {
			t.Error("SHELL in the final stage: there is no shell in it")
		}
	})

	t.Run("docker run examples", func(t *testing.T) {
		// Docker's default stop timeout (10 s) is less than the shipped
		// shutdown grace: every example sets --stop-timeout above it.
		cfg := mustConfig(t, "sluice.env", parseEnvFile(t, filepath.Join(systemdDir, "sluice.env")))
		stop := regexp.MustCompile(`--stop-timeout[ =](\d+)`)
		var n int
		for _, src := range []string{"Dockerfile", "README.md"} {
			for _, line := range strings.Split(string(readFile(t, filepath.Join(root, src))), "\n") {
				if !strings.Contains(line, "docker run") {
					continue
				}
				n++
				m := stop.FindStringSubmatch(line)
				if m == nil {
					t.Errorf("%s: %q has no --stop-timeout", src, strings.TrimSpace(line))
					continue
				}
				secs, _ := strconv.Atoi(m[1])
				checkOrder(t, src, []string{"SLUICE_SHUTDOWN_GRACE", "--stop-timeout"}, cfg.ShutdownGrace, time.Duration(secs)*time.Second)
			}
		}
		if n < 2 {
			t.Errorf("%d docker run examples found; want the Dockerfile's and the README's", n)
		}
	})

	t.Run("dockerignore", func(t *testing.T) {
		lines := strings.Fields(string(readFile(t, filepath.Join(root, ".dockerignore"))))
		for _, want := range []string{".git", "**/*.db", "**/*.db-wal"} {
			if !slices.Contains(lines, want) {
				t.Errorf(".dockerignore lacks %s", want)
			}
		}
		for _, need := range []string{"go.mod", "go.sum", "*.go", "queue"} {
			if slices.Contains(lines, need) || slices.Contains(lines, "/"+need) {
				t.Errorf(".dockerignore excludes %s, which the build needs", need)
			}
		}
	})
}

func TestParseDockerfile(t *testing.T) {
	got := parseDockerfile(t, []byte("# c\nFROM a AS b\nRUN x \\\n  y\n\nUSER 1:2\n"))
	want := []instruction{{"FROM", "a AS b", 2}, {"RUN", "x  y", 3}, {"USER", "1:2", 6}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
