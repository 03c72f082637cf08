package pgqueue

import (
	"context"

	"github.com/sluicehq/sluice/queue"
)

// Register is part of worker.Store. The PostgreSQL store keeps no registry
// of workers yet: its claims ignore queue.ClaimParams.Registered and lease
// every task (timeout + LeaseMargin), so a dead worker's tasks come back
// when their leases expire, and a worker starts a task from its prefetch
// only if its lease still covers the timeout. The SQLite store's heartbeats
// (queue.Store.Register) are not ported here yet.
func (s *Store) Register(context.Context, queue.WorkerInfo) error { return nil }

// Unregister is part of worker.Store; see Register. Tasks a leaving worker
// still holds come back when their leases expire.
func (s *Store) Unregister(context.Context, string, int) (int, error) { return 0, nil }

// Store is the PostgreSQL form of the store contract.
var _ queue.Backend = (*Store)(nil)
