//go:build linux

package supervisor

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// exit is a child that wait4 reaped.
type exit struct {
	pid    int
	status syscall.WaitStatus
}

// reap reaps every child of this process, whoever started it, and sends
// each on the channel, which is closed once no child is left (ECHILD).
// Only a process that owns no exec.Cmd may do this.
func reap() <-chan exit {
	ch := make(chan exit, 16)
	go func() {
		defer close(ch)
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return
			}
			ch <- exit{pid, ws}
		}
	}()
	return ch
}

// killTree SIGKILLs every live process below root until none is left (a
// process may fork while it is being killed; its orphans come to root, a
// subreaper), giving up after maxRounds rounds.
func killTree(root int) {
	const maxRounds = 100
	for range maxRounds {
		pids := descendants(root)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		runtime.Gosched()
	}
}

// descendants returns the live (not yet exited) processes below root, read
// from /proc. A child subreaper finds every process its command started
// this way, including those that left the command's process group.
func descendants(root int) []int {
	children := map[int][]int{}
	live := map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, ppid, ok := stat(pid)
		if !ok {
			continue
		}
		children[ppid] = append(children[ppid], pid)
		live[pid] = state != 'Z' && state != 'X'
	}
	var out []int
	queue := children[root]
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if live[pid] {
			out = append(out, pid)
		}
		queue = append(queue, children[pid]...)
	}
	return out
}

// stat reads a process's state letter and parent from /proc/PID/stat.
func stat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return f[0][0], ppid, err == nil
}
