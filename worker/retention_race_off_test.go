//go:build !race

package worker_test

// finishedVolume is the finished history of the retention test (see retention_race_on_test.go).
const finishedVolume = 200_000
