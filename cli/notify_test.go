package cli_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cli"
)

// TestRunNotifiesSystemd runs `sluice run` as systemd would with
// Type=notify and WatchdogSec, and reads what it says on NOTIFY_SOCKET.
func TestRunNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	next := func(want string) {
		t.Helper()
		buf := make([]byte, 512)
		ln.SetReadDeadline(time.Now().Add(30 * time.Second)) // a deadline for a hung run, not a timing assertion
		for {
			n, err := ln.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			msg := string(buf[:n])
			if strings.HasPrefix(msg, want) {
				return
			}
			if want != "WATCHDOG=1" && msg == "WATCHDOG=1" {
				continue // pings may come between the states
			}
			t.Fatalf("got %q; want %q", msg, want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	m := &cli.Main{Stdout: &out, Stderr: &errOut, Environ: []string{
		"SLUICE_DB=" + filepath.Join(dir, "q.db"), "NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=100000"}}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"run"}) }()

	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	cancel() // SIGTERM
	next("STOPPING=1")
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
}
