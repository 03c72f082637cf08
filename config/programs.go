package config

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// CheckPrograms finds the program of every exec job (SLUICE_EXEC_*) and
// warm worker (SLUICE_WARM_*) the way
// running it will, so that a missing or unexecutable one stops the start
// (an *Error, exit 78, naming it) instead of failing every task. A process
// that runs tasks calls it; one that only reads the queue need not.
func (c Config) CheckPrograms() error {
	var problems []string
	for name, argv := range c.Exec {
		if _, err := exec.LookPath(argv[0]); err != nil {
			problems = append(problems, fmt.Sprintf("%s%s: program %q: %v", ExecPrefix, strings.ToUpper(name), argv[0], cause(err)))
		}
	}
	for name, argv := range c.Warm {
		if _, err := exec.LookPath(argv[0]); err != nil {
			problems = append(problems, fmt.Sprintf("%s%s: program %q: %v", WarmPrefix, strings.ToUpper(name), argv[0], cause(err)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return &Error{Problems: problems}
}

// cause strips exec.Error's repetition of the program name.
func cause(err error) error {
	if ee, ok := err.(*exec.Error); ok {
		return ee.Err
	}
	return err
}
