package cli

import (
	"context"
	"net/url"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/pgqueue"
	"github.com/sluicehq/sluice/queue"
)

// isPostgresURL reports whether SLUICE_DB names a PostgreSQL database
// rather than a SQLite file.
func isPostgresURL(db string) bool { return config.IsPostgresURL(db) }

// openPostgres opens the PostgreSQL store SLUICE_DB names, applying its
// migrations. The usual PG* variables and ~/.pgpass fill in what the URL
// leaves out (pgx follows libpq). Times come from the database's clock, not
// this machine's, so Main.Now does not apply.
func (e *env) openPostgres(ctx context.Context) (queue.Backend, error) {
	s, err := pgqueue.Open(ctx, e.cfg.DB, pgqueue.NewOpts{Logger: e.log})
	if err != nil {
		return nil, err
	}
	e.log.Info("database opened", "db", redactURL(e.cfg.DB))
	return s, nil
}

// redactURL hides a password in a PostgreSQL URL, for logs; a SQLite path
// comes back as it is.
func redactURL(db string) string {
	if !isPostgresURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres"
	}
	return u.Redacted()
}

// sqliteOnly returns the SQLite store behind b, or nil when b is another
// store: for what is about SQLite's file itself (diagnosing a full disk or
// an unwritable folder after a failed drain).
func sqliteOnly(b queue.Backend) *queue.Store {
	s, _ := b.(*queue.Store)
	return s
}
