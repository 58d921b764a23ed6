package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/eventschema"
)

// accountsCreate prints {"account_id","api_key"}: the key is shown once.
func accountsCreate(ctx context.Context, cfg Config, name string, stdout io.Writer) error {
	if name == "" {
		return fmt.Errorf("%w: accounts create needs --name", errUsage)
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	acc, err := postgres.NewAccounts(pool).Create(ctx, name, int64(cfg.FreeAllowanceMinutes)*60)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(acc)
}

// creditsGrant adds minutes to an account; assets waiting for payment
// resume at once.
func creditsGrant(ctx context.Context, cfg Config, log *slog.Logger, account string, minutes int, stdout io.Writer) error {
	if account == "" || minutes <= 0 {
		return fmt.Errorf("%w: credits grant needs --account and a positive --minutes", errUsage)
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if ok, err := postgres.NewAccounts(pool).Exists(ctx, account); err != nil || !ok {
		return errors.Join(fmt.Errorf("no account %s", account), err)
	}
	// A one-shot command: no notifier runs here, so wake the relay once at
	// the end instead (it would otherwise find the events at its next poll).
	grant, err := commands.NewGrantCreditsHandler(writeDeps(pool, nil))
	if err != nil {
		return err
	}
	res, err := grant.Handle(ctx, commands.Caller{CorrelationID: "cli-" + uuid.NewString()}, commands.GrantCredits{AccountID: account, Seconds: int64(minutes) * 60})
	if err != nil {
		return err
	}
	if err := postgres.NotifyCommitted(ctx, pool); err != nil {
		log.Warn("could not wake the relay; it will find the events at its next poll", "error", err)
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"entry_id": res.EntryID, "resumed_assets": res.Resumed})
}

// writeDeps builds the write side's dependencies over pool. notify is the
// process's running commit notifier (nil: commits wake nobody).
func writeDeps(pool *pgxpool.Pool, notify *postgres.CommitNotifier) commands.Deps {
	return commands.Deps{
		Store: postgres.NewEventStore(pool, eventschema.NewCodec(), notify),
		Now:   time.Now,
		NewID: func(prefix string) string { return prefix + "_" + uuid.Must(uuid.NewV7()).String() },
	}
}

// adminFlags registers a subcommand's own flags.
func adminFlags(name *string, account *string, minutes *int) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		if name != nil {
			fs.StringVar(name, "name", "", "account name")
		}
		if account != nil {
			fs.StringVar(account, "account", "", "account id")
		}
		if minutes != nil {
			fs.IntVar(minutes, "minutes", 0, "minutes of media to grant")
		}
	}
}
