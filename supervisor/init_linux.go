//go:build linux

package supervisor

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// forwarded are the signals Init passes on to the program.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Init is a tiny init for a process that finds itself PID 1 (a container
// without one): it runs the same program with the same arguments as its
// child, forwards signals to it, reaps every process reparented to it, and
// returns the child's exit status once it exits. The child then owns every
// exec.Cmd; Init owns none, so reaping with wait4(-1) steals no status.
func Init(argv, environ []string, stderr io.Writer) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "sluice: init: %v\n", err)
		return 1
	}
	pid, err := syscall.ForkExec(self, argv, &syscall.ProcAttr{Env: environ, Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Fprintf(stderr, "sluice: init: start %s: %v\n", self, err)
		return 1
	}
	exits := reap()
	for {
		select {
		case sig := <-sigs:
			syscall.Kill(pid, sig.(syscall.Signal))
		case e, open := <-exits:
			switch {
			case !open:
				return 1 // cannot happen while the child lives
			case e.pid != pid: // an orphan: reaped, nothing more to do
			case e.status.Signaled():
				return 128 + int(e.status.Signal())
			default:
				return e.status.ExitStatus()
			}
		}
	}
}
