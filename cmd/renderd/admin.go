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
	"github.com/renderd/renderd/ports/httpapi"
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

// keyArgs are the flags of "accounts keys …".
type keyArgs struct{ account, name, expiresAt, id string }

// accountsKeys runs "accounts keys create|list|revoke" for operators, with
// the rules of /v1/api-keys (docs in the README, "API keys"): create prints
// the key once, as POST /v1/api-keys answers; list prints the keys without
// them; revoke refuses the account's last usable key.
func accountsKeys(ctx context.Context, cfg Config, command string, a keyArgs, stdout io.Writer) error {
	if a.account == "" || (command == "accounts keys revoke" && a.id == "") {
		return fmt.Errorf("%w: %s needs --account%s", errUsage, command, map[bool]string{true: " and --id"}[command == "accounts keys revoke"])
	}
	var expires time.Time
	if a.expiresAt != "" {
		var err error
		if expires, err = httpapi.ParseKeyExpiry(a.expiresAt); err != nil {
			return fmt.Errorf("%w: --expires-at: %w", errUsage, err)
		}
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	accounts := apiAccounts(cfg, pool)
	out := json.NewEncoder(stdout)
	switch command {
	case "accounts keys create":
		key, info, err := accounts.CreateKey(ctx, a.account, a.name, expires)
		if err != nil {
			return err
		}
		return out.Encode(httpapi.ToAPIKeyJSON(info, key))
	case "accounts keys list":
		ok, err := accounts.Exists(ctx, a.account)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no account %s", a.account)
		}
		keys, err := accounts.Keys(ctx, a.account)
		if err != nil {
			return err
		}
		list := make([]httpapi.APIKeyJSON, len(keys))
		for i, k := range keys {
			list[i] = httpapi.ToAPIKeyJSON(k, "")
		}
		return out.Encode(map[string]any{"data": list})
	default:
		if err := accounts.RevokeKey(ctx, a.account, a.id); err != nil {
			return err
		}
		return out.Encode(map[string]any{"id": a.id, "revoked": true})
	}
}

// keyFlags registers the flags of "accounts keys …".
func keyFlags(account, name, expiresAt, id *string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(account, "account", "", "account id")
		if name != nil {
			fs.StringVar(name, "name", "", "the key's name (at most 100 bytes)")
		}
		if expiresAt != nil {
			fs.StringVar(expiresAt, "expires-at", "", "when the key stops working, RFC 3339 (default: never)")
		}
		if id != nil {
			fs.StringVar(id, "id", "", "the key's id (key_…)")
		}
	}
}
