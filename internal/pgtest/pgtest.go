// Package pgtest gives tests a fresh PostgreSQL database on a real server.
//
// With SLUICE_TEST_POSTGRES set to a connection URL, every URL call creates
// a uniquely named database on that server. Otherwise the first call starts
// one private, throwaway server for the whole test binary from the installed
// binaries (initdb and postgres, found on PATH or under
// /usr/lib/postgresql/*/bin): a data folder in the system's temporary folder,
// a Unix socket only (listen_addresses=”), no fsync. A package that calls URL
// must run its tests through Main, which stops that server at the end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The server is also tied to the test binary's life (it is the binary's
// child, with a parent-death signal), so a binary killed by a test timeout
// does not leave it running; the folder it leaves is removed by the next
// binary that starts a server.
//
// Without a server (no SLUICE_TEST_POSTGRES, no binaries) URL skips the test
// with one line; under CI=true it fails instead: CI installs PostgreSQL, so
// a skipped PostgreSQL test there is a broken CI.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "SLUICE_TEST_POSTGRES"

var (
	mainCalled atomic.Bool

	once     sync.Once
	shared   *server       // the private server, when one was started
	admin    *pgxpool.Pool // connections to the maintenance database
	adminURL string        // admin's connection string
	setup    error         // why there is no server
	skip     bool          // setup names missing binaries, not a failure
	seq      atomic.Int64  // numbers the databases
	nameRe   = regexp.MustCompile(`[^a-z0-9]+`)
)

// Main runs m's tests and then stops the private server, if URL started one.
// Call it from TestMain; URL fails a test whose package does not.
func Main(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	if admin != nil {
		admin.Close()
	}
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop the private server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// URL returns the connection URL of a new, empty database that is dropped
// when tb ends. See the package comment for where the server comes from.
func URL(tb testing.TB) string {
	tb.Helper()
	if !mainCalled.Load() {
		tb.Fatal("pgtest: call pgtest.Main from the package's TestMain, or the private server outlives the tests")
	}
	once.Do(func() { admin, setup = connectAdmin() })
	if setup != nil {
		msg, fatal := verdict(setup, skip, os.Getenv("CI"))
		if fatal {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	name := databaseName(tb.Name(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections a test left open (a pool not closed).
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(adminURL, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return u
}

// verdict says what a test does without a server: skip with one line, or
// fail when the cause is not missing binaries or when CI (ci = "true")
// makes PostgreSQL mandatory.
func verdict(err error, missing bool, ci string) (msg string, fatal bool) {
	if !missing {
		return fmt.Sprintf("pgtest: %v", err), true
	}
	if ci == "true" {
		return fmt.Sprintf("pgtest: no PostgreSQL, and CI=true makes the PostgreSQL tests mandatory: %v", err), true
	}
	return fmt.Sprintf("pgtest: skipped, no PostgreSQL (%v); set %s or install postgresql", err, EnvURL), false
}

// databaseName makes a database name from a test name, unique within the
// binary and, with the process id, across binaries sharing one server.
func databaseName(test string, n int64) string {
	base := strings.Trim(nameRe.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	return fmt.Sprintf("sluice_%s_%d_%d", base, os.Getpid(), n)
}

// connectAdmin connects to SLUICE_TEST_POSTGRES, or to a private server it
// starts. Missing binaries set skip.
func connectAdmin() (*pgxpool.Pool, error) {
	u := os.Getenv(EnvURL)
	if u == "" {
		bins, err := findBinaries()
		if err != nil {
			skip = true
			return nil, err
		}
		shared, err = start(bins)
		if err != nil {
			return nil, fmt.Errorf("start a private server: %w", err)
		}
		u = shared.url
	}
	adminURL = u
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// withDatabase returns the connection string u with its database replaced
// by name: u may be a URL (postgres://...) or keyword/value pairs.
func withDatabase(u, name string) (string, error) {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		parsed, err := url.Parse(u)
		if err != nil {
			return "", fmt.Errorf("%s: %w", EnvURL, err)
		}
		parsed.Path = "/" + name
		parsed.RawPath = ""
		return parsed.String(), nil
	}
	// In keyword/value form the last value of a keyword counts.
	return u + " dbname='" + name + "'", nil
}
