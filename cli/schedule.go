package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

const scheduleUsage = `
Usage: sluice schedule <add|list|show|rm|pause|resume> [flags] [arguments]

Manages schedules: named jobs that Sluice enqueues at due times. 'sluice drain'
fires every due schedule before it drains; 'sluice run' fires each one at its
due time. Every due time yields exactly one task, however many processes run.

Subcommands:
  add     add a schedule
  list    list schedules with their next run, in their zone and in UTC
  show    show one schedule and its next five due times
  rm      remove a schedule (its tasks stay)
  pause   stop a schedule from firing
  resume  let a paused schedule fire again, from its next due time

Run 'sluice schedule <subcommand> -h' for its flags.

Examples:
  sluice schedule add nightly report daily -start 02:30 -zone Europe/Berlin
  sluice schedule add feeds poll_feeds minutes 15
  sluice schedule list
`

func runSchedule(ctx context.Context, m *Main, args []string) error {
	subs := map[string]func(context.Context, *Main, []string) error{
		"add": scheduleAdd, "list": scheduleList, "ls": scheduleList, "show": scheduleShow,
		"rm": scheduleRemove, "pause": schedulePause, "resume": scheduleResume,
	}
	if len(args) == 0 {
		return usagef("schedule: missing subcommand (add, list, show, rm, pause or resume)")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(m.Stdout, strings.TrimLeft(scheduleUsage, "\n"))
		return errHelp
	}
	sub, ok := subs[args[0]]
	if !ok {
		return usagef("schedule: unknown subcommand %q (want add, list, show, rm, pause or resume)", args[0])
	}
	name := args[0]
	if name == "ls" {
		name = "list"
	}
	return withCmd(sub(ctx, m, args[1:]), "schedule "+name)
}

const scheduleAddUsage = `
Usage: sluice schedule add [flags] NAME JOB TYPE [VALUE]

Adds a schedule called NAME that enqueues JOB. TYPE is one of once, minutes,
hourly, daily, weekly, biweekly, monthly, bimonthly, quarterly, yearly, cron.
VALUE is the number of minutes for minutes ("15") and the line for cron
("0 9 * * 1-5", "@daily", "@every 90m", "CRON_TZ=Europe/Berlin 0 9 * * *");
other types take none.

-start fixes the first due time and, for daily and longer types, the
wall-clock time and the day of the month (monthly schedules from the 31st
clamp to shorter months' last day). Without it the schedule is due now
(cron lines other than @every follow the clock). A start in the past runs
first at its next due time after now; a once schedule runs at once. A
wall-clock start that daylight saving skips (02:30 when clocks jump from
02:00 to 03:00) runs at the shifted 03:30 that day and at 02:30 after.

-repeats N ends the schedule after N runs; -1 (the default) repeats
forever. 0 is refused: Django-Q2 reads it as "stopped"; pause instead.

Examples:
  sluice schedule add feeds poll_feeds minutes 15
  sluice schedule add nightly report daily -start 02:30 -zone Europe/Berlin \
      -payload '{"kind":"daily"}'
  sluice schedule add -start 2026-01-31T09:00 invoices monthly_invoice monthly
  sluice schedule add -catch-up all -no-overlap m send_mail cron '0 9 * * 1-5'
  sluice schedule add -start 2026-12-24T18:00:00Z -repeats 1 xmas greet once
`

func scheduleAdd(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "schedule add", scheduleAddUsage)
	var p queue.ScheduleParams
	payload := fs.String("payload", "", "task payload, JSON (default {})")
	fs.StringVar(&p.Queue, "queue", queue.DefaultQueue, "queue `name` of the tasks")
	fs.IntVar(&p.Priority, "priority", 0, "priority of the tasks, 0 or more")
	fs.IntVar(&p.MaxAttempts, "max-attempts", 0, "attempts per task (default SLUICE_MAX_ATTEMPTS)")
	durationVar(fs, &p.Timeout, "timeout", 0, "hard timeout of each attempt, a `duration` (default SLUICE_TIMEOUT)")
	start := fs.String("start", "", "first due `time`: RFC 3339, 2026-01-02 09:30 or 09:30 (in -zone); default now")
	zone := fs.String("zone", "", "IANA time `zone` of wall-clock times (default SLUICE_TZ)")
	fs.IntVar(&p.Repeats, "repeats", -1, "runs in all, then the schedule ends (-1: forever)")
	catchUp := fs.String("catch-up", "one", "after downtime fire `policy`: one (latest), all or none")
	fs.BoolVar(&p.NoOverlap, "no-overlap", false, "skip a due time while the previous run is queued or running")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 3 || fs.NArg() > 4 {
		return usagef("schedule add: want NAME JOB TYPE [VALUE], got %d arguments (quote a cron line)", fs.NArg())
	}
	if err := positive(fs, "max-attempts", p.MaxAttempts, "SLUICE_MAX_ATTEMPTS"); err != nil {
		return err
	}
	if err := positive(fs, "timeout", p.Timeout, "SLUICE_TIMEOUT"); err != nil {
		return err
	}
	if err := config.CheckRepeats(p.Repeats); err != nil {
		return usagef("schedule add: -%v", err)
	}
	p.Repeats = max(p.Repeats, 0) // -1, forever, is the store's 0
	e, err := m.env()
	if err != nil {
		return err
	}
	p.Name, p.Job = fs.Arg(0), fs.Arg(1)
	if _, err := e.jobs.Lookup(p.Job); err != nil {
		return usagef("schedule add: %v", err)
	}
	loc := e.cfg.Location()
	if *zone != "" {
		if loc, err = config.LoadZone(*zone); err != nil {
			return usagef("schedule add: -zone: %v", err)
		}
	}
	var startAt time.Time
	var clock string
	if *start != "" {
		if startAt, clock, err = config.ParseStart(*start, loc, e.now()); err != nil {
			return usagef("schedule add: -start: %v", err)
		}
	}
	typ, err := schedule.ParseType(fs.Arg(2))
	if err != nil {
		return usagef("schedule add: %v", err)
	}
	if !typ.KeepsClock() {
		clock = "" // a gap moves only the first run; other types keep no time of day
	}
	p.Spec = schedule.Spec{Type: typ, Location: loc, Start: startAt, Clock: clock}
	value := fs.Arg(3)
	switch typ {
	case schedule.Minutes:
		if _, err := fmt.Sscan(value, &p.Spec.Every); err != nil || fmt.Sprint(p.Spec.Every) != strings.TrimSpace(value) {
			return usagef("schedule add: minutes wants VALUE, a whole number of minutes; got %q", value)
		}
	case schedule.Cron:
		p.Spec.Cron = value
	default:
		if value != "" {
			return usagef("schedule add: %s takes no VALUE, got %q", typ, value)
		}
	}
	if p.CatchUp, err = schedule.ParseCatchUp(*catchUp); err != nil {
		return usagef("schedule add: -catch-up: %v", err)
	}
	if *payload != "" {
		p.Payload = []byte(*payload)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	sc, err := store.AddSchedule(ctx, p)
	if errors.Is(err, queue.ErrInvalidSchedule) || errors.Is(err, queue.ErrScheduleExists) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "added schedule %s; next run %s\n", sc.Name, nextText(sc))
	return nil
}

const scheduleListUsage = `
Usage: sluice schedule list [-json]

Lists every schedule: its job, when it is due, its next run in its own zone
and in UTC, whether it is enabled, paused or done, and where it came from
(cli: 'sluice schedule add'; env: SLUICE_SCHEDULES).

Examples:
  sluice schedule list
  SLUICE_DB=/var/lib/sluice/sluice.db sluice schedule list
  sluice schedule list -json | jq '.schedules[] | select(.state == "paused")'
`

func scheduleList(ctx context.Context, m *Main, args []string) error {
	var asJSON bool
	store, _, err := scheduleStore(ctx, m, "schedule list", scheduleListUsage, args, 0, &asJSON)
	if store == nil {
		return err
	}
	out := printer(m.Stdout)
	defer store.Close()
	list, err := store.ListSchedules(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		v := struct {
			Schedules []scheduleJSON `json:"schedules"`
		}{Schedules: []scheduleJSON{}}
		for _, sc := range list {
			v.Schedules = append(v.Schedules, toScheduleJSON(sc, 0))
		}
		return writeJSON(m.Stdout, v)
	}
	if len(list) == 0 {
		fmt.Fprintln(out, "no schedules")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tJOB\tWHEN\tNEXT RUN (ZONE)\tNEXT RUN (UTC)\tSTATE\tSOURCE")
	var broken []queue.Schedule
	for _, sc := range list {
		local, utc := "-", "-"
		if !sc.NextRun.IsZero() {
			local = sc.NextRun.In(zoneOf(sc)).Format("2006-01-02 15:04:05 MST")
			utc = sc.NextRun.UTC().Format("2006-01-02 15:04:05Z")
		}
		if sc.Err != nil {
			broken = append(broken, sc)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sc.Name, sc.Job, whenText(sc.Spec), local, utc, stateText(sc), sc.Source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(broken) > 0 {
		fmt.Fprintln(out, "\nSchedules this system cannot compute (they are paused when due; fix the zone, or remove and add them again):")
		for _, sc := range broken {
			fmt.Fprintf(out, "  %v\n", sc.Err)
		}
	}
	return nil
}

const scheduleShowUsage = `
Usage: sluice schedule show [-json] NAME

Shows everything about one schedule and its next five due times.

Examples:
  sluice schedule show nightly
  sluice schedule show -json nightly | jq '.next_runs'
`

func scheduleShow(ctx context.Context, m *Main, args []string) error {
	var asJSON bool
	store, name, err := scheduleStore(ctx, m, "schedule show", scheduleShowUsage, args, 1, &asJSON)
	if store == nil {
		return err
	}
	out := printer(m.Stdout)
	defer store.Close()
	sc, err := store.GetSchedule(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(m.Stdout, toScheduleJSON(sc, 5))
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, a...)...) }
	row("name", "%s", sc.Name)
	row("job", "%s", sc.Job)
	row("payload", "%s", sc.Payload)
	row("queue", "%s (priority %d)", sc.Queue, sc.Priority)
	row("when", "%s in %s", whenText(sc.Spec), zoneOf(sc))
	if !sc.Spec.Start.IsZero() {
		row("start", "%s", sc.Spec.Start.Format(time.RFC3339))
	}
	row("state", "%s", stateText(sc))
	if sc.Err != nil {
		row("error", "%v (times below are in UTC)", sc.Err)
	}
	row("next run", "%s", nextText(sc))
	if sc.LastRun.IsZero() {
		row("last run", "never")
	} else {
		row("last run", "%s (task %d)", sc.LastRun.Format(time.RFC3339), sc.LastTaskID)
	}
	repeats := "forever"
	switch {
	case sc.Spec.Type == schedule.Once:
		repeats = "once"
	case sc.Repeats >= 0:
		repeats = fmt.Sprintf("%d %s left", sc.Repeats, plural(sc.Repeats, "run", "runs"))
	}
	row("repeats", "%s", repeats)
	row("catch-up", "%s", sc.CatchUp)
	row("no overlap", "%t", sc.NoOverlap)
	row("source", "%s", sc.Source)
	tw.Flush()
	if times := dueTimes(sc, 5); len(times) > 0 {
		fmt.Fprintln(out, "\nnext due times:")
		for _, t := range times {
			fmt.Fprintf(out, "  %s  (%s)\n", t.In(zoneOf(sc)).Format("Mon 2006-01-02 15:04:05 MST"), t.UTC().Format("2006-01-02 15:04:05Z"))
		}
	}
	return nil
}

const scheduleRemoveUsage = `
Usage: sluice schedule rm NAME

Removes a schedule. Tasks it already enqueued stay. A schedule declared in
SLUICE_SCHEDULES comes back at the next drain or run start unless it is also
removed from there.

Examples:
  sluice schedule rm nightly
`

func scheduleRemove(ctx context.Context, m *Main, args []string) error {
	store, name, err := scheduleStore(ctx, m, "schedule rm", scheduleRemoveUsage, args, 1, nil)
	if store == nil {
		return err
	}
	defer store.Close()
	if err := store.RemoveSchedule(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "removed schedule %s\n", name)
	return nil
}

const schedulePauseUsage = `
Usage: sluice schedule pause NAME

Stops a schedule from firing until 'sluice schedule resume'. A pause
survives restarts, including for schedules declared in SLUICE_SCHEDULES as
long as their declaration does not change.

Examples:
  sluice schedule pause nightly
`

func schedulePause(ctx context.Context, m *Main, args []string) error {
	store, name, err := scheduleStore(ctx, m, "schedule pause", schedulePauseUsage, args, 1, nil)
	if store == nil {
		return err
	}
	defer store.Close()
	if err := store.PauseSchedule(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "paused schedule %s\n", name)
	return nil
}

const scheduleResumeUsage = `
Usage: sluice schedule resume NAME

Lets a paused schedule fire again. Due times that passed while it was
paused are skipped: it next runs at its first due time after now.

Examples:
  sluice schedule resume nightly
`

func scheduleResume(ctx context.Context, m *Main, args []string) error {
	store, name, err := scheduleStore(ctx, m, "schedule resume", scheduleResumeUsage, args, 1, nil)
	if store == nil {
		return err
	}
	defer store.Close()
	sc, err := store.ResumeSchedule(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "resumed schedule %s; next run %s\n", sc.Name, nextText(sc))
	return nil
}

// scheduleStore parses the flags of a subcommand that takes nargs arguments
// and opens the store; it returns the first argument too. A nil store comes
// with the error to return (errHelp included).
//
// With asJSON not nil, the subcommand takes -json and it is set there.
func scheduleStore(ctx context.Context, m *Main, name, usage string, args []string, nargs int, asJSON *bool) (queue.Backend, string, error) {
	fs := newFlagSet(m, name, usage)
	if asJSON != nil {
		fs.BoolVar(asJSON, "json", false, "print JSON instead of text")
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, "", err
	}
	if fs.NArg() != nargs {
		if nargs == 0 {
			return nil, "", usagef("%s takes no arguments, got %q", name, fs.Args())
		}
		return nil, "", usagef("%s: want one NAME, got %q", name, fs.Args())
	}
	readOnly := name == "schedule list" || name == "schedule show"
	_, store, err := m.open(ctx, readOnly)
	if err != nil {
		return nil, "", err
	}
	return store, fs.Arg(0), nil
}

func whenText(s schedule.Spec) string {
	switch s.Type {
	case schedule.Minutes:
		return fmt.Sprintf("every %d minutes", s.Every)
	case schedule.Cron:
		return "cron " + s.Cron
	}
	return string(s.Type)
}

func stateText(sc queue.Schedule) string {
	switch {
	case sc.Err != nil:
		return "error"
	case sc.NextRun.IsZero():
		return "done"
	case !sc.Enabled:
		return "paused"
	}
	return "enabled"
}

func nextText(sc queue.Schedule) string {
	if sc.NextRun.IsZero() {
		return "none (the schedule is done)"
	}
	return fmt.Sprintf("%s (%s)", sc.NextRun.In(zoneOf(sc)).Format("2006-01-02 15:04:05 MST"), sc.NextRun.UTC().Format(time.RFC3339))
}

// zoneOf is the zone a schedule's times are shown in: a cron line's
// CRON_TZ or TZ prefix when it has one, else the schedule's zone.
func zoneOf(sc queue.Schedule) *time.Location {
	if sc.Err != nil {
		return sc.Spec.Location
	}
	return sc.Spec.Zone()
}

// scheduleJSON is a schedule as -json prints it. Times are RFC 3339 in UTC
// and omitted when unset; next_run_local is the same instant in the
// schedule's zone; durations are milliseconds.
type scheduleJSON struct {
	Name         string       `json:"name"`
	Job          string       `json:"job"`
	Payload      any          `json:"payload"`
	Queue        string       `json:"queue"`
	Priority     int          `json:"priority"`
	MaxAttempts  int          `json:"max_attempts,omitempty"` // 0: SLUICE_MAX_ATTEMPTS
	TimeoutMS    int64        `json:"timeout_ms,omitempty"`   // 0: SLUICE_TIMEOUT
	Type         string       `json:"type"`
	Every        int          `json:"every,omitempty"`
	Cron         string       `json:"cron,omitempty"`
	Zone         string       `json:"zone"`
	Start        *time.Time   `json:"start,omitempty"`
	State        string       `json:"state"` // enabled, paused, done or error
	NextRun      *time.Time   `json:"next_run,omitempty"`
	NextRunLocal string       `json:"next_run_local,omitempty"`
	LastRun      *time.Time   `json:"last_run,omitempty"`
	LastTaskID   int64        `json:"last_task_id,omitempty"`
	RunsLeft     *int         `json:"runs_left"` // null: forever
	CatchUp      string       `json:"catch_up"`
	NoOverlap    bool         `json:"no_overlap"`
	Source       queue.Source `json:"source"`
	Error        string       `json:"error,omitempty"`
	NextRuns     []time.Time  `json:"next_runs,omitempty"` // show: the next due times, UTC
}

// toScheduleJSON converts sc, with its next n due times.
func toScheduleJSON(sc queue.Schedule, n int) scheduleJSON {
	v := scheduleJSON{Name: sc.Name, Job: sc.Job, Payload: rawOrString(sc.Payload), Queue: sc.Queue,
		Priority: sc.Priority, MaxAttempts: sc.MaxAttempts, TimeoutMS: sc.Timeout.Milliseconds(),
		Type: string(sc.Spec.Type), Every: sc.Spec.Every, Cron: sc.Spec.Cron, Zone: zoneOf(sc).String(),
		Start: timePtr(sc.Spec.Start), State: stateText(sc), NextRun: timePtr(sc.NextRun),
		LastRun: timePtr(sc.LastRun), LastTaskID: sc.LastTaskID, CatchUp: string(sc.CatchUp),
		NoOverlap: sc.NoOverlap, Source: sc.Source}
	if !sc.NextRun.IsZero() {
		v.NextRunLocal = sc.NextRun.In(zoneOf(sc)).Format(time.RFC3339)
	}
	if sc.Repeats >= 0 {
		left := sc.Repeats
		v.RunsLeft = &left
	}
	if sc.Err != nil {
		v.Error = sc.Err.Error()
	}
	for _, t := range dueTimes(sc, n) {
		v.NextRuns = append(v.NextRuns, t.UTC())
	}
	return v
}

// dueTimes returns the schedule's next n due times, fewer when it ends.
func dueTimes(sc queue.Schedule, n int) []time.Time {
	var out []time.Time
	t := sc.NextRun
	for i := 0; i < n && !t.IsZero(); i++ {
		if sc.Repeats >= 0 && i >= sc.Repeats {
			break
		}
		out = append(out, t)
		t = sc.Spec.Next(t)
	}
	return out
}
