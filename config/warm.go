package config

import (
	"fmt"
	"strconv"
	"strings"
)

// WarmPrefix starts the variables that define warm workers: SLUICE_WARM_<NAME>
// holds a JSON array, the program and its arguments, of long-lived processes
// that serve the job <name> (docs/warm-protocol.md). SLUICE_WARM_RECYCLE and
// SLUICE_WARM_MAX_RSS are settings, so recycle and max_rss cannot be warm jobs.
const WarmPrefix = Prefix + "WARM_"

// parseWarm fills c.Warm from SLUICE_WARM_<NAME> and returns its problems,
// including a job defined both as an exec job and a warm one.
func (c *Config) parseWarm(vars map[string]string) []string {
	skip := map[string]bool{WarmPrefix + "RECYCLE": true, WarmPrefix + "MAX_RSS": true}
	var problems []string
	c.Warm, problems = parseCommands(vars, WarmPrefix, skip)
	for name := range c.Warm {
		if _, ok := c.Exec[name]; ok {
			problems = append(problems, fmt.Sprintf("%s%s, %s%s: both define the job %q; keep one", ExecPrefix, strings.ToUpper(name), WarmPrefix, strings.ToUpper(name), name))
		}
	}
	if c.WarmRecycle < 0 {
		problems = append(problems, fmt.Sprintf("%sRECYCLE=%d: must not be negative", WarmPrefix, c.WarmRecycle))
	}
	return problems
}

// Bytes is a size in bytes, written 0, 4096, 512KiB, 512MiB, 1GiB, or with
// the decimal units KB, MB, GB.
type Bytes int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// UnmarshalText lets caarlos0/env parse a Bytes.
func (b *Bytes) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size such as 512MiB", text)
	}
	*b = Bytes(n * mult)
	return nil
}
