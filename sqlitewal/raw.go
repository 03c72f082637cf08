package sqlitewal

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// errClosed is returned by Raw after Close.
var errClosed = errors.New("database is closed")

// rawCache holds the statements prepared through Raw on the writer
// connection. database/sql does not know them, and SQLite refuses to close a
// connection with statements left open, so Close finalizes them first.
type rawCache struct {
	mu     sync.Mutex
	conn   *sqlite3.Conn
	stmts  map[string]*sqlite3.Stmt
	closed bool
}

// Conn is the writer connection seen through the driver's direct API, valid
// only inside the function given to DB.Raw.
type Conn struct {
	*sqlite3.Conn
	cache *rawCache
}

// Prepared returns query compiled on this connection, compiling it on first
// use and keeping it until the database closes. The caller must leave the
// statement reset (Stmt.Exec does; after Stmt.Step, call Stmt.Reset) and
// must not close it.
func (c *Conn) Prepared(query string) (*sqlite3.Stmt, error) {
	if st := c.cache.stmts[query]; st != nil {
		return st, nil
	}
	st, tail, err := c.Prepare(query)
	if err != nil {
		return nil, fmt.Errorf("prepare statement: %w", err)
	}
	if st == nil || tail != "" {
		st.Close()
		return nil, fmt.Errorf("prepare statement: want exactly one statement in %q", query)
	}
	if c.cache.stmts == nil {
		c.cache.stmts = make(map[string]*sqlite3.Stmt)
	}
	c.cache.stmts[query] = st
	return st, nil
}

// Raw runs fn on the writer connection through the driver's direct API
// (github.com/ncruces/go-sqlite3), which skips database/sql's work per call:
// for the small statements a busy queue runs thousands of times a second it
// is markedly cheaper. It holds the writer, like a database/sql transaction.
//
// While fn runs, the connection is interrupted when ctx is done (its
// statements fail with sqlite3.INTERRUPT, and a wait for the write lock ends
// with sqlite3.BUSY). A transaction fn began and left open is rolled back.
func (db *DB) Raw(ctx context.Context, fn func(*Conn) error) error {
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) (err error) {
		c := dc.(driver.Conn).Raw()
		cache := &db.raw
		cache.mu.Lock()
		defer cache.mu.Unlock()
		if cache.closed {
			return errClosed
		}
		cache.use(c)
		if old := c.SetInterrupt(ctx); old != ctx {
			defer c.SetInterrupt(old)
		}
		returned := false
		defer func() { // deferred, so that it runs when fn panics too
			if !returned {
				// fn panicked, maybe mid-statement. database/sql discards a
				// connection whose Raw panicked, and SQLite closes it only
				// once its statements are finalized.
				closeStmts(cache.stmts)
				cache.conn, cache.stmts = nil, nil
			}
			if !c.GetAutocommit() {
				// ROLLBACK even when interrupted, as the driver's Tx.Rollback
				// does: a transaction left open would keep the write lock.
				c.SetInterrupt(context.Background())
				if rerr := c.Exec("ROLLBACK"); rerr != nil {
					// The connection still holds a transaction (and the write
					// lock): have database/sql discard it rather than reuse
					// it, which SQLite allows once our statements are gone.
					closeStmts(cache.stmts)
					cache.conn, cache.stmts = nil, nil
					err = errors.Join(err, fmt.Errorf("roll back: %w", rerr), sqldriver.ErrBadConn)
				}
			}
		}()
		err = fn(&Conn{Conn: c, cache: cache})
		returned = true
		return err
	})
}

// use makes c the connection the cached statements belong to. When
// database/sql replaced the writer connection, SQLite refused to close the
// old one while statements lived: use finishes the job.
func (r *rawCache) use(c *sqlite3.Conn) {
	if r.conn == c {
		return
	}
	if len(r.stmts) > 0 {
		closeStmts(r.stmts)
		r.conn.Close()
	}
	r.conn, r.stmts = c, nil
}

// closeRaw finalizes the statements prepared through Raw and refuses later
// calls, so that closing the writer connection succeeds. Like Raw it holds
// the writer connection meanwhile: other goroutines may still be using it
// through database/sql, and a connection is not safe for concurrent use.
func (db *DB) closeRaw(ctx context.Context) error {
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		// The writer stays busy: refuse Raw from now on, and leave the
		// statements, and with them the connection, to the process's exit.
		db.raw.mu.Lock()
		db.raw.closed = true
		db.raw.mu.Unlock()
		return fmt.Errorf("finalize statements: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		cache := &db.raw
		cache.mu.Lock()
		defer cache.mu.Unlock()
		cache.use(dc.(driver.Conn).Raw())
		closeStmts(cache.stmts)
		cache.conn, cache.stmts, cache.closed = nil, nil, true
		return nil
	})
}

func closeStmts(stmts map[string]*sqlite3.Stmt) {
	for _, st := range stmts {
		st.Close()
	}
}
