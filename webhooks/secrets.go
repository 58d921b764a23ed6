package webhooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SecretSealer encrypts webhook signing secrets at rest; adapters/keyring
// implements it with AES-256-GCM under the operator's key ring. ad binds a
// sealed value to its place, so one copied to another row or column does
// not open.
type SecretSealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	// Stale reports a value sealed under a key other than the one Seal uses.
	Stale(sealed []byte) bool
}

// The columns a secret is sealed for: its additional data.
const (
	secretCurrent  = "current"
	secretPrevious = "previous"
)

func secretAD(endpointID, column string) []byte {
	return []byte("webhook_endpoints/" + endpointID + "/" + column)
}

func sealSecret(s SecretSealer, endpointID, column, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	b, err := s.Seal([]byte(secret), secretAD(endpointID, column))
	if err != nil {
		return nil, fmt.Errorf("seal the %s secret of %s: %w", column, endpointID, err)
	}
	return b, nil
}

func openSecret(s SecretSealer, endpointID, column string, sealed []byte) (string, error) {
	if sealed == nil {
		return "", nil
	}
	b, err := s.Open(sealed, secretAD(endpointID, column))
	if err != nil {
		return "", fmt.Errorf("open the %s secret of %s: %w", column, endpointID, err)
	}
	return string(b), nil
}

// SealSecrets seals the secrets rows still hold in clear (from before
// migration 00013, or written by an older process) and clears the
// plaintext; with reseal, it also seals again every secret sealed under a
// key other than the ring's first, so that an old key can leave the ring.
// It is idempotent and safe beside live traffic: each batch of rows is
// locked while it is rewritten. It returns how many rows changed.
func (w *Store) SealSecrets(ctx context.Context, reseal bool) (int, error) {
	changed, after := 0, ""
	for {
		var batch []sealRow
		err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id, secret, previous_secret, secret_sealed, previous_secret_sealed
				FROM webhook_endpoints WHERE id > $1 AND ($2 OR secret IS NOT NULL OR previous_secret IS NOT NULL)
				ORDER BY id LIMIT 200 FOR UPDATE`, after, reseal)
			if err != nil {
				return err
			}
			batch, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealRow, error) {
				var x sealRow
				return x, r.Scan(&x.id, &x.plain, &x.plainPrev, &x.sealed, &x.sealedPrev)
			})
			if err != nil {
				return err
			}
			for i := range batch {
				x := &batch[i]
				if err := x.movedByOlderRotate(w.sealer); err != nil {
					return err
				}
				var dirty bool
				if x.newSealed, dirty, err = w.resealed(x.id, secretCurrent, x.plain, x.sealed); err != nil {
					return err
				}
				var dirtyPrev bool
				if x.newSealedPrev, dirtyPrev, err = w.resealed(x.id, secretPrevious, x.plainPrev, x.sealedPrev); err != nil {
					return err
				}
				if !dirty && !dirtyPrev {
					continue
				}
				if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET secret = NULL, previous_secret = NULL,
					secret_sealed = $2, previous_secret_sealed = $3 WHERE id = $1`, x.id, x.newSealed, x.newSealedPrev); err != nil {
					return err
				}
				changed++
			}
			return nil
		})
		if err != nil {
			return changed, fmt.Errorf("seal webhook secrets: %w", err)
		}
		if len(batch) == 0 {
			return changed, nil
		}
		after = batch[len(batch)-1].id
	}
}

// sealRow is one endpoint's secret columns while SealSecrets rewrites them.
type sealRow struct {
	id                       string
	plain, plainPrev         *string
	sealed, sealedPrev       []byte
	newSealed, newSealedPrev []byte
}

// movedByOlderRotate repairs a sealed row that a process from before
// migration 00013 rotated during a rolling upgrade: its rotation ran
// `SET previous_secret = secret, previous_secret_until = $3, secret = $4`,
// which leaves the new secret in clear, the one it replaced sealed as
// current and no previous secret in clear. The replaced secret is the
// previous one, still signing until the previous_secret_until that
// rotation set; the older previous secret is gone (as after any rotation).
func (x *sealRow) movedByOlderRotate(sealer SecretSealer) error {
	if x.plain == nil || *x.plain == "" || x.sealed == nil || (x.plainPrev != nil && *x.plainPrev != "") {
		return nil
	}
	old, err := openSecret(sealer, x.id, secretCurrent, x.sealed)
	if err != nil {
		return err
	}
	x.plainPrev, x.sealedPrev = &old, nil
	return nil
}

// resealed is the sealed value one secret column should hold: plain sealed
// when the row holds it in clear, sealed again under the first key when
// stale, else as it is; dirty says whether it changed.
func (w *Store) resealed(id, column string, plain *string, sealed []byte) ([]byte, bool, error) {
	switch {
	case plain != nil && *plain != "":
		b, err := sealSecret(w.sealer, id, column, *plain)
		return b, true, err
	case plain != nil: // an empty plaintext: nothing to seal, but clear it
		return sealed, true, nil
	case sealed != nil && w.sealer.Stale(sealed):
		s, err := openSecret(w.sealer, id, column, sealed)
		if err != nil {
			return nil, false, err
		}
		b, err := sealSecret(w.sealer, id, column, s)
		return b, true, err
	}
	return sealed, false, nil
}

// storedSecrets are an endpoint's secret columns as a row holds them.
type storedSecrets struct {
	sealed, sealedPrev []byte
	clear, clearPrev   *string // written by an older process, not sealed yet
}

// open returns the secrets that sign a message sent at now. A secret in
// clear is current whatever is sealed beside it: an older process rotating
// a sealed row writes the new secret in clear and leaves the one it
// replaced sealed as current, so that one is the previous secret (until
// previousUntil, which that rotation set). A previous secret past
// previousUntil signs nothing and is not opened, so one whose key left the
// ring holds no delivery back.
func (s storedSecrets) open(sealer SecretSealer, id string, previousUntil, now time.Time) (current, previous string, err error) {
	live := now.Before(previousUntil)
	switch {
	case s.clear != nil && *s.clear != "" && s.clearPrev != nil && *s.clearPrev != "":
		current, previous = *s.clear, *s.clearPrev
	case s.clear != nil && *s.clear != "":
		current = *s.clear
		if live {
			previous, err = openSecret(sealer, id, secretCurrent, s.sealed)
		}
	default:
		if current, err = openSecret(sealer, id, secretCurrent, s.sealed); err == nil && live {
			previous, err = openSecret(sealer, id, secretPrevious, s.sealedPrev)
		}
		if err == nil && current == "" {
			err = errors.New("the endpoint has no secret")
		}
	}
	if !live {
		previous = ""
	}
	return current, previous, err
}
