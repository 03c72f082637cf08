package pgqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel is the channel on which every insert into tasks sends a
// NOTIFY (migration 0004_notify.sql), whatever program inserts.
const NotifyChannel = "sluice_enqueued"

// Backoff of the listener's reconnects.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 10 * time.Second
)

// Enqueued returns a channel that is closed the next time tasks are added:
// at once by this Store's Enqueue, EnqueueMany and FireDue, and, through
// LISTEN, when any process's insert commits (EnqueueTx's included). The
// first call starts the listener: one connection of its own, outside the
// pool, held until Close. A listener that loses its connection closes the
// channel when it is back (tasks may have come meanwhile). Behind a
// transaction-mode pooler LISTEN hears nothing; run loops then wake by
// polling (docs/postgresql.md).
func (s *Store) Enqueued() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enqueued == nil {
		s.enqueued = make(chan struct{})
	}
	if s.listener == nil && !s.closed {
		s.listener = s.listen()
	}
	return s.enqueued
}

// notify wakes whoever waits on Enqueued.
func (s *Store) notify() {
	s.mu.Lock()
	if s.enqueued != nil {
		close(s.enqueued)
		s.enqueued = nil
	}
	s.mu.Unlock()
}

// listener is the goroutine that LISTENs for NotifyChannel.
type listener struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the listener and waits for it.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}

func (s *Store) listen() *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		s.listenLoop(ctx)
	}()
	return l
}

// listenLoop listens until ctx ends, reconnecting with backoff.
func (s *Store) listenLoop(ctx context.Context) {
	wait := listenRetryMin
	for {
		listened, err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			wait = listenRetryMin
		}
		s.logger.Warn("listen for enqueued tasks; reconnecting", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// listenOnce connects, LISTENs and wakes waiters on every notification
// until the connection fails or ctx ends. listened says LISTEN took.
func (s *Store) listenOnce(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Tasks added before LISTEN took sent notifications nobody heard.
	s.notify()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("wait for a notification: %w", err)
		}
		s.notify()
	}
}
