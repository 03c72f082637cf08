package cli

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/jobs"
	"github.com/sluicehq/sluice/supervisor"
)

// addWarm adds the warm workers of SLUICE_WARM_* to reg, each process under
// sup when there is one (as exec jobs run), and returns the problems (a name
// a Go handler already has).
func addWarm(reg *jobs.Registry, cfg config.Config, sup *supervisor.Opts) []string {
	var problems []string
	for name, argv := range cfg.Warm {
		if _, err := reg.Lookup(name); err == nil {
			problems = append(problems, fmt.Sprintf("%s%s: job %q is already defined by a Go handler", config.WarmPrefix, strings.ToUpper(name), name))
			continue
		}
		reg.AddWarm(name, jobs.WarmOpts{
			Argv:       argv,
			Processes:  cfg.Workers,
			Recycle:    cfg.WarmRecycle,
			MaxRSS:     int64(cfg.WarmMaxRSS),
			KillGrace:  cfg.KillGrace,
			Supervisor: sup,
		})
	}
	return problems
}

// closeJobs stops the warm workers' processes once a command stops running
// tasks; one that had to be killed is worth a line.
func (e *env) closeJobs() {
	if err := e.jobs.Close(); err != nil {
		e.log.Warn("warm workers stopped", "err", err)
	}
}
