// Package migrations reads a store's schema steps: files named
// NNNN_description.sql, applied in number order. Each store applies them its
// own way (SQLite's user_version, PostgreSQL's sluice_migrations table under
// an advisory lock); reading and checking the files is the same for both.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Step is one numbered schema step.
type Step struct {
	Version int    // NNNN, a positive number
	Name    string // the file name
	SQL     string // the file's contents
}

// Load reads the NNNN_description.sql files of fsys, sorted by number. A
// name without a positive number and an underscore, or two files with one
// number, is an error. A nil fsys has no steps.
func Load(fsys fs.FS) ([]Step, error) {
	if fsys == nil {
		return nil, nil
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var steps []Step
	seen := map[int]string{}
	for _, name := range names {
		num, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and an underscore", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share number %d", other, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		steps = append(steps, Step{Version: v, Name: name, SQL: string(body)})
	}
	slices.SortFunc(steps, func(a, b Step) int { return a.Version - b.Version })
	return steps, nil
}
