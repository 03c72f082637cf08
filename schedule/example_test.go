package schedule_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/schedule"
)

// A monthly schedule from January 31 clamps to the end of shorter months and
// comes back to the 31st.
func ExampleSpec_Next() {
	s := schedule.Spec{Type: schedule.Monthly, Start: time.Date(2028, time.January, 31, 9, 0, 0, 0, time.UTC)}
	t := s.Start
	for range 4 {
		t = s.Next(t)
		fmt.Println(t.Format("Mon 2006-01-02 15:04"))
	}
	// Output:
	// Tue 2028-02-29 09:00
	// Fri 2028-03-31 09:00
	// Sun 2028-04-30 09:00
	// Wed 2028-05-31 09:00
}

// A daily 02:30 schedule in New York across the spring-forward gap.
func ExampleSpec_Next_dst() {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	s, err := schedule.ParseSpec("daily", "", time.Date(2026, time.March, 7, 2, 30, 0, 0, ny), ny)
	if err != nil {
		panic(err)
	}
	t := s.Start
	for range 2 {
		t = s.Next(t)
		fmt.Println(t.Format("2006-01-02 15:04 MST"))
	}
	// Output:
	// 2026-03-08 03:30 EDT
	// 2026-03-09 02:30 EDT
}

// After an hour of downtime, an every-10-minutes schedule fires the missed
// runs under each policy.
func ExampleSpec_Due() {
	s, err := schedule.ParseSpec("minutes", "10", time.Date(2026, time.January, 1, 12, 0, 0, 0, time.UTC), nil)
	if err != nil {
		panic(err)
	}
	next := time.Date(2026, time.January, 1, 12, 10, 0, 0, time.UTC) // stored after the 12:00 run
	now := time.Date(2026, time.January, 1, 13, 2, 0, 0, time.UTC)
	for _, policy := range []schedule.CatchUp{schedule.CatchUpAll, schedule.CatchUpOne, schedule.CatchUpNone} {
		fire, after := s.Due(next, now, policy, schedule.DueOpts{})
		fmt.Printf("%-4s fire %d:", policy, len(fire))
		for _, t := range fire {
			fmt.Print(" ", t.Format("15:04"))
		}
		fmt.Println(", next", after.Format("15:04"))
	}
	// Output:
	// all  fire 6: 12:10 12:20 12:30 12:40 12:50 13:00, next 13:10
	// one  fire 1: 13:00, next 13:10
	// none fire 0:, next 13:10
}
