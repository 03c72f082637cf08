package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's notify protocol for `sluice run` under
// Type=notify: READY=1 once the worker is up (database open, HTTP server
// listening), STOPPING=1 when a signal stops it, and WATCHDOG=1 at half of
// WatchdogSec while the database answers, so systemd restarts a worker that
// hangs. Each message is one datagram to the socket NOTIFY_SOCKET names; no
// library is needed. Without NOTIFY_SOCKET (not under systemd) it does
// nothing.
type notifier struct {
	addr     *net.UnixAddr // nil: not under systemd
	watchdog time.Duration // how often to ping; 0: no watchdog
}

// newNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID.
func newNotifier(environ []string) (*notifier, error) {
	n := &notifier{}
	sock := lookup(environ, "NOTIFY_SOCKET")
	if sock == "" {
		return n, nil
	}
	n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"} // a leading @ is an abstract socket; Go handles it
	if usec := lookup(environ, "WATCHDOG_USEC"); usec != "" {
		v, err := strconv.ParseInt(usec, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("WATCHDOG_USEC=%q: want a positive number of microseconds", usec)
		}
		pid := lookup(environ, "WATCHDOG_PID")
		if pid == "" || pid == strconv.Itoa(os.Getpid()) { // the watchdog may be meant for another process
			n.watchdog = time.Duration(v) * time.Microsecond / 2
		}
	}
	return n, nil
}

// send writes one state message ("READY=1").
func (n *notifier) send(state string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// ready tells systemd the worker is up, then keeps the watchdog fed while
// healthy answers, and says STOPPING=1 when ctx (the signal) ends. The
// returned function ends the loop and waits for it; call it when the run
// returns.
func (n *notifier) ready(ctx context.Context, healthy func(context.Context) error, log func(error)) (stop func()) {
	if n.addr == nil {
		return func() {}
	}
	if err := n.send("READY=1\nSTATUS=running"); err != nil {
		log(err)
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var tick <-chan time.Time
		if n.watchdog > 0 {
			t := time.NewTicker(n.watchdog)
			defer t.Stop()
			tick = t.C
		}
		stopping := func() {
			if err := n.send("STOPPING=1\nSTATUS=stopping: finishing running tasks"); err != nil {
				log(err)
			}
		}
		for {
			select {
			case <-done:
				if ctx.Err() != nil {
					stopping() // the run ended on the signal before this loop saw it
				}
				return
			case <-ctx.Done():
				stopping()
				return
			case <-tick:
				// A worker whose database does not answer is not fed: the
				// watchdog then restarts it.
				hctx, cancel := context.WithTimeout(ctx, n.watchdog)
				err := healthy(hctx)
				cancel()
				if err == nil {
					err = n.send("WATCHDOG=1")
				}
				if err != nil {
					log(err)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
