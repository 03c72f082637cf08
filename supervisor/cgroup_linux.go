//go:build linux

package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup v2 hierarchy is mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Containment is what this machine offers to contain an attempt's processes.
type Containment struct {
	// Cgroup is the cgroup v2 directory under which each attempt gets a
	// cgroup of its own; empty when there is none to use.
	Cgroup string
	// Why says why Cgroup is empty, for the log.
	Why string
}

// Detect finds a writable cgroup v2 directory: this process's own cgroup,
// under which attempts' cgroups are created. With limits, it also moves this
// process into a leaf below it (sluice-worker) and enables the memory and
// pids controllers for the attempts: cgroup v2 lets a cgroup hand
// controllers to its children only while it holds no process itself.
func Detect(limits bool) (Containment, error) {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err != nil {
		return Containment{Why: "no cgroup v2 hierarchy at " + cgroupRoot}, nil
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Containment{}, fmt.Errorf("detect cgroup: %w", err)
	}
	var rel string
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			rel = p
		}
	}
	dir := filepath.Join(cgroupRoot, rel)
	if rel == "" || unix.Access(dir, unix.W_OK) != nil {
		return Containment{Why: "cgroup " + dir + " is not writable (no delegation)"}, nil
	}
	if strings.HasSuffix(dir, "/sluice-worker") {
		dir = filepath.Dir(dir) // moved there by a sluice that started this one
	}
	if limits {
		if err := enableControllers(dir); err != nil {
			return Containment{}, err
		}
	}
	return Containment{Cgroup: dir}, nil
}

// enableControllers moves this process into dir/sluice-worker and hands the
// memory and pids controllers to dir's children.
func enableControllers(dir string) error {
	leaf := filepath.Join(dir, "sluice-worker")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup limits: %w", err)
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("cgroup limits: move into %s: %w", leaf, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +pids"), 0); err != nil {
		return fmt.Errorf("cgroup limits: enable memory and pids in %s: %w", dir, err)
	}
	return nil
}

// cgroup is one attempt's cgroup.
type cgroup struct {
	dir string
	fd  int // the directory, for CLONE_INTO_CGROUP
}

// newCgroup creates the cgroup of the attempt supervised by pid under parent.
func newCgroup(parent string, pid int, memMax, pidsMax int64) (*cgroup, error) {
	dir := filepath.Join(parent, "sluice-attempt-"+strconv.Itoa(pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	c := &cgroup{dir: dir, fd: -1}
	for file, v := range map[string]int64{"memory.max": memMax, "pids.max": pidsMax} {
		if v <= 0 {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			c.remove()
			return nil, fmt.Errorf("cgroup limit %s: %w", file, err)
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		c.remove()
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	c.fd = fd
	return c, nil
}

// kill kills every process in the cgroup at once.
func (c *cgroup) kill() { os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0) }

// oomKilled reports whether the kernel killed a process of the cgroup for
// going over memory.max.
func (c *cgroup) oomKilled() bool {
	b, err := os.ReadFile(filepath.Join(c.dir, "memory.events"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			return n != "0"
		}
	}
	return false
}

// remove deletes the cgroup. It runs once every process of the attempt has
// been reaped: a process leaves its cgroup as it exits.
func (c *cgroup) remove() {
	if c.fd >= 0 {
		unix.Close(c.fd)
	}
	os.Remove(c.dir)
}
