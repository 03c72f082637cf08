package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/queue"
)

const statusUsage = `
Usage: sluice status [flags]

Shows the queue at a glance: tasks per queue and state, how long the oldest
due task of each queue has waited, the live workers with the age of their
last heartbeat and the tasks each holds, the running tasks, failures in the
last hour and day, tasks finished per minute over the last hour (one
character a minute, oldest first), and the next runs of the enabled
schedules (the soonest five, in each schedule's zone and in UTC).

Examples:
  sluice status
  sluice status -json | jq '.queues[] | select(.counts.failed > 0)'
  watch -n 5 sluice status
`

// maxScheduleRuns is how many upcoming schedule runs status shows;
// 'sluice schedule list' shows them all.
const maxScheduleRuns = 5

// scheduleRun is the next run of an enabled schedule.
type scheduleRun struct {
	Schedule string    `json:"schedule"`
	Job      string    `json:"job"`
	At       time.Time `json:"at"`       // UTC
	Zone     string    `json:"zone"`     // the schedule's zone
	AtLocal  time.Time `json:"at_local"` // the same instant in the schedule's zone
}

// nextScheduleRuns returns the next runs of the enabled schedules, soonest
// first, at most maxScheduleRuns, and how many more are left out. Schedules
// this system cannot compute are left out with a warning on warn.
func nextScheduleRuns(ctx context.Context, store queue.Backend, warn io.Writer) ([]scheduleRun, int, error) {
	list, err := store.ListSchedules(ctx)
	if err != nil {
		return nil, 0, err
	}
	var runs []scheduleRun
	for _, sc := range list {
		if sc.Err != nil {
			fmt.Fprintf(warn, "sluice: warning: left out of the next schedule runs: %v\n", sc.Err)
			continue
		}
		if !sc.Enabled || sc.NextRun.IsZero() {
			continue // paused or done
		}
		runs = append(runs, scheduleRun{Schedule: sc.Name, Job: sc.Job, At: sc.NextRun.UTC(),
			Zone: sc.NextRun.Location().String(), AtLocal: sc.NextRun})
	}
	slices.SortStableFunc(runs, func(a, b scheduleRun) int { return a.At.Compare(b.At) }) // ties stay by name
	if len(runs) > maxScheduleRuns {
		return runs[:maxScheduleRuns], len(runs) - maxScheduleRuns, nil
	}
	return runs, 0, nil
}

// statusJSON is sluice status -json.
type statusJSON struct {
	Now            time.Time      `json:"now"`
	Queues         []queueJSON    `json:"queues"`
	Totals         map[string]int `json:"totals"`
	Workers        []workerJSON   `json:"workers"`
	Running        []runningJSON  `json:"running"`
	FailedLastHour int            `json:"failed_last_hour"`
	FailedLastDay  int            `json:"failed_last_day"`
	DonePerMinute  []int          `json:"done_per_minute"`    // the last 60 minutes, oldest first
	NextSchedules  []scheduleRun  `json:"next_schedule_runs"` // soonest first, at most maxScheduleRuns
	MoreSchedules  int            `json:"more_schedules"`     // enabled schedules left out of next_schedule_runs
}

type queueJSON struct {
	Queue           string         `json:"queue"`
	Counts          map[string]int `json:"counts"`
	OldestDueWaitMS int64          `json:"oldest_due_wait_ms"` // 0 when nothing is due
}

// workerJSON is a registered worker. A dead one (stale) is still listed
// until the next claim by any worker takes its tasks back and removes it.
type workerJSON struct {
	ID            string    `json:"id"`
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	Command       string    `json:"command"`
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	HeartbeatAt   time.Time `json:"heartbeat_at"`
	HeartbeatAgeS float64   `json:"heartbeat_age_s"`
	Dead          bool      `json:"dead"`  // heartbeat older than its stale limit
	Tasks         []int64   `json:"tasks"` // running tasks it holds
}

type runningJSON struct {
	ID         int64      `json:"id"`
	Job        string     `json:"job"`
	Queue      string     `json:"queue"`
	Attempt    int        `json:"attempt"`
	Worker     string     `json:"worker"`
	StartedAt  time.Time  `json:"started_at"`
	LeaseUntil *time.Time `json:"lease_until,omitempty"` // only an unregistered worker's tasks have leases
}

func runStatus(ctx context.Context, m *Main, args []string) error {
	fs := newFlagSet(m, "status", statusUsage)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status takes no arguments, got %q", fs.Args())
	}
	_, store, err := m.openReader(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.Status(ctx)
	if err != nil {
		return err
	}
	workers, err := store.Workers(ctx)
	if err != nil {
		return err
	}
	runs, more, err := nextScheduleRuns(ctx, store, printer(m.Stderr))
	if err != nil {
		return err
	}
	if *asJSON {
		v := statusToJSON(st, workers, runs)
		v.MoreSchedules = more
		return writeJSON(m.Stdout, v)
	}
	printStatus(printer(m.Stdout), st, workers, runs, more)
	return nil
}

func statusToJSON(st queue.Status, workers []queue.WorkerInfo, runs []scheduleRun) statusJSON {
	v := statusJSON{
		Now: st.Now.UTC(), Queues: []queueJSON{}, Totals: countsJSON(nil), Workers: []workerJSON{}, Running: []runningJSON{},
		FailedLastHour: st.FailedLastHour, FailedLastDay: st.FailedLastDay,
		DonePerMinute: st.DonePerMinute[:], NextSchedules: runs,
	}
	if v.NextSchedules == nil {
		v.NextSchedules = []scheduleRun{}
	}
	for _, q := range st.Queues {
		v.Queues = append(v.Queues, queueJSON{Queue: q.Queue, Counts: countsJSON(q.Counts), OldestDueWaitMS: q.Wait(st.Now).Milliseconds()})
		for s, n := range q.Counts {
			v.Totals[string(s)] += n
		}
	}
	for _, w := range workers {
		tasks := w.Tasks
		if tasks == nil {
			tasks = []int64{}
		}
		v.Workers = append(v.Workers, workerJSON{ID: w.ID, Host: w.Host, PID: w.PID, Command: w.Command, Version: w.Version,
			StartedAt: w.StartedAt.UTC(), HeartbeatAt: w.HeartbeatAt.UTC(), HeartbeatAgeS: st.Now.Sub(w.HeartbeatAt).Seconds(),
			Dead: w.Stale(st.Now), Tasks: tasks})
	}
	for _, t := range st.Running {
		v.Running = append(v.Running, runningJSON{ID: t.ID, Job: t.Job, Queue: t.Queue, Attempt: t.Attempt,
			Worker: t.Worker, StartedAt: t.StartedAt.UTC(), LeaseUntil: timePtr(t.LeaseUntil)})
	}
	return v
}

func printStatus(w io.Writer, st queue.Status, workers []queue.WorkerInfo, runs []scheduleRun, more int) {
	if len(st.Queues) == 0 {
		fmt.Fprintln(w, "no tasks")
	} else {
		header := []string{"QUEUE"}
		for _, s := range queue.States {
			header = append(header, strings.ToUpper(string(s)))
		}
		rows := [][]string{append(header, "OLDEST DUE")}
		total := map[queue.State]int{}
		for _, q := range st.Queues {
			r := []string{clip(q.Queue, 16)}
			for _, s := range queue.States {
				r = append(r, fmt.Sprint(q.Counts[s]))
				total[s] += q.Counts[s]
			}
			wait := "-"
			if !q.OldestDue.IsZero() {
				wait = "waited " + compact(q.Wait(st.Now))
			}
			rows = append(rows, append(r, wait))
		}
		if len(st.Queues) > 1 {
			r := []string{"(all)"}
			for _, s := range queue.States {
				r = append(r, fmt.Sprint(total[s]))
			}
			rows = append(rows, append(r, ""))
		}
		table(w, rows, []int{1, 2, 3, 4, 5})
	}

	printWorkers(w, workers, st.Now)
	running := 0
	for _, q := range st.Queues {
		running += q.Counts[queue.Running]
	}
	if running > 0 {
		fmt.Fprintf(w, "\nRunning (%d", running)
		if running > len(st.Running) {
			fmt.Fprintf(w, ", the %d that started first", len(st.Running))
		}
		fmt.Fprintln(w, "):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tJOB\tTRY\tSTARTED\tLEASE\tWORKER")
		for _, t := range st.Running {
			lease := "-" // a registered worker's task: held while it heartbeats
			switch {
			case t.LeaseUntil.IsZero():
			case t.LeaseUntil.After(st.Now):
				lease = "expires " + ago(t.LeaseUntil, st.Now)
			default:
				lease = "expired " + ago(t.LeaseUntil, st.Now)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%d\t%s\t%s\t%s\n", t.ID, clip(t.Job, 16), t.Attempt, ago(t.StartedAt, st.Now),
				lease, clip(t.Worker, 24))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nFailed: %d in the last hour, %d in the last day\n", st.FailedLastHour, st.FailedLastDay)
	done := 0
	for _, n := range st.DonePerMinute {
		done += n
	}
	fmt.Fprintf(w, "Done in the last hour: %d (%.1f a minute)", done, float64(done)/60)
	if done > 0 {
		fmt.Fprintf(w, "; per minute, oldest first:\n  %s", sparkline(st.DonePerMinute[:]))
	}
	fmt.Fprintln(w)
	if len(runs) > 0 {
		fmt.Fprintln(w, "\nNext schedule runs:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SCHEDULE\tJOB\tNEXT RUN (ZONE)\tUTC\tDUE")
		for _, r := range runs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", clip(r.Schedule, 14), clip(r.Job, 14),
				r.AtLocal.Format("2006-01-02 15:04 MST"), r.At.Format("01-02 15:04"), ago(r.At, st.Now))
		}
		tw.Flush()
		if more > 0 {
			fmt.Fprintf(w, "  and %d more: sluice schedule list\n", more)
		}
	}
}

// printWorkers lists the registered workers with their heartbeat age and
// the tasks each holds.
func printWorkers(w io.Writer, workers []queue.WorkerInfo, now time.Time) {
	if len(workers) == 0 {
		return
	}
	fmt.Fprintf(w, "\nWorkers (%d):\n", len(workers))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  WORKER\tCOMMAND\tPID\tVERSION\tHEARTBEAT\tTASKS")
	for _, wk := range workers {
		beat := compact(max(now.Sub(wk.HeartbeatAt), 0)) + " ago"
		if wk.Stale(now) {
			beat += " (dead: the next claim takes its tasks back)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", clip(wk.ID, 32), wk.Command, wk.PID, clip(wk.Version, 12), beat, taskList(wk.Tasks))
	}
	tw.Flush()
}

// taskList writes task ids, the first few of a long list.
func taskList(ids []int64) string {
	const most = 8
	if len(ids) == 0 {
		return "-"
	}
	parts := make([]string, 0, most+1)
	for _, id := range ids[:min(len(ids), most)] {
		parts = append(parts, fmt.Sprint(id))
	}
	if len(ids) > most {
		parts = append(parts, fmt.Sprintf("and %d more", len(ids)-most))
	}
	return strings.Join(parts, " ")
}

// sparkline draws counts as block characters scaled to the largest.
func sparkline(counts []int) string {
	const bars = ".▁▂▃▄▅▆▇█" // "." is a minute with nothing done
	blocks := []rune(bars)
	top := 0
	for _, n := range counts {
		top = max(top, n)
	}
	var b strings.Builder
	for _, n := range counts {
		i := 0
		if n > 0 {
			i = 1 + n*(len(blocks)-2)/max(top, 1)
		}
		b.WriteRune(blocks[min(i, len(blocks)-1)])
	}
	return b.String()
}
