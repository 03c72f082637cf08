package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/queue"
	"github.com/sluicehq/sluice/schedule"
)

// noon is a round start for schedule tests.
var noon = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

func every10(name string) queue.ScheduleParams {
	return queue.ScheduleParams{Name: name, Job: "tick", Payload: []byte(`{"n":1}`),
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: noon}}
}

func mustAddSchedule(tb testing.TB, s queue.Backend, p queue.ScheduleParams) queue.Schedule {
	tb.Helper()
	sc, err := s.AddSchedule(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return sc
}

func mustFire(tb testing.TB, s queue.Backend) []queue.Firing {
	tb.Helper()
	f, err := s.FireDue(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func testScheduleCRUD(t *testing.T, h *Harness) {
	clk := &clock{t: noon.Add(-time.Hour)}
	s := h.open(t, clk)
	ctx := context.Background()
	ny, _ := time.LoadLocation("America/New_York")
	p := queue.ScheduleParams{Name: "report", Job: "report", Queue: "slow", Priority: 3, MaxAttempts: 2,
		Timeout: time.Minute, Spec: schedule.Spec{Type: schedule.Daily, Location: ny,
			Start: time.Date(2026, 1, 2, 9, 30, 0, 0, ny)}, CatchUp: schedule.CatchUpAll, NoOverlap: true}
	sc := mustAddSchedule(t, s, p)
	if !sc.NextRun.Equal(p.Spec.Start) || sc.Repeats != -1 || !sc.Enabled || sc.Source != queue.SourceCLI ||
		sc.Spec.Location.String() != "America/New_York" || string(sc.Payload) != "{}" || sc.CatchUp != schedule.CatchUpAll {
		t.Errorf("added = %+v", sc)
	}
	if _, err := s.AddSchedule(ctx, p); !errors.Is(err, queue.ErrScheduleExists) {
		t.Errorf("second add err = %v; want ErrScheduleExists", err)
	}
	got, err := s.GetSchedule(ctx, "report")
	if err != nil || got.Spec.Type != schedule.Daily || got.Timeout != time.Minute || !got.NoOverlap || got.MaxAttempts != 2 {
		t.Fatalf("get = %+v, %v", got, err)
	}
	bad := []queue.ScheduleParams{
		{Name: "", Job: "x", Spec: schedule.Spec{Type: schedule.Hourly}},
		{Name: "a b", Job: "x", Spec: schedule.Spec{Type: schedule.Hourly}},
		{Name: "never", Job: "x", Spec: schedule.Spec{Type: schedule.Cron, Cron: "0 0 30 2 *"}},
		{Name: "tz", Job: "x", Spec: schedule.Spec{Type: schedule.Cron, Cron: "TZ=UTC"}},
		{Name: "payload", Job: "x", Payload: []byte("{"), Spec: schedule.Spec{Type: schedule.Hourly}},
		{Name: "policy", Job: "x", CatchUp: "some", Spec: schedule.Spec{Type: schedule.Hourly}},
		{Name: "repeats", Job: "x", Repeats: -2, Spec: schedule.Spec{Type: schedule.Hourly}},
	}
	for _, b := range bad {
		if _, err := s.AddSchedule(ctx, b); !errors.Is(err, queue.ErrInvalidSchedule) {
			t.Errorf("add %q: err = %v; want ErrInvalidSchedule", b.Name, err)
		}
	}
	mustAddSchedule(t, s, queue.ScheduleParams{Name: "a-cron", Job: "x", Spec: schedule.Spec{Type: schedule.Cron, Cron: "*/5 * * * *"}})
	list, err := s.ListSchedules(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "a-cron" || !list[0].Spec.Start.IsZero() ||
		!list[0].NextRun.Equal(clk.Now()) { // 11:00 matches: a due time at the current second counts
		t.Fatalf("list = %+v, %v", list, err)
	}
	if err := s.RemoveSchedule(ctx, "a-cron"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSchedule(ctx, "a-cron"); !errors.Is(err, queue.ErrScheduleNotFound) {
		t.Errorf("second remove err = %v; want ErrScheduleNotFound", err)
	}
	if _, err := s.GetSchedule(ctx, "a-cron"); !errors.Is(err, queue.ErrScheduleNotFound) {
		t.Errorf("get removed err = %v; want ErrScheduleNotFound", err)
	}
}

func testScheduleFirstRun(t *testing.T, h *Harness) {
	clk := &clock{t: noon.Add(90 * time.Second)}
	s := h.open(t, clk)
	tests := []struct {
		name string
		spec schedule.Spec
		want time.Time
	}{
		{"no start is now", schedule.Spec{Type: schedule.Minutes, Every: 10}, noon.Add(90 * time.Second)},
		{"future start", schedule.Spec{Type: schedule.Daily, Start: noon.Add(time.Hour)}, noon.Add(time.Hour)},
		{"past start skips to the next due time", schedule.Spec{Type: schedule.Minutes, Every: 10, Start: noon.Add(-time.Hour)}, noon.Add(10 * time.Minute)},
		{"cron", schedule.Spec{Type: schedule.Cron, Cron: "@hourly"}, noon.Add(time.Hour)},
		{"once in the past is due at once, as in Django-Q2", schedule.Spec{Type: schedule.Once, Start: noon}, noon},
		{"@every without a start is due now", schedule.Spec{Type: schedule.Cron, Cron: "@every 7m"}, noon.Add(90 * time.Second)},
		{"CRON_TZ @every without a start is due now", schedule.Spec{Type: schedule.Cron, Cron: "CRON_TZ=Asia/Tokyo @every 7m"}, noon.Add(90 * time.Second)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := mustAddSchedule(t, s, queue.ScheduleParams{Name: fmt.Sprint("s", i), Job: "x", Spec: tt.spec})
			if !sc.NextRun.Equal(tt.want) {
				t.Errorf("next run = %v; want %v", sc.NextRun, tt.want)
			}
		})
	}
}

// testCatchUpAfterAnHour is the acceptance case: an every-10-minutes schedule
// last fired at 12:00, and the next firing happens at 13:05.
func testCatchUpAfterAnHour(t *testing.T, h *Harness) {
	tests := []struct {
		policy schedule.CatchUp
		want   []time.Time
	}{
		{schedule.CatchUpOne, []time.Time{noon.Add(60 * time.Minute)}},
		{schedule.CatchUpAll, []time.Time{noon.Add(10 * time.Minute), noon.Add(20 * time.Minute), noon.Add(30 * time.Minute),
			noon.Add(40 * time.Minute), noon.Add(50 * time.Minute), noon.Add(60 * time.Minute)}},
		{schedule.CatchUpNone, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			t.Parallel()
			clk := &clock{t: noon}
			s := h.open(t, clk)
			ctx := context.Background()
			p := every10("ten")
			p.CatchUp = tt.policy
			mustAddSchedule(t, s, p)
			if f := mustFire(t, s); len(f) != 1 || len(f[0].TaskIDs) != 1 || !f[0].Times[0].Equal(noon) {
				t.Fatalf("first firing = %+v; want one task for 12:00", f)
			}
			clk.Advance(65 * time.Minute)
			f := mustFire(t, s)
			if len(f) != 1 || len(f[0].Times) != len(tt.want) || f[0].Dropped != 6-len(tt.want) {
				t.Fatalf("firing = %+v; want %d times, %d dropped", f, len(tt.want), 6-len(tt.want))
			}
			for i, id := range f[0].TaskIDs {
				task, err := s.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if !task.ScheduledFor.Equal(tt.want[i]) || task.ScheduleID == 0 || task.Job != "tick" ||
					string(task.Payload) != `{"n":1}` || !task.RunAt.Equal(clk.Now()) {
					t.Errorf("task %d = %+v; want scheduled for %v", i, task, tt.want[i])
				}
			}
			counts, _ := s.Counts(ctx)
			if counts[queue.Queued] != 1+len(tt.want) {
				t.Errorf("queued = %d; want %d", counts[queue.Queued], 1+len(tt.want))
			}
			sc, _ := s.GetSchedule(ctx, "ten")
			if !sc.NextRun.Equal(noon.Add(70 * time.Minute)) {
				t.Errorf("next run = %v; want 13:10", sc.NextRun)
			}
			if f := mustFire(t, s); len(f) != 0 {
				t.Errorf("firing again at once = %+v; want nothing", f)
			}
		})
	}
}

// testFireDueConcurrently fires the same due schedules from ten stores on one
// database (as ten processes open it) at once: every due time must yield
// exactly one task.
func testFireDueConcurrently(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	stores := make([]queue.Backend, 10)
	stores[0] = h.open(t, clk)
	for i := 1; i < len(stores); i++ {
		stores[i] = h.Again(t, stores[0], clk.Now)
	}
	for _, name := range []string{"a", "b", "c"} {
		p := every10(name)
		p.CatchUp = schedule.CatchUpAll
		mustAddSchedule(t, stores[0], p)
	}
	for round := range 3 {
		clk.Advance(time.Duration(round*17) * time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, len(stores))
		for _, s := range stores {
			wg.Go(func() {
				if _, err := s.FireDue(context.Background()); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// Rounds at 12:00, 12:17 and 12:51: due times 12:00 through 12:50, six per schedule.
	n := h.sql(t, stores[0], `SELECT count(*) FROM tasks`)
	distinct := h.sql(t, stores[0], `SELECT count(DISTINCT schedule_id || '@' || scheduled_for) FROM tasks`)
	if n != 18 || distinct != 18 {
		t.Errorf("tasks = %d, distinct due times = %d; want 18 and 18", n, distinct)
	}
}

func testNoOverlap(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	p := every10("serial")
	p.NoOverlap = true
	p.CatchUp = schedule.CatchUpAll
	mustAddSchedule(t, s, p)
	first := mustFire(t, s)[0].TaskIDs[0]

	clk.Advance(10 * time.Minute)
	if f := mustFire(t, s); len(f) != 1 || len(f[0].TaskIDs) != 0 || !f[0].Overlap || f[0].Dropped != 1 {
		t.Fatalf("firing while the first run is queued = %+v; want a skipped overlap", f)
	}
	res := exchange(t, s, nil, params)
	if len(res.Claimed) != 1 || res.Claimed[0].ID != first || !res.Claimed[0].ScheduledFor.Equal(noon) {
		t.Fatalf("claimed %+v; want the first run, scheduled for noon", res.Claimed)
	}
	clk.Advance(10 * time.Minute)
	if f := mustFire(t, s); len(f[0].TaskIDs) != 0 || !f[0].Overlap {
		t.Fatalf("firing while the first run is running = %+v; want a skipped overlap", f)
	}
	exchange(t, s, []queue.Outcome{{ID: first, Attempt: 1, Kind: queue.Succeed}}, queue.ClaimParams{Worker: "w1"})
	clk.Advance(30 * time.Minute) // three due times missed: no-overlap fires only the latest
	f := mustFire(t, s)
	if len(f[0].TaskIDs) != 1 || f[0].Overlap || !f[0].Times[0].Equal(noon.Add(50*time.Minute)) {
		t.Fatalf("firing after the run ended = %+v; want one task for 12:50", f)
	}
}

func testRepeats(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	p := every10("twice")
	p.Repeats = 2
	p.CatchUp = schedule.CatchUpAll
	mustAddSchedule(t, s, p)
	mustFire(t, s)
	clk.Advance(time.Hour)
	f := mustFire(t, s)
	// Catch-up all with one run left fires the earliest missed time: the
	// run that was due next; the schedule ends after it.
	if len(f[0].Times) != 1 || !f[0].Times[0].Equal(noon.Add(10*time.Minute)) {
		t.Fatalf("second firing = %+v; want only the earliest missed due time (one repeat left)", f)
	}
	sc, _ := s.GetSchedule(context.Background(), "twice")
	if sc.Repeats != 0 || !sc.NextRun.IsZero() || !sc.LastRun.Equal(noon.Add(10*time.Minute)) {
		t.Errorf("schedule = %+v; want no repeats and no next run", sc)
	}
	clk.Advance(time.Hour)
	if f := mustFire(t, s); len(f) != 0 {
		t.Errorf("firing a finished schedule = %+v", f)
	}
}

func testPauseResumeSkipsMissed(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	ctx := context.Background()
	mustAddSchedule(t, s, every10("p"))
	mustFire(t, s)
	if err := s.PauseSchedule(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if f := mustFire(t, s); len(f) != 0 {
		t.Fatalf("paused schedule fired: %+v", f)
	}
	clk.Advance(time.Minute)
	sc, err := s.ResumeSchedule(ctx, "p")
	if err != nil || !sc.NextRun.Equal(noon.Add(70*time.Minute)) {
		t.Fatalf("resumed = %+v, %v; want next run 13:10", sc, err)
	}
	if f := mustFire(t, s); len(f) != 0 {
		t.Errorf("resumed schedule fired missed times: %+v", f)
	}
	if err := s.PauseSchedule(ctx, "nope"); !errors.Is(err, queue.ErrScheduleNotFound) {
		t.Errorf("pause missing err = %v", err)
	}
}

// testSyncBesideFireDue syncs changing declarations from one store while
// another fires the same schedules and a third pauses and resumes one made
// with the CLI, as processes starting during a rolling deploy do beside
// running ones: nothing fails (on PostgreSQL, the table lock SyncSchedules
// once took deadlocked with both), and each due time still yields one task
// (a sync never writes back a next run read before a firer moved it).
func testSyncBesideFireDue(t *testing.T, h *Harness) {
	ctx := context.Background()
	clk := &clock{t: noon}
	firer := h.open(t, clk)
	syncer := h.Again(t, firer, clk.Now)
	resumer := h.Again(t, firer, clk.Now)
	mustAddSchedule(t, firer, every10("by-hand"))
	declared := func(v int) []queue.ScheduleParams {
		var ps []queue.ScheduleParams
		for i := range 20 - v%3 { // the last two come and go
			p := every10(fmt.Sprintf("env%d", i))
			p.Payload = fmt.Appendf(nil, `{"v":%d}`, v)
			p.Definition = fmt.Sprint(v)
			ps = append(ps, p)
		}
		return ps
	}
	const rounds = 60
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range rounds {
			clk.Advance(time.Hour)
			if _, err := firer.FireDue(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for v := range rounds {
			if _, err := syncer.SyncSchedules(ctx, declared(v)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range rounds {
			err := resumer.PauseSchedule(ctx, "by-hand")
			if err == nil {
				_, err = resumer.ResumeSchedule(ctx, "by-hand")
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	clk.Advance(time.Hour)
	mustFire(t, firer) // so that there are tasks, however the loops interleaved
	n := h.sql(t, firer, `SELECT count(*) FROM tasks`)
	distinct := h.sql(t, firer, `SELECT count(DISTINCT schedule_id || '@' || scheduled_for) FROM tasks`)
	if n == 0 || n != distinct {
		t.Errorf("tasks = %d, distinct due times = %d; want as many, more than 0", n, distinct)
	}
}

func testSyncSchedules(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	ctx := context.Background()
	mustAddSchedule(t, s, every10("by-hand"))
	env := func(name, def string, every int) queue.ScheduleParams {
		return queue.ScheduleParams{Name: name, Job: "x", Definition: def, Spec: schedule.Spec{Type: schedule.Minutes, Every: every}}
	}
	res, err := s.SyncSchedules(ctx, []queue.ScheduleParams{env("a", "a1", 10), env("b", "b1", 10)})
	if err != nil || len(res.Added) != 2 {
		t.Fatalf("first sync = %+v, %v", res, err)
	}
	mustFire(t, s) // both fire at 12:00 (no start: now)
	if err := s.PauseSchedule(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Minute)
	// a unchanged (keeps its pause and next run); b's payload changes (keeps its start); c is new.
	bChanged := env("b", "b2", 10)
	bChanged.Payload = []byte(`{"v":2}`)
	res, err = s.SyncSchedules(ctx, []queue.ScheduleParams{env("a", "a1", 10), bChanged, env("c", "c1", 5)})
	if err != nil || len(res.Added) != 1 || len(res.Updated) != 1 || len(res.Removed) != 0 {
		t.Fatalf("second sync = %+v, %v", res, err)
	}
	a, _ := s.GetSchedule(ctx, "a")
	b, _ := s.GetSchedule(ctx, "b")
	if a.Enabled || !a.NextRun.Equal(noon.Add(10*time.Minute)) {
		t.Errorf("a = %+v; want still paused, next 12:10", a)
	}
	if string(b.Payload) != `{"v":2}` || !b.Spec.Start.Equal(noon) || !b.NextRun.Equal(noon.Add(10*time.Minute)) {
		t.Errorf("b = %+v; want new payload, same start and next run", b)
	}
	// Timing change re-anchors; dropping a and c removes them; the CLI schedule stays.
	res, err = s.SyncSchedules(ctx, []queue.ScheduleParams{env("b", "b3", 15)})
	if err != nil || len(res.Removed) != 2 || len(res.Updated) != 1 {
		t.Fatalf("third sync = %+v, %v", res, err)
	}
	b, _ = s.GetSchedule(ctx, "b")
	if !b.NextRun.Equal(noon.Add(15*time.Minute)) || b.Spec.Every != 15 {
		t.Errorf("b = %+v; want every 15 from its start, next 12:15", b)
	}
	list, _ := s.ListSchedules(ctx)
	if len(list) != 2 || list[0].Name != "b" || list[1].Name != "by-hand" {
		t.Errorf("schedules after sync = %v; want b and by-hand", list)
	}
	if _, err := s.SyncSchedules(ctx, []queue.ScheduleParams{env("by-hand", "x", 10)}); !errors.Is(err, queue.ErrScheduleExists) {
		t.Errorf("sync over a CLI schedule err = %v; want ErrScheduleExists", err)
	}
	if _, err := s.SyncSchedules(ctx, []queue.ScheduleParams{env("d", "1", 10), env("d", "2", 10)}); !errors.Is(err, queue.ErrInvalidSchedule) {
		t.Errorf("sync with a duplicate name err = %v; want ErrInvalidSchedule", err)
	}
	if _, err := s.SyncSchedules(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListSchedules(ctx); len(list) != 1 {
		t.Errorf("after an empty sync: %d schedules; want only the CLI one", len(list))
	}
}

func testNextWakeupAndEnqueued(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	ctx := context.Background()
	wake := func(queues ...string) time.Time {
		t.Helper()
		w, err := s.NextWakeup(ctx, queues)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := wake(); !w.IsZero() {
		t.Errorf("empty store wakeup = %v; want zero", w)
	}
	ch := s.Enqueued()
	select {
	case <-ch:
		t.Fatal("Enqueued closed before any enqueue")
	default:
	}
	mustEnqueue(t, s, queue.EnqueueParams{Job: "x", Queue: "other", RunAt: noon.Add(time.Minute)})
	select {
	case <-ch:
	default:
		t.Fatal("Enqueued not closed by Enqueue")
	}
	p := every10("s")
	p.Spec.Start = noon.Add(30 * time.Minute)
	mustAddSchedule(t, s, p)
	if w := wake(); !w.Equal(noon.Add(time.Minute)) {
		t.Errorf("wakeup = %v; want the queued task at 12:01", w)
	}
	if w := wake("default"); !w.Equal(noon.Add(30 * time.Minute)) {
		t.Errorf("wakeup for queue default = %v; want the schedule at 12:30", w)
	}
	mustEnqueue(t, s, queue.EnqueueParams{Job: "y"})
	exchange(t, s, nil, params) // claims y, leased until 12:01:30
	if w := wake("default"); !w.Equal(noon.Add(90 * time.Second)) {
		t.Errorf("wakeup = %v; want the lease expiry at 12:01:30", w)
	}
	ch = s.Enqueued()
	clk.Advance(30 * time.Minute)
	mustFire(t, s)
	select {
	case <-ch:
	default:
		t.Fatal("Enqueued not closed by FireDue")
	}
}

// testUnknownZone: a stored zone this system cannot load (a copied database,
// an older tzdata) marks that one schedule; the others list, sync and fire.
func testUnknownZone(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	ctx := context.Background()
	mustAddSchedule(t, s, every10("bad"))
	mustAddSchedule(t, s, every10("good"))
	env := every10("declared")
	env.Definition = "v1"
	if _, err := s.SyncSchedules(ctx, []queue.ScheduleParams{env}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE schedules SET zone = 'Mars/Olympus' WHERE name = 'bad'`,
		`UPDATE schedules SET cron = 'CRON_TZ=Mars/Olympus 0 9 * * *', type = 'cron', every = 0 WHERE name = 'declared'`,
	} {
		h.sql(t, s, q)
	}

	list, err := s.ListSchedules(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 3 {
		t.Fatalf("listed %d schedules; want 3", len(list))
	}
	for _, sc := range list {
		if bad := sc.Name != "good"; (sc.Err != nil) != bad {
			t.Errorf("%s: Err = %v; want an error: %t", sc.Name, sc.Err, bad)
		}
	}
	if !errors.Is(list[0].Err, queue.ErrUnknownZone) || list[0].Spec.Location != time.UTC {
		t.Errorf("bad: Err = %v, location %v; want ErrUnknownZone and UTC", list[0].Err, list[0].Spec.Location)
	}
	if sc, err := s.GetSchedule(ctx, "bad"); err != nil || sc.Err == nil {
		t.Errorf("get bad = %v, %v; want the schedule with its Err", sc.Err, err)
	}

	// The declaration still syncs: unchanged is left alone.
	if _, err := s.SyncSchedules(ctx, []queue.ScheduleParams{env}); err != nil {
		t.Errorf("sync with an unloadable schedule stored: %v", err)
	}

	fired := mustFire(t, s)
	byName := map[string]queue.Firing{}
	for _, f := range fired {
		byName[f.Schedule] = f
	}
	if f := byName["good"]; len(f.TaskIDs) != 1 || f.Err != nil {
		t.Errorf("good fired %+v; want one task", f)
	}
	for _, name := range []string{"bad", "declared"} {
		if f := byName[name]; f.Err == nil || len(f.TaskIDs) != 0 {
			t.Errorf("%s fired %+v; want an error and no task", name, f)
		}
		if sc, _ := s.GetSchedule(ctx, name); sc.Enabled {
			t.Errorf("%s still enabled after its firing failed", name)
		}
	}
	if _, err := s.ResumeSchedule(ctx, "bad"); !errors.Is(err, queue.ErrUnknownZone) {
		t.Errorf("resume bad err = %v; want ErrUnknownZone", err)
	}
}

// testNextWakeupAcrossPriorities: the earliest queued task may have any
// priority; the skip scan over priorities must find it.
func testNextWakeupAcrossPriorities(t *testing.T, h *Harness) {
	s := h.open(t, &clock{t: noon})
	ctx := context.Background()
	for i, p := range []struct {
		priority int
		in       time.Duration
		queue    string
	}{{9, 5 * time.Hour, "a"}, {5, 3 * time.Hour, "a"}, {0, 2 * time.Hour, "b"}, {0, 4 * time.Hour, "a"}, {2, 6 * time.Hour, "a"}} {
		mustEnqueue(t, s, queue.EnqueueParams{Job: fmt.Sprint("x", i), Priority: p.priority, RunAt: noon.Add(p.in), Queue: p.queue})
	}
	for _, tt := range []struct {
		queues []string
		want   time.Duration
	}{{nil, 2 * time.Hour}, {[]string{"a"}, 3 * time.Hour}, {[]string{"b"}, 2 * time.Hour}, {[]string{"c"}, 0}} {
		w, err := s.NextWakeup(ctx, tt.queues)
		if err != nil {
			t.Fatal(err)
		}
		if want := noon.Add(tt.want); tt.want == 0 && !w.IsZero() || tt.want != 0 && !w.Equal(want) {
			t.Errorf("NextWakeup(%v) = %v; want noon + %s", tt.queues, w, tt.want)
		}
	}
}

// testStartInGapKeepsClock: a daily start that daylight saving skips is
// stored with the time of day it was declared at (Spec.Clock), and a cron
// line's CRON_TZ zone is the zone its times come back in.
func testStartInGapKeepsClock(t *testing.T, h *Harness) {
	s := h.open(t, &clock{t: noon})
	ctx := context.Background()
	ny, _ := time.LoadLocation("America/New_York")
	start, wall := schedule.Wall(2027, time.March, 14, 2, 30, 0, ny)
	mustAddSchedule(t, s, queue.ScheduleParams{Name: "gap", Job: "x",
		Spec: schedule.Spec{Type: schedule.Daily, Location: ny, Start: start, Clock: wall}})
	got, err := s.GetSchedule(ctx, "gap")
	if err != nil {
		t.Fatal(err)
	}
	second := got.Spec.Next(got.NextRun)
	if got.Spec.Clock != "02:30:00" || !got.NextRun.Equal(start) || !second.Equal(time.Date(2027, 3, 15, 6, 30, 0, 0, time.UTC)) {
		t.Errorf("clock %q, next runs %v, %v; want 02:30:00, 03:30 EDT, then 02:30 EDT", got.Spec.Clock, got.NextRun, second)
	}

	mustAddSchedule(t, s, queue.ScheduleParams{Name: "tz", Job: "x",
		Spec: schedule.Spec{Type: schedule.Cron, Cron: "CRON_TZ=America/New_York 30 2 * * *"}})
	got, err = s.GetSchedule(ctx, "tz")
	if err != nil {
		t.Fatal(err)
	}
	if zone := got.NextRun.Location().String(); zone != "America/New_York" {
		t.Errorf("next run in %s; want America/New_York", zone)
	}
}

// testRunSchedule: running a schedule now enqueues its task with the
// schedule's settings, wakes this process's run loop, and leaves the
// schedule's own timing alone.
func testRunSchedule(t *testing.T, h *Harness) {
	clk := &clock{t: noon}
	s := h.open(t, clk)
	ctx := context.Background()
	sc, err := s.AddSchedule(ctx, queue.ScheduleParams{Name: "tick", Job: "tick", Payload: []byte(`{"n":1}`),
		Queue: "q", Priority: 2, MaxAttempts: 4, Timeout: time.Minute,
		Spec: schedule.Spec{Type: schedule.Minutes, Every: 10, Start: noon.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	wake := s.Enqueued()
	id, err := s.RunSchedule(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	default:
		t.Error("RunSchedule did not wake this process's run loop")
	}
	task, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != queue.Queued || task.Job != "tick" || string(task.Payload) != `{"n":1}` || task.Queue != "q" ||
		task.Priority != 2 || task.MaxAttempts != 4 || task.Timeout != time.Minute || task.ScheduleID != sc.ID ||
		!task.RunAt.Equal(noon) || !task.ScheduledFor.Equal(noon) {
		t.Errorf("task = %+v; want tick queued now from schedule %d, with its settings", task, sc.ID)
	}
	after, err := s.GetSchedule(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	if !after.NextRun.Equal(sc.NextRun) || after.LastTaskID != sc.LastTaskID {
		t.Errorf("schedule moved: next run %v → %v, last task %d → %d", sc.NextRun, after.NextRun, sc.LastTaskID, after.LastTaskID)
	}
	if _, err := s.RunSchedule(ctx, "nope"); !errors.Is(err, queue.ErrScheduleNotFound) {
		t.Errorf("unknown schedule: %v; want ErrScheduleNotFound", err)
	}
}
