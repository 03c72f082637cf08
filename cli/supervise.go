package cli

import (
	"fmt"
	"os"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/supervisor"
)

// supervision returns how exec jobs and process-isolated handlers run: each
// attempt under a supervisor (this binary's hidden supervisor.Command) that
// kills every process of the attempt when it ends or when this process dies,
// in a cgroup of its own where a writable cgroup v2 subtree exists. Nil on
// systems without child subreapers.
func supervision(cfg config.Config, self string) (*supervisor.Opts, supervisor.Containment, error) {
	limits := cfg.MemoryMax > 0 || cfg.PidsMax > 0
	if !supervisor.Supported {
		if limits {
			return nil, supervisor.Containment{}, &config.Error{Problems: []string{"SLUICE_MEMORY_MAX, SLUICE_PIDS_MAX: limits need Linux with cgroup v2"}}
		}
		return nil, supervisor.Containment{Why: "not Linux"}, nil
	}
	c, err := supervisor.Detect(limits)
	if err != nil {
		return nil, c, err
	}
	if limits && c.Cgroup == "" {
		return nil, c, &config.Error{Problems: []string{fmt.Sprintf(
			"SLUICE_MEMORY_MAX=%d, SLUICE_PIDS_MAX=%d: limits need a writable cgroup v2 subtree, and here there is %s",
			cfg.MemoryMax, cfg.PidsMax, c.Why)}}
	}
	return &supervisor.Opts{Self: self, Cgroup: c.Cgroup, MemoryMax: cfg.MemoryMax, PidsMax: cfg.PidsMax}, c, nil
}

// logContainment says, once at the start of a drain or run, what contains
// the processes of exec jobs and process-isolated handlers.
func (e *env) logContainment() {
	switch c := e.containment; {
	case !supervisor.Supported:
		e.log.Warn("process containment: process group only; a process that leaves it outlives its attempt", "why", c.Why)
	case c.Cgroup != "":
		e.log.Info("process containment: supervisor (child subreaper) and a cgroup per attempt", "cgroup", c.Cgroup,
			"memory_max", e.cfg.MemoryMax, "pids_max", e.cfg.PidsMax)
	default:
		e.log.Info("process containment: supervisor (child subreaper) per attempt", "no_cgroup", c.Why)
	}
}

// exitStatus is the exact exit status of a hidden command whose status is
// its result (supervisor.Command); nothing is printed for it.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// runSupervise is the hidden supervisor.Command: it runs one attempt's
// command and reports on descriptor 3. Its standard files are the command's.
func runSupervise(m *Main, args []string) error {
	if code := supervisor.Main(args, os.Stderr); code != 0 {
		return exitStatus(code)
	}
	return nil
}
