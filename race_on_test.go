//go:build race

package main

// volume is the task count for volume tests: the race detector makes the
// SQLite driver 5 to 10 times slower, so race runs use fewer tasks.
const volume = 2_000
