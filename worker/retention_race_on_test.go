//go:build race

package worker_test

// finishedVolume is the finished history of the retention test; smaller
// under the race detector (see race_on_test.go).
const finishedVolume = 20_000
