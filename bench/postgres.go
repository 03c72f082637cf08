package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// pgServer gives the PostgreSQL server the pg step measures on: a URL that
// connects as a user allowed to create databases, and how to let it go.
// errNoPostgres (wrapped) makes the step a skip instead of a failure.
type pgServer func() (u string, release func() error, err error)

var errNoPostgres = errors.New("no PostgreSQL server")

// envPostgres names the variable (the tests' own) that points the
// benchmark at an existing server instead of a private one.
const envPostgres = pgtest.EnvURL

// pgFrom returns the server at u when set, else a private server started
// from the installed binaries with PostgreSQL's own defaults for what the
// test server turns off (fsync, synchronous commit, full page writes, the
// 128 MB of shared buffers): a durable server, as in production.
func pgFrom(u string) pgServer {
	return func() (string, func() error, error) {
		if u != "" {
			return u, func() error { return nil }, nil
		}
		srv, err := pgtest.StartServer("fsync=on", "synchronous_commit=on", "full_page_writes=on", "shared_buffers=128MB")
		if errors.Is(err, pgtest.ErrNoBinaries) {
			return "", nil, fmt.Errorf("%w: %v (set %s or -pg)", errNoPostgres, err, envPostgres)
		}
		if err != nil {
			return "", nil, err
		}
		return srv.URL(), srv.Stop, nil
	}
}

// pgBench is the pg step's state: the server and the databases it made.
type pgBench struct {
	*bench
	admin *pgx.Conn
	base  string // the server's URL
	dbs   []string
}

// postgres measures the PostgreSQL store: enqueue one by one and in
// batches, drains with 4 and 16 workers, and the latency from another
// process's enqueue to the start of the task under `sluice run`.
func (b *bench) postgres() ([]Result, error) {
	if b.pg == nil {
		b.skipped = append(b.skipped, "pg: no server given")
		return nil, nil
	}
	u, release, err := b.pg()
	if errors.Is(err, errNoPostgres) {
		b.skipped = append(b.skipped, "pg: skipped: "+err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer release()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	p := &pgBench{bench: b, admin: admin, base: u}
	defer p.close()

	var version, fsync, commit string
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit')").
		Scan(&version, &fsync, &commit); err != nil {
		return nil, err
	}
	via := "TCP"
	if cfg, err := pgx.ParseConfig(u); err == nil && strings.HasPrefix(cfg.Host, "/") {
		via = "a Unix socket"
	}
	server := fmt.Sprintf("PostgreSQL %s, fsync=%s, synchronous_commit=%s, over %s", version, fsync, commit, via)
	rs, err := p.enqueue()
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	rs[0].Note += "; " + server
	for _, workers := range []int{4, 16} {
		r, err := p.drain(workers)
		if err != nil {
			return nil, fmt.Errorf("drain: %w", err)
		}
		rs = append(rs, r)
	}
	lat, err := p.latency()
	if err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	return append(rs, lat...), nil
}

// store creates a fresh database and opens the store on it; the URL is
// what a sluice process gets as SLUICE_DB.
func (p *pgBench) store() (*pgqueue.Store, string, error) {
	ctx := context.Background()
	name := fmt.Sprintf("sluice_bench_%d_%d", os.Getpid(), len(p.dbs)+1)
	if _, err := p.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, "", err
	}
	p.dbs = append(p.dbs, name)
	u, err := url.Parse(p.base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, "", fmt.Errorf("%q: want a postgres:// URL", p.base)
	}
	u.Path = "/" + name
	s, err := pgqueue.Open(ctx, u.String(), pgqueue.NewOpts{})
	if err != nil {
		return nil, "", err
	}
	return s, u.String(), nil
}

func (p *pgBench) close() {
	ctx := context.Background()
	for _, name := range p.dbs {
		p.admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
	}
	p.admin.Close(ctx)
}

func (p *pgBench) enqueue() ([]Result, error) {
	s, _, err := p.store()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx := context.Background()
	task := queue.EnqueueParams{Job: "echo_test", Payload: json.RawMessage(`{"n":1}`)}
	start := time.Now()
	for range p.sz.pgSingle {
		if _, err := s.Enqueue(ctx, task); err != nil {
			return nil, err
		}
	}
	single := float64(p.sz.pgSingle) / time.Since(start).Seconds()
	start = time.Now()
	if err := fill(s, p.sz.pgBatch, "echo_test", `{"n":1}`); err != nil {
		return nil, err
	}
	batch := float64(p.sz.pgBatch) / time.Since(start).Seconds()
	return []Result{
		{Name: "pg: enqueue, one task per transaction", Value: single, Unit: "tasks/s",
			Note: fmt.Sprintf("%d calls of pgqueue.Store.Enqueue", p.sz.pgSingle)},
		{Name: "pg: enqueue, batches of 10,000", Value: batch, Unit: "tasks/s",
			Note: fmt.Sprintf("%d tasks through pgqueue.Store.EnqueueMany", p.sz.pgBatch)},
	}, nil
}

func (p *pgBench) drain(workers int) (Result, error) {
	s, _, err := p.store()
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	if err := fill(s, p.sz.pgDrain, "echo_test", `{"n":1}`); err != nil {
		return Result{}, err
	}
	rate, err := drainRate(s, p.sz.pgDrain, workers)
	if err != nil {
		return Result{}, err
	}
	return Result{Name: fmt.Sprintf("pg: drain no-op tasks, %d workers", workers), Value: rate, Unit: "tasks/s",
		Note: fmt.Sprintf("%d echo_test tasks, one process, first claim to last outcome written", p.sz.pgDrain)}, nil
}

// latency starts `sluice run` (this program as sluice, with the stamp job)
// with an hour's SLUICE_POLL, so only LISTEN/NOTIFY can wake it, and from
// this process enqueues one task at a time while it waits: the time from
// the Enqueue call to the handler's start, both read on this machine's
// clock.
func (p *pgBench) latency() ([]Result, error) {
	s, u, err := p.store()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	run, ready, exited, err := startChild(u, "run")
	if err != nil {
		return nil, err
	}
	defer func() { run.Process.Signal(syscall.SIGTERM); run.Wait() }()
	select {
	case <-ready:
	case log := <-exited:
		return nil, fmt.Errorf("sluice run ended before it was ready:\n%s", log)
	case <-time.After(time.Minute):
		return nil, errors.New("sluice run did not start within a minute")
	}
	ctx := context.Background()
	var lat, calls []time.Duration
	for range p.sz.pgLatency {
		// Between samples the run is idle, waiting on its notification.
		pause := time.NewTimer(20 * time.Millisecond)
		<-pause.C
		t0 := time.Now()
		id, err := s.Enqueue(ctx, queue.EnqueueParams{Job: stampJob})
		if err != nil {
			return nil, err
		}
		calls = append(calls, time.Since(t0))
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		task, err := s.Wait(waitCtx, id, queue.WaitOpts{Interval: 5 * time.Millisecond})
		cancel()
		if err != nil {
			return nil, err
		}
		startNS, err := strconv.ParseInt(string(task.Result), 10, 64)
		if err != nil || task.State != queue.Succeeded {
			return nil, fmt.Errorf("task %d: %s, result %q", id, task.State, task.Result)
		}
		lat = append(lat, time.Unix(0, startNS).Sub(t0))
	}
	slices.Sort(lat)
	slices.Sort(calls)
	pct := func(ds []time.Duration, q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	note := fmt.Sprintf("%d tasks enqueued one at a time by another process while `sluice run` waited (SLUICE_POLL=1h); "+
		"from the Enqueue call to the handler's start; min %s, max %s; the Enqueue call itself (its commit): median %s",
		len(lat), lat[0].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), pct(calls, 0.5).Round(time.Microsecond))
	return []Result{
		{Name: "pg: enqueue → start under `sluice run`, p50", Value: ms(pct(lat, 0.50)), Unit: "ms", Note: note},
		{Name: "pg: enqueue → start under `sluice run`, p99", Value: ms(pct(lat, 0.99)), Unit: "ms"},
	}, nil
}

// childEnv marks this program started as sluice by startChild.
// (Not SLUICE_*: sluice refuses variables of its prefix it does not know.)
const childEnv = "BENCH_SLUICE_CHILD"

// stampJob is the child's extra job: its result is the time it started, in
// Unix nanoseconds.
const stampJob = "stamp"

// startChild starts this program as `sluice args...` on SLUICE_DB=db; ready
// closes once it logs that it runs until signalled; exited gets its log
// if it ends before.
func startChild(db string, args ...string) (cmd *exec.Cmd, ready <-chan struct{}, exited <-chan string, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd = exec.Command(self, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, envPostgres+"=") })
	cmd.Env = append(cmd.Env, childEnv+"=1", "SLUICE_DB="+db, "SLUICE_LOG_FORMAT=json", "SLUICE_POLL=1h")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	readyc, exitedc := make(chan struct{}), make(chan string, 1)
	go func() {
		var log strings.Builder // what it said before it was ready
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "running until signalled") {
				close(readyc)
				io.Copy(io.Discard, stderr)
				return
			}
			log.WriteString(sc.Text() + "\n")
		}
		exitedc <- log.String()
	}()
	return cmd, readyc, exitedc, nil
}

// child runs this program as sluice, with the stamp job added, and returns
// its exit code: the latency measurement's `sluice run`.
func child() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reg := jobs.NewRegistry()
	reg.Register(stampJob, func(context.Context, json.RawMessage) ([]byte, error) {
		return []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), nil
	})
	m := &cli.Main{Jobs: reg, Environ: os.Environ(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	err := m.Run(ctx, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
	}
	return cli.ExitCode(err)
}
