// Command renderd is the render service: one binary, many roles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/renderd/renderd/adapters/ffmpeg"
)

const usage = `usage: renderd <command> [flags]

commands:
  serve         run the service (--roles api,relay,projector,encoder,webhooks; default all)
  migrate       apply pending database migrations
  accounts create --name NAME
                create an account; prints {"account_id","api_key"} (the key is shown once)
  accounts keys create --account ID [--name NAME] [--expires-at RFC3339]
                make another API key for an account; prints it as POST /v1/api-keys does (shown once)
  accounts keys list --account ID
                print an account's API keys (never the keys themselves)
  accounts keys revoke --account ID --id KEY_ID
                revoke an API key; every API process refuses it within about a second
  credits grant --account ID --minutes N
                add credits; assets waiting for payment resume
  history RENDER_ID [--json] | history --asset ASSET_ID [--json]
                print render histories from the event store (auditors)
  verify        check the event log's invariants; exit 1 with a report on a violation
  replay [--swap]
                rebuild every read model from the event log into schema renderd_replay and
                print how it differs from the live read models (which keep serving);
                --swap then makes the rebuilt ones live, catching up on writes made meanwhile
  events tail [--type render.*] [--from-beginning] [--limit N]
                print the event topics as JSON lines (analytics, ad hoc)
  secrets rotate
                seal every webhook signing secret again under RENDERD_SECRETS_KEY's first key,
                so that the keys after it can be removed (README, "Operating the secrets")
  config-table  print the configuration settings as a Markdown table

Every setting is an environment variable or a flag (secrets: the environment only);
"renderd <command> -h" lists them.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandboxExecCommand {
		// The media sandbox's helper: it confines itself and execs ffmpeg
		// or ffprobe (adapters/ffmpeg.SandboxExec); nothing else runs.
		os.Exit(ffmpeg.SandboxExec(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], settingsEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "renderd:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "config-table":
		fmt.Fprint(stdout, configTable())
		return nil
	case "serve", "migrate", "history", "verify", "replay":
	case "events":
		if len(args) == 0 || args[0] != "tail" {
			return fmt.Errorf("%w: did you mean \"events tail\"?", errUsage)
		}
		name, args = "events tail", args[1:]
	case "accounts", "credits", "secrets":
		if name == "accounts" && len(args) > 0 && args[0] == "keys" {
			// Three-word commands: "accounts keys create|list|revoke".
			if len(args) < 2 || !slices.Contains([]string{"create", "list", "revoke"}, args[1]) {
				return fmt.Errorf("%w: did you mean \"accounts keys create|list|revoke\"?", errUsage)
			}
			name, args = "accounts keys "+args[1], args[2:]
			break
		}
		// Two-word commands: "accounts create", "credits grant", "secrets rotate".
		want := map[string]string{"accounts": "create", "credits": "grant", "secrets": "rotate"}[name]
		if len(args) == 0 || args[0] != want {
			return fmt.Errorf("%w: did you mean %q?", errUsage, name+" "+want)
		}
		name, args = name+" "+want, args[1:]
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}

	var (
		accountName, account, asset, typ string
		keyName, keyExpires, keyID       string
		minutes, limit                   int
		asJSON, fromBeginning, swap      bool
	)
	extra := map[string]func(*flag.FlagSet){
		"accounts create":      adminFlags(&accountName, nil, nil),
		"credits grant":        adminFlags(nil, &account, &minutes),
		"accounts keys create": keyFlags(&account, &keyName, &keyExpires, nil),
		"accounts keys list":   keyFlags(&account, nil, nil, nil),
		"accounts keys revoke": keyFlags(&account, nil, nil, &keyID),
		"history":              historyFlags(&asJSON, &asset),
		"events tail":          tailFlags(&typ, &fromBeginning, &limit),
		"replay": func(fs *flag.FlagSet) {
			fs.BoolVar(&swap, "swap", false, "make the rebuilt read models the live ones")
		},
	}[name]
	cfg, rest, err := loadConfig(name, args, getenv, stderr, extra)
	if err != nil {
		return err
	}
	if len(rest) > 0 && name != "history" {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	if name == "serve" && cfg.has(RoleEncoder) {
		// Every ffmpeg would fail to start: say so now, not per upload.
		if err := ffmpeg.CheckMemoryLimit(int64(cfg.FFmpegMemoryLimit)); err != nil {
			return fmt.Errorf("%w: RENDERD_FFMPEG_MEMORY_LIMIT: %w", errUsage, err)
		}
	}
	log := newLogger(cfg, stderr)
	switch name {
	case "migrate":
		return migrate(ctx, cfg, log)
	case "accounts create":
		return accountsCreate(ctx, cfg, accountName, stdout)
	case "credits grant":
		return creditsGrant(ctx, cfg, log, account, minutes, stdout)
	case "accounts keys create", "accounts keys list", "accounts keys revoke":
		return accountsKeys(ctx, cfg, name, keyArgs{account: account, name: keyName, expiresAt: keyExpires, id: keyID}, stdout)
	case "history":
		return history(ctx, cfg, rest, asset, asJSON, stdout)
	case "verify":
		return verify(ctx, cfg, stdout)
	case "replay":
		return replay(ctx, cfg, log, swap, stdout, stderr)
	case "events tail":
		return eventsTail(ctx, cfg, typ, fromBeginning, limit, stdout)
	case "secrets rotate":
		return secretsRotate(ctx, cfg, log)
	default:
		return serve(ctx, cfg, log)
	}
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
