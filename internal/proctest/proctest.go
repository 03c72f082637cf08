// Package proctest finds processes through /proc for tests that check what
// a task left running.
package proctest

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"
)

// Marked returns the live (not exited) processes whose environment holds
// every variable of kvs ("NAME=value"): a test gives a command a unique
// marker, which every process it starts inherits, and looks for it
// afterwards (with SLUICE_TASK_ID and SLUICE_TASK_ATTEMPT, for one attempt).
func Marked(kvs ...string) []int {
	var pids []int
	for _, pid := range allPIDs() {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || State(pid) == 'Z' {
			continue
		}
		have := map[string]bool{}
		for _, v := range bytes.Split(env, []byte{0}) {
			have[string(v)] = true
		}
		all := true
		for _, kv := range kvs {
			all = all && have[kv]
		}
		if all {
			pids = append(pids, pid)
		}
	}
	return pids
}

// WaitMarked polls until exactly want live processes carry kv, and fails
// the test if that is not so by deadline.
func WaitMarked(tb testing.TB, kv string, want int, deadline time.Time) {
	tb.Helper()
	for {
		got := Marked(kv)
		if len(got) == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Errorf("%d live processes carry %s; want %d: %v", len(got), kv, want, Describe(got))
			return
		}
		time.Sleep(10 * time.Millisecond) // a poll interval
	}
}

// Describe returns "pid (command)" for each of pids, for failure messages.
func Describe(pids []int) []string {
	out := make([]string, 0, len(pids))
	for _, pid := range pids {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		out = append(out, strconv.Itoa(pid)+" ("+string(bytes.ReplaceAll(bytes.TrimRight(cmd, "\x00"), []byte{0}, []byte{' '}))+")")
	}
	return out
}

// State returns a process's state letter ('R', 'S', 'Z', ...), 0 if it is gone.
func State(pid int) byte {
	s, _ := stat(pid)
	return s
}

// Descendants returns every process below root (zombies included) with its state.
func Descendants(root int) map[int]byte {
	children := map[int][]int{}
	for _, pid := range allPIDs() {
		if _, ppid := stat(pid); ppid > 0 {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := map[int]byte{}
	queue := children[root]
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out[pid] = State(pid)
		queue = append(queue, children[pid]...)
	}
	return out
}

func stat(pid int) (state byte, ppid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := bytes.Fields(b[i+1:])
	if i < 0 || len(f) < 2 || len(f[0]) != 1 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(string(f[1]))
	return f[0][0], ppid
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
