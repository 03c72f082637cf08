package pgqueue_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// A web request's transaction enqueues a task that exists only if the
// request's own writes commit; a worker on another machine hears of it at
// the commit. (No output: it needs a server; the tests run the same steps.)
func Example() {
	ctx := context.Background()
	s, err := pgqueue.Open(ctx, "postgres://app@db.internal/app?search_path=sluice,public", pgqueue.NewOpts{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE app_orders SET paid = true WHERE id = $1", 42); err != nil {
		log.Fatal(err)
	}
	id, err := s.EnqueueTx(ctx, tx, queue.EnqueueParams{Job: "send_receipt", Payload: []byte(`{"order":42}`)})
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("enqueued task", id)
}
