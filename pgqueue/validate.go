package pgqueue

import (
	"fmt"

	"github.com/sluicehq/sluice/queue"
)

// errFollowUps refuses follow-up tasks rather than dropping them: this store
// does not write them yet.
var errFollowUps = fmt.Errorf("%w: follow-up tasks (chains and hooks) are not supported on PostgreSQL yet", queue.ErrInvalid)

// validateTask checks p and fills in defaults as the SQLite store does
// (queue's EnqueueParams.Validate), and refuses follow-ups.
func validateTask(p *queue.EnqueueParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if len(p.Then) > 0 {
		return errFollowUps
	}
	return nil
}

// validateBatch is queue.ValidateBatch, refusing follow-ups too.
func validateBatch(ps []queue.EnqueueParams) error {
	if err := queue.ValidateBatch(ps); err != nil {
		return err
	}
	for i := range ps {
		if len(ps[i].Then) > 0 {
			return fmt.Errorf("enqueue batch: task %d: %w", i, errFollowUps)
		}
	}
	return nil
}
