package web_test

import (
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/pgtest"
)

// TestMain stops the private PostgreSQL server pgtest may start.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
