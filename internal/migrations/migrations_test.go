package migrations_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sluicehq/sluice/internal/migrations"
)

func TestLoadSortsByNumber(t *testing.T) {
	steps, err := migrations.Load(fstest.MapFS{
		"0010_later.sql":  {Data: []byte("SELECT 10")},
		"0002_second.sql": {Data: []byte("SELECT 2")},
		"0001_first.sql":  {Data: []byte("SELECT 1")},
		"README.md":       {Data: []byte("not a step")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Name+"="+s.SQL)
	}
	if want := "0001_first.sql=SELECT 1 0002_second.sql=SELECT 2 0010_later.sql=SELECT 10"; strings.Join(got, " ") != want {
		t.Errorf("steps = %q; want %q", got, want)
	}
	if steps[2].Version != 10 {
		t.Errorf("version of 0010_later.sql = %d; want 10", steps[2].Version)
	}
}

func TestLoadRefusesBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number":    {"first.sql": {}},
		"zero":         {"0000_zero.sql": {}},
		"no separator": {"0001.sql": {}},
		"same number":  {"0001_a.sql": {}, "01_b.sql": {}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := migrations.Load(fsys); err == nil {
				t.Error("Load succeeded; want an error naming the file")
			}
		})
	}
}

func TestLoadNil(t *testing.T) {
	if steps, err := migrations.Load(nil); steps != nil || err != nil {
		t.Errorf("Load(nil) = %v, %v; want no steps", steps, err)
	}
}
