package jobs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/supervisor"
)

// WarmProtocol is the version of the line protocol a warm worker speaks
// (docs/warm-protocol.md). A worker announces it in its handshake line and
// receives it in EnvWarmProtocol.
const WarmProtocol = 1

// EnvWarmProtocol tells a warm worker which protocol version Sluice speaks.
const EnvWarmProtocol = "SLUICE_WARM_PROTOCOL"

// Defaults of WarmOpts.
const (
	// DefaultWarmStart is how long a new warm process may take to write its
	// handshake line.
	DefaultWarmStart = 60 * time.Second
	// warmBackoffMin and warmBackoffMax bound the pause after a process
	// failed to start, during which tasks fail at once instead of starting
	// another doomed process.
	warmBackoffMin = time.Second
	warmBackoffMax = time.Minute
)

// WarmOpts configures Warm.
type WarmOpts struct {
	// Argv is the program and its arguments, run directly (no shell).
	Argv []string
	// Env is the environment; nil means the worker's own.
	Env []string
	// Processes caps the processes alive at once (SLUICE_WORKERS); default 1.
	Processes int
	// Recycle replaces a process after it served this many tasks; 0: never.
	Recycle int
	// MaxRSS replaces a process whose resident memory, read after a task,
	// exceeds this many bytes; 0: no ceiling.
	MaxRSS int64
	// KillGrace is the time between SIGTERM and SIGKILL when a task's
	// context ends, and the time a recycled process has to exit on its own.
	KillGrace time.Duration
	// Start bounds the wait for a new process's handshake; default DefaultWarmStart.
	Start time.Duration
	// Now is the clock of the start backoff; default time.Now.
	Now func() time.Time
	// Supervisor, when set, runs each process under a supervisor of its own
	// (as Command.Supervisor does for exec jobs): everything the process
	// starts dies with it. Nil runs it in a process group of its own.
	Supervisor *supervisor.Opts
}

// Warm returns an isolated Job whose tasks are served by long-lived
// processes running opts.Argv, one task at a time per process, over the line
// protocol of docs/warm-protocol.md, and the Pool behind it, which the caller
// closes when it stops running tasks. At a task's deadline (or cancel) its
// process is killed with everything it started (its supervisor's tree, or
// its process group) and a fresh one serves the next task.
func Warm(name string, opts WarmOpts) (Job, *Pool) {
	if len(opts.Argv) == 0 || opts.Argv[0] == "" {
		panic("jobs: Warm needs a program")
	}
	p := newPool(name, opts)
	return Job{Name: name, Isolated: true, Func: p.run}, p
}

// AddWarm adds a warm job (see Warm); Close stops its processes.
func (r *Registry) AddWarm(name string, opts WarmOpts) {
	j, p := Warm(name, opts)
	r.Add(j)
	r.mu.Lock()
	r.pools = append(r.pools, p)
	r.mu.Unlock()
}

// Close stops the processes of the registry's warm jobs (Pool.Close).
func (r *Registry) Close() error {
	r.mu.RLock()
	pools := r.pools
	r.mu.RUnlock()
	var errs []error
	for _, p := range pools {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// Pool holds the warm processes of one job.
type Pool struct {
	name string
	opts WarmOpts
	// slots holds one token per process that may be alive; a task takes one
	// for as long as it runs.
	slots chan struct{}

	mu       sync.Mutex
	idle     []*warmProc
	closed   bool
	failures int       // consecutive failed starts
	retryAt  time.Time // no start before this after a failure
	lastErr  error     // the last failed start
	started  int       // processes started, for tests and logs
}

func newPool(name string, opts WarmOpts) *Pool {
	if opts.Processes < 1 {
		opts.Processes = 1
	}
	if opts.Start <= 0 {
		opts.Start = DefaultWarmStart
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Pool{name: name, opts: opts, slots: make(chan struct{}, opts.Processes)}
	for range opts.Processes {
		p.slots <- struct{}{}
	}
	return p
}

// Started returns how many processes the pool has started so far.
func (p *Pool) Started() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Close stops every process: idle ones get their stdin closed and KillGrace
// to exit, then they are killed with their process groups. Tasks still
// running keep their processes until they end; those are then stopped too.
// The error names the processes that had to be killed.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	errs := make([]error, len(idle))
	var wg sync.WaitGroup
	for i, w := range idle {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.retire(w) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// run is the Job's Func: one task on one process.
func (p *Pool) run(ctx context.Context, payload json.RawMessage) ([]byte, error) {
	select {
	case <-p.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("warm %s: no process free: %w", p.name, ctx.Err())
	}
	defer func() { p.slots <- struct{}{} }()

	w, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	info, _ := InfoFrom(ctx)
	result, err, healthy := w.serve(ctx, info, payload, p.opts.KillGrace)
	if !healthy {
		return nil, err
	}
	p.give(w)
	return result, err
}

// take returns an idle process, or starts one.
func (p *Pool) take(ctx context.Context) (*warmProc, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("warm %s: pool closed", p.name)
	}
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w, nil
	}
	if now := p.opts.Now(); now.Before(p.retryAt) {
		err := fmt.Errorf("warm %s: not starting a process for %s after %d failed starts; last: %w",
			p.name, p.retryAt.Sub(now).Round(time.Millisecond), p.failures, p.lastErr)
		p.mu.Unlock()
		return nil, err
	}
	p.started++
	p.mu.Unlock()

	w, err := startWarm(ctx, p.name, p.opts)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil { // a task's timeout is not the program's fault
			p.failures++
			p.lastErr = err
			p.retryAt = p.opts.Now().Add(backoffAfter(p.failures))
		}
		return nil, err
	}
	p.failures, p.lastErr, p.retryAt = 0, nil, time.Time{}
	return w, nil
}

// backoffAfter is the pause after n consecutive failed starts: 1s doubling to 1m.
func backoffAfter(n int) time.Duration {
	d := warmBackoffMin
	for i := 1; i < n && d < warmBackoffMax; i++ {
		d *= 2
	}
	return min(d, warmBackoffMax)
}

// give returns a process after a task, or retires it when it served its
// share (Recycle), grew too big (MaxRSS) or the pool closed.
func (p *Pool) give(w *warmProc) {
	keep := (p.opts.Recycle <= 0 || w.served < p.opts.Recycle) &&
		(p.opts.MaxRSS <= 0 || treeRSS(w.proc.pid()) <= p.opts.MaxRSS)
	p.mu.Lock()
	keep = keep && !p.closed
	if keep {
		p.idle = append(p.idle, w)
	}
	p.mu.Unlock()
	if !keep {
		go p.retire(w) //nolint:errcheck // killed if it lingers; nothing waits for it
	}
}

// retire asks a process to exit by closing its stdin, and kills it with
// what it started if it has not exited after KillGrace (and says so).
func (p *Pool) retire(w *warmProc) error {
	w.stdin.Close()
	t := time.NewTimer(p.opts.KillGrace)
	defer t.Stop()
	var err error
	select {
	case <-w.proc.done():
	case <-t.C:
		err = fmt.Errorf("warm %s: process %d killed: it did not exit within %s of its stdin closing", p.name, w.proc.pid(), p.opts.KillGrace)
	}
	w.kill(0)
	return err
}

// warmProc is one running warm process.
type warmProc struct {
	name   string
	proc   contained
	stdin  io.WriteCloser
	lines  chan []byte // stdout lines; closed at EOF or on a line too long
	stderr *lockedTail
	served int
}

// startWarm starts a process and waits for its handshake.
func startWarm(ctx context.Context, name string, opts WarmOpts) (*warmProc, error) {
	argv := opts.Argv
	if opts.Supervisor != nil {
		o := *opts.Supervisor
		o.KillGrace = opts.KillGrace
		argv = o.Argv(argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = opts.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(slices.Clip(cmd.Env), EnvWarmProtocol+"="+strconv.Itoa(WarmProtocol))
	w := &warmProc{name: name, lines: make(chan []byte), stderr: &lockedTail{t: tail{max: stderrTail}}}
	cmd.Stderr = w.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("warm %s: stdin: %w", name, err)
	}
	// An os.Pipe, not StdoutPipe: Wait must not close stdout before a
	// reply written just before an exit has been read.
	stdout, out, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("warm %s: stdout: %w", name, err)
	}
	cmd.Stdout = out
	w.stdin = stdin
	// A grandchild that escaped and holds stderr open must not keep Wait
	// from returning.
	cmd.WaitDelay = 500 * time.Millisecond
	w.proc, err = contain(cmd, opts.Supervisor != nil)
	out.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("warm %s: start %s: %w", name, opts.Argv[0], err)
	}
	go w.read(stdout)

	t := time.NewTimer(opts.Start)
	defer t.Stop()
	select {
	case line, ok := <-w.lines:
		if !ok {
			w.kill(opts.KillGrace)
			return nil, w.deathError("exited before its handshake")
		}
		var hs struct {
			Sluice int `json:"sluice"`
		}
		if err := json.Unmarshal(line, &hs); err != nil || hs.Sluice != WarmProtocol {
			w.kill(opts.KillGrace)
			return nil, fmt.Errorf("warm %s: handshake %.100q: want {\"sluice\":%d}", name, line, WarmProtocol)
		}
		return w, nil
	case <-t.C:
		w.kill(opts.KillGrace)
		return nil, fmt.Errorf("warm %s: no handshake within %s%s", name, opts.Start, w.stderrSuffix())
	case <-ctx.Done():
		w.kill(opts.KillGrace)
		return nil, fmt.Errorf("warm %s: starting: %w", name, ctx.Err())
	}
}

// read passes stdout's lines to w.lines until EOF. A line longer than a
// result may be ends the stream: the process is then out of step.
func (w *warmProc) read(stdout io.ReadCloser) {
	defer close(w.lines)
	defer stdout.Close()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), MaxResult+64<<10)
	for sc.Scan() {
		w.lines <- append([]byte(nil), sc.Bytes()...)
	}
}

// warmRequest is one task, as one line on the process's stdin.
type warmRequest struct {
	ID           int64           `json:"id"`
	Job          string          `json:"job"`
	Attempt      int             `json:"attempt"`
	Deadline     string          `json:"deadline,omitempty"`
	ScheduledFor string          `json:"scheduled_for,omitempty"`
	ScheduleID   int64           `json:"schedule_id,omitempty"`
	Payload      json.RawMessage `json:"payload"`
}

// warmReply is the process's answer, one line on its stdout.
type warmReply struct {
	ID        *int64          `json:"id"`
	OK        *bool           `json:"ok"`
	Result    json.RawMessage `json:"result"`
	Error     string          `json:"error"`
	Permanent bool            `json:"permanent"`
}

// serve sends one task and waits for its reply. healthy is false when the
// process was killed or died, and must not serve again.
func (w *warmProc) serve(ctx context.Context, info Info, payload json.RawMessage, grace time.Duration) (result []byte, err error, healthy bool) {
	w.stderr.reset()
	req := warmRequest{ID: info.TaskID, Job: info.Job, Attempt: info.Attempt, ScheduleID: info.ScheduleID, Payload: payload}
	if !info.Deadline.IsZero() {
		req.Deadline = info.Deadline.UTC().Format(time.RFC3339Nano)
	}
	if !info.ScheduledFor.IsZero() {
		req.ScheduledFor = info.ScheduledFor.UTC().Format(time.RFC3339Nano)
	}
	if req.Job == "" {
		req.Job = w.name
	}
	line, err := json.Marshal(req)
	if err != nil {
		return nil, Permanent(fmt.Errorf("warm %s: encode request: %w", w.name, err)), true
	}
	if _, err := w.stdin.Write(append(line, '\n')); err != nil {
		w.kill(grace)
		return nil, w.deathError("refused the task"), false
	}
	w.served++

	select {
	case line, ok := <-w.lines:
		if !ok {
			w.kill(grace)
			return nil, w.deathError("exited during the task"), false
		}
		return w.reply(line, req.ID, grace)
	case <-w.proc.done():
		// It may have replied just before it exited; what it left running
		// could hold stdout open, so the group goes first.
		w.kill(0)
		t := time.NewTimer(grace + time.Second)
		defer t.Stop()
		select {
		case line, ok := <-w.lines:
			if ok {
				result, err, _ := w.reply(line, req.ID, 0)
				return result, err, false
			}
		case <-t.C: // a process outside the group holds stdout
		}
		return nil, w.deathError("exited during the task"), false
	case <-ctx.Done():
		w.kill(grace)
		return nil, fmt.Errorf("warm %s: killed: %w", w.name, ctx.Err()), false
	}
}

// reply decodes a reply line into the attempt's result or error.
func (w *warmProc) reply(line []byte, id int64, grace time.Duration) ([]byte, error, bool) {
	var r warmReply
	if err := json.Unmarshal(line, &r); err != nil || r.OK == nil || r.ID == nil || *r.ID != id {
		w.kill(grace)
		return nil, fmt.Errorf("warm %s: protocol: reply %.200q: want one JSON line {\"id\":%d,\"ok\":...}%s", w.name, line, id, w.stderrSuffix()), false
	}
	if !*r.OK {
		msg := r.Error
		if msg == "" {
			msg = "failed without an error message"
		}
		if r.Permanent {
			return nil, Permanent(errors.New(msg)), true
		}
		return nil, errors.New(msg), true
	}
	if len(r.Result) == 0 {
		return []byte("null"), nil, true
	}
	return r.Result, nil, true
}

// kill stops the process and everything it started: SIGTERM, then SIGKILL
// after grace (at once when grace is 0), and waits for it.
func (w *warmProc) kill(grace time.Duration) {
	select {
	case <-w.proc.done():
	default:
		if grace > 0 {
			w.proc.term()
			t := time.NewTimer(grace + w.proc.margin())
			select {
			case <-w.proc.done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	// Whatever the process left behind goes with it.
	w.proc.kill()
	<-w.proc.done()
}

// deathError describes a process that ended (or was killed) unexpectedly,
// with the tail of its stderr. Call it after kill.
func (w *warmProc) deathError(what string) error {
	status := w.proc.status()
	return fmt.Errorf("warm %s: %s (%s)%s", w.name, what, status, w.stderrSuffix())
}

func (w *warmProc) stderrSuffix() string {
	if t := strings.TrimSpace(w.stderr.String()); t != "" {
		return ": " + t
	}
	return ""
}

// lockedTail is a tail written by the stderr copier and read by tasks.
type lockedTail struct {
	mu sync.Mutex
	t  tail
}

func (l *lockedTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Write(p)
}

func (l *lockedTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.String()
}

func (l *lockedTail) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.buf = l.t.buf[:0]
}
