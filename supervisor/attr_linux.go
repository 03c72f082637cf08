//go:build linux

package supervisor

import "syscall"

// sysProcAttr puts the supervisor in a process group of its own (a
// terminal's ^C goes to the worker, which decides) and sends it SIGTERM when
// the thread that started it dies with the worker.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
