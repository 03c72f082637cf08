//go:build !linux

package supervisor

import (
	"fmt"
	"io"
	"syscall"
)

// Supported reports whether this system can supervise commands: only Linux
// has child subreapers. Elsewhere commands run in a process group of their
// own, without a supervisor.
const Supported = false

// Containment is what this machine offers to contain an attempt's processes.
type Containment struct {
	Cgroup string
	Why    string
}

// Detect finds nothing outside Linux.
func Detect(limits bool) (Containment, error) {
	if limits {
		return Containment{}, fmt.Errorf("cgroup limits need Linux")
	}
	return Containment{Why: "not Linux"}, nil
}

// Main refuses to run outside Linux.
func Main(args []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sluice: _supervise needs Linux")
	return 127
}

// Init runs nothing outside Linux, where Sluice is not PID 1.
func Init(argv, environ []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sluice: init needs Linux")
	return 1
}

// killTree finds no tree outside Linux; the process group went with Stop.
func killTree(root int) {}

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
