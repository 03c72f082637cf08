package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func TestWarm(t *testing.T) {
	cfg, err := config.Parse([]string{
		`SLUICE_WARM_DJANGO=["python3","manage.py","sluice_worker"]`,
		"SLUICE_WARM_RECYCLE=100",
		"SLUICE_WARM_MAX_RSS=512MiB",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Warm["django"]; !slices.Equal(got, []string{"python3", "manage.py", "sluice_worker"}) {
		t.Errorf("Warm[django] = %q", got)
	}
	if len(cfg.Warm) != 1 || cfg.WarmRecycle != 100 || cfg.WarmMaxRSS != 512<<20 {
		t.Errorf("Warm = %q, recycle %d, max rss %d", cfg.Warm, cfg.WarmRecycle, cfg.WarmMaxRSS)
	}
}

func TestWarmProblems(t *testing.T) {
	_, err := config.Parse([]string{
		`SLUICE_WARM_X=["a"]`,
		`SLUICE_EXEC_X=["b"]`,
		`SLUICE_WARM_Y=python3 manage.py`,
		"SLUICE_WARM_RECYCLE=-1",
		"SLUICE_WARM_MAX_RSS=lots",
	})
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v; want *config.Error", err)
	}
	got := strings.Join(cerr.Problems, "\n")
	for _, want := range []string{
		`SLUICE_EXEC_X, SLUICE_WARM_X: both define the job "x"`,
		`SLUICE_WARM_Y="python3 manage.py": want a JSON array`,
		"SLUICE_WARM_RECYCLE=-1: must not be negative",
		`SLUICE_WARM_MAX_RSS="lots": want a size such as 512MiB`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[string]config.Bytes{"0": 0, "4096": 4096, "512MiB": 512 << 20, "1 GB": 1e9, "2KiB": 2048, "10B": 10} {
		var b config.Bytes
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GB", "1TB", "9999999999GiB"} {
		var b config.Bytes
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q parsed as %d", in, b)
		}
	}
}
