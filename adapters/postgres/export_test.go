package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockAccount takes an account's lock as the key changes do.
func LockAccount(ctx context.Context, tx pgx.Tx, accountID string) error {
	return lockAccount(ctx, tx, accountID)
}

// Forget drops a key from a's cache, as a revocation's notification does.
func (a *Accounts) Forget(id string) { a.forget(id) }

// ForgetAll empties a's cache, as the listener's reconnection does.
func (a *Accounts) ForgetAll() { a.forgetAll() }

// SetNegativeTTL sets how long a's cache remembers a key that no account
// has.
func (a *Accounts) SetNegativeTTL(d time.Duration) { a.negative = d }
