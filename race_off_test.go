//go:build !race

package main

// volume is the task count for volume tests (see race_on_test.go).
const volume = 10_000
