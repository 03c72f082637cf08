// Package schedule computes when schedules are due.
//
// A [Spec] describes a recurring (or one-off) schedule of the kinds Django-Q2
// offers: once, every N minutes, hourly, daily, weekly, biweekly, monthly,
// bimonthly, quarterly, yearly, and cron lines. [Spec.Next] answers "when is it
// due next", and [Spec.Due] answers "what should fire now" after downtime,
// following a [CatchUp] policy. The package never reads the clock and does no
// I/O beyond loading time zones: callers pass in every time it needs, and
// storing and firing schedules happens elsewhere.
//
// # Time and daylight saving time
//
// Minutes and hourly schedules, and cron lines of the form "@every d", advance
// by absolute durations from Start, so daylight saving time never moves them.
//
// Daily and longer schedules, and other cron lines, keep wall-clock time in
// their location: a daily 09:00 schedule fires at 09:00 local time all year.
// When a wall-clock time does not exist or happens twice, they follow the rule
// iCalendar (RFC 5545, section 3.3.5) uses for local times:
//
//   - Spring forward (a gap): a time that does not exist is read with the UTC
//     offset in force before the gap, which shifts it forward by the length of
//     the gap. In America/New_York 02:30 on 2026-03-08 does not exist, so a
//     daily 02:30 schedule fires at 03:30 EDT that day, and at 02:30 again the
//     next day. Nothing is skipped.
//   - Fall back (a repeat): a time that happens twice fires once, at its first
//     occurrence. In America/New_York 01:30 on 2026-11-01 happens at 01:30 EDT
//     and again at 01:30 EST; a daily 01:30 schedule fires at 01:30 EDT only.
//
// Cron lines follow the same two rules. On its own the robfig/cron parser's
// schedule skips a time in a gap and fires twice in a repeat; this package
// adds the shifted time in a gap and drops the second occurrence in a repeat,
// so a cron line fires once per matching wall-clock time. One consequence: a
// line such as "*/10 * * * *" does not fire during the repeated hour on a
// fall-back day, because every wall-clock time in it has already fired. Use a
// minutes schedule or "@every 10m" for intervals that must ignore the clock.
//
// Monthly and longer schedules keep Start's day of the month, clamped to the
// last day of shorter months, and compute every due time from Start, never
// from the previous one: from January 31 they fire on February 28 (29 in leap
// years), March 31, April 30, and so on, without drifting to the 28th.
package schedule
