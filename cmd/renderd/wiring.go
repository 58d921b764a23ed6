package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/renderd/renderd/adapters/blob"
	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/postgres"
	"github.com/renderd/renderd/adapters/postgres/readmodel"
	"github.com/renderd/renderd/adapters/webhooks"
	"github.com/renderd/renderd/commands"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/encoders"
	"github.com/renderd/renderd/eventschema"
	"github.com/renderd/renderd/ports/consumers"
	"github.com/renderd/renderd/ports/httpapi"
	"github.com/renderd/renderd/projections"
	hooks "github.com/renderd/renderd/webhooks"
)

// apiHandler wires the HTTP API: commands on the write side, read models
// behind the GETs, the blob store for uploads and downloads. The returned
// waiter must run for read-your-writes, and the accounts (Run) for key
// revocations to reach this process's key cache. readiness is the
// process's (newReadiness), for the API's /readyz. expire removes the
// resumable uploads past their lifetime, until ctx ends.
func apiHandler(ctx context.Context, cfg Config, pool *pgxpool.Pool, notify *postgres.CommitNotifier, sealer hooks.SecretSealer, blobs blob.Store,
	readiness map[string]httpapi.Check, log *slog.Logger) (_ http.Handler, _ *readmodel.Waiter, _ *postgres.Accounts, expire func(context.Context) error, _ error) {
	d := writeDeps(pool, notify)
	create, err := commands.NewCreateAssetHandler(d)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	upload, err := commands.NewUploadAssetPartHandler(d, commands.UploadLimits{StorageQuota: cfg.AccountStorageBytes})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cut, err := commands.NewRequestCutHandler(d, commands.CutLimits{MaxPerAsset: cfg.AssetMaxCutsInFlight, MaxAutoPerAccount: cfg.AccountMaxAutoCuts})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	render, err := commands.NewRequestRenderHandler(d, commands.RenderLimits{MaxQueued: cfg.AccountMaxQueued, StorageQuota: cfg.AccountStorageBytes})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cancel, err := commands.NewCancelRenderHandler(d)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	deleteAsset, err := commands.NewDeleteAssetHandler(d, encoders.OutputKey)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	signer, err := downloadSigner(cfg, log)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	publicURL := cmp.Or(cfg.PublicURL, "http://"+cfg.HTTPAddr)
	accounts := apiAccounts(cfg, pool)
	waiter := readmodel.NewWaiter(pool, log)
	queries := readmodel.NewQueries(pool)
	resumable, err := blob.OpenResumable(ctx, cfg.BlobURL)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("resumable uploads: %w", err)
	}
	apiCfg := httpapi.Config{
		Log:      log,
		Auth:     accounts,
		APIKeys:  accounts,
		Commands: httpapi.Commands{CreateAsset: create, UploadPart: upload, RequestCut: cut, RequestRender: render, CancelRender: cancel, DeleteAsset: deleteAsset},
		Reads:    queries,
		Renders:  queries,
		DownloadURLs: func(key, filename string) (string, time.Time, error) {
			expires := time.Now().Add(cfg.DownloadTTL).Truncate(time.Second) // the token holds whole seconds
			url, err := signer.URL(publicURL, domain.DownloadGrant{Key: key, Filename: filename, Expires: expires})
			return url, expires, err
		},
		Downloads: httpapi.DownloadHandler(signer, blobs, log, time.Now),
		Waiter:    waiter,
		Blobs:     blobs,
		Credits: func(ctx context.Context, account string, recent int) (int64, []httpapi.LedgerEntry, error) {
			balance, entries, err := accounts.Credits(ctx, account, recent)
			out := make([]httpapi.LedgerEntry, len(entries))
			for i, e := range entries {
				out[i] = httpapi.LedgerEntry(e)
			}
			return balance, out, err
		},
		Resumable:   &httpapi.Resumable{Compose: resumable.Compose, Store: resumable.Store, List: resumable.List, Lifetime: cfg.UploadTTL},
		Readiness:   readiness,
		Unavailable: postgres.IsUnavailable,
		NewBlobKey: func(assetID, part string) string {
			return fmt.Sprintf("assets/%s/%s-%s", assetID, part, uuid.Must(uuid.NewV7()))
		},
		MaxJSONBytes:   int64(cfg.MaxJSONBytes),
		MaxUploadBytes: int64(cfg.MaxUploadBytes),
		StorageQuota:   cfg.AccountStorageBytes,
		ReadYourWrites: cfg.ReadYourWrites,
		Limits:         cfg.Limits,
		Timeouts:       httpapi.Timeouts{JSON: cfg.HTTPTimeout, MinRate: int64(cfg.TransferMinRate), Window: cfg.TransferWindow},
		Webhooks: httpapi.WebhookConfig{
			Store: hooks.NewStore(pool, sealer), CheckURL: webhookGuard(cfg).CheckURL, NewSecret: webhooks.NewSecret,
			NewID: func() string { return "whe_" + uuid.Must(uuid.NewV7()).String() }, RotationGrace: 24 * time.Hour, Now: time.Now,
			MaxEndpoints: cfg.WebhookMaxEndpoints, MaxRedeliveries: cfg.WebhookMaxRedeliveries,
		},
	}
	h, err := httpapi.New(apiCfg)
	expire = func(ctx context.Context) error { return sweepUploads(ctx, apiCfg, log) }
	return h, waiter, accounts, expire, err
}

// sweepUploads goes over the resumable uploads (httpapi.SweepUploads)
// every uploadSweepInterval (a quarter of RENDERD_UPLOAD_TTL, if shorter)
// until ctx ends: complete uploads an outage kept from being recorded are
// recorded, and those past their lifetime removed. A failed round is
// logged and the next one tries again.
func sweepUploads(ctx context.Context, cfg httpapi.Config, log *slog.Logger) error {
	t := time.NewTicker(min(uploadSweepInterval, cfg.Resumable.Lifetime/4))
	defer t.Stop()
	for {
		done, err := httpapi.SweepUploads(ctx, cfg, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.WarnContext(ctx, "sweeping resumable uploads failed", "error", err, "expired", done.Expired, "recorded", done.Recorded)
		case done != httpapi.UploadSweep{}:
			log.InfoContext(ctx, "resumable uploads swept", "expired", done.Expired, "recorded", done.Recorded)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// uploadSweepInterval is how often an API process sweeps the resumable
// uploads: an upload outlives its Upload-Expires by at most this, and one
// an outage kept is recorded this long at most after the outage.
const uploadSweepInterval = 15 * time.Second

// apiAccounts is the accounts store with the configured key limit and
// cache TTL.
func apiAccounts(cfg Config, pool *pgxpool.Pool) *postgres.Accounts {
	return postgres.NewAccountsWith(pool, postgres.AccountsOptions{CacheTTL: cfg.APIKeyCacheTTL, MaxKeys: cfg.AccountMaxAPIKeys})
}

// workerPool is a worker pool that runs next to the router: the router
// only hands it hints.
type workerPool interface {
	Run(ctx context.Context) error
}

// consumerRouter wires the Kafka consumers of the projector role (read
// models) and the encoder role (the media worker and the render worker),
// whichever this process runs, and returns the encoder role's pools (the
// media worker's, and the render worker's unless RENDERD_ENCODER_RENDERS is
// false), which must run next to the router.
func consumerRouter(cfg Config, pool *pgxpool.Pool, notify *postgres.CommitNotifier, topics kafka.Topics, blobs blob.Store, log *slog.Logger) (*consumers.Router, []workerPool, error) {
	codec := eventschema.NewCodec()
	store := postgres.NewEventStore(pool, codec, nil)
	var handlers []consumers.Handler
	if cfg.has(RoleProjector) {
		rows := readmodel.NewStore(pool)
		handlers = append(handlers, consumers.ProjectorHandlers(consumers.Projections{
			Assets:  projections.NewAssetProjector(rows, store, log),
			Cuts:    projections.NewCutProjector(rows, store, log),
			Renders: projections.NewRenderProjector(rows, store, log),
		})...)
	}
	var pools []workerPool
	if cfg.has(RoleEncoder) {
		d := writeDeps(pool, notify)
		sandbox, err := mediaSandbox(cfg, log)
		if err != nil {
			return nil, nil, err
		}
		prober := ffmpeg.NewProber("", 2*time.Minute, ffmpeg.Limits{Memory: int64(cfg.FFmpegMemoryLimit),
			MaxPixels: int64(cfg.MaxSourceLongEdge) * int64(cfg.MaxSourceShortEdge), Sandbox: sandbox})
		cfg.WorkerID = cmp.Or(cfg.WorkerID, defaultWorkerID()) // one name for both pools' claims
		media, err := mediaWorker(cfg, d, store, pool, prober, blobs, log)
		if err != nil {
			return nil, nil, err
		}
		handlers = append(handlers, consumers.MediaHandlers(media)...)
		pools = append(pools, media)
		if cfg.EncoderRenders {
			renders, err := renderWorker(cfg, d, pool, prober, sandbox, blobs, log)
			if err != nil {
				return nil, nil, err
			}
			handlers = append(handlers, consumers.EncoderHandlers(renders)...)
			pools = append(pools, renders)
		}
	}
	if cfg.has(RoleWebhooks) {
		// The dispatchers are woken by one coalescing notifier, not by a
		// NOTIFY in each delivery's commit.
		wake := postgres.NewChannelNotifier(pool, hooks.Channel, log)
		deliveries := hooks.NewProjector(pool, store, httpapi.WebhookPayload,
			func() string { return "whd_" + uuid.Must(uuid.NewV7()).String() }, log).WakeWith(wake.Poke)
		handlers = append(handlers, consumers.WebhookHandlers(deliveries)...)
		pools = append(pools, wake)
	}
	router, err := consumers.NewRouter(consumers.Config{Brokers: cfg.KafkaBrokers, Topics: topics, GroupPrefix: cfg.GroupPrefix,
		Unavailable: postgres.IsUnavailable},
		codec, handlers, log)
	return router, pools, err
}

// warnWebhookGuard logs, at start, what RENDERD_WEBHOOK_ALLOW and
// RENDERD_WEBHOOK_ALLOW_HTTP open beyond the SSRF guard's default (make run
// opens loopback and http, so its output shows the line): an operator should
// never run that way by accident.
func warnWebhookGuard(cfg Config, log *slog.Logger) {
	if len(cfg.WebhookAllow) == 0 && !cfg.WebhookAllowHTTP {
		return
	}
	opened := make([]string, len(cfg.WebhookAllow))
	for i, p := range cfg.WebhookAllow {
		opened[i] = p.String()
	}
	log.Warn("the webhook SSRF guard is opened: webhooks may reach these ranges, or use http (meant for local development; no response body is kept from an opened range)",
		"RENDERD_WEBHOOK_ALLOW", strings.Join(opened, ","), "RENDERD_WEBHOOK_ALLOW_HTTP", cfg.WebhookAllowHTTP)
}

// webhookGuard is the SSRF guard of webhook URLs and connections.
func webhookGuard(cfg Config) *webhooks.Guard {
	return webhooks.NewGuard(cfg.WebhookAllow, cfg.WebhookAllowHTTP)
}

// webhookDispatcher wires the webhooks role's sender: due deliveries from
// Postgres, sent through the SSRF guard on the configured schedule.
func webhookDispatcher(cfg Config, pool *pgxpool.Pool, sealer hooks.SecretSealer, log *slog.Logger) (*hooks.Dispatcher, error) {
	sender := webhooks.NewSender(webhookGuard(cfg), cfg.WebhookTimeout)
	schedule := func(failed int, retryAfter time.Duration) (time.Duration, bool) {
		return cfg.WebhookSchedule.Next(failed, retryAfter, nil)
	}
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, pool.Config().ConnConfig) }
	return hooks.NewDispatcher(pool, connect, sealer, sender, schedule, hooks.DispatcherConfig{
		Senders: cfg.WebhookSenders, PerEndpoint: 4, Poll: time.Second, Hold: cfg.WebhookTimeout + 5*time.Second,
		DisableAfter: cfg.WebhookDisableAfter, ReadModelWait: 100 * time.Millisecond,
	}, time.Now, log)
}

// mediaWorker wires the encoder role's media worker: ffprobe for uploads,
// silencedetect for automatic cuts, both on files fetched from the blob
// store, in a pool fed by the media queue in Postgres.
func mediaWorker(cfg Config, d commands.Deps, store *postgres.EventStore, pool *pgxpool.Pool, prober *ffmpeg.Prober, blobs blob.Store, log *slog.Logger) (*encoders.MediaWorker, error) {
	probe, err := commands.NewProbeAssetHandler(d, prober, blobs, cfg.sourceLimits())
	if err != nil {
		return nil, err
	}
	cuts, err := commands.NewCompleteCutHandler(d, ffmpeg.NewSilenceDetector("", prober, 10*time.Minute), blobs)
	if err != nil {
		return nil, err
	}
	wc := encoders.MediaWorkerConfig{
		WorkerID:     cfg.WorkerID,
		Concurrency:  cfg.mediaConcurrency(),
		Lease:        cfg.EncoderLease,
		PollInterval: cfg.EncoderPoll,
		RetryDelay:   5 * time.Second,
	}
	return encoders.NewMediaWorker(wc, probe, cuts, store, postgres.NewMediaJobs(pool), time.Now, log)
}

// renderWorker wires the encoder role's render pipeline: the render
// commands, the queue and leases in Postgres, ffmpeg on files fetched from
// and committed to the blob store.
func renderWorker(cfg Config, d commands.Deps, pool *pgxpool.Pool, prober *ffmpeg.Prober, sandbox *ffmpeg.Sandbox, blobs blob.Store, log *slog.Logger) (*encoders.RenderWorker, error) {
	var cmds encoders.RenderCommands
	var errs []error
	var err error
	cmds.Start, err = commands.NewStartRenderHandler(d, cfg.AccountMaxRunning)
	errs = append(errs, err)
	cmds.Progress, err = commands.NewReportProgressHandler(d)
	errs = append(errs, err)
	cmds.Complete, err = commands.NewCompleteRenderHandler(d)
	errs = append(errs, err)
	cmds.Fail, err = commands.NewFailRenderHandler(d)
	errs = append(errs, err)
	cmds.Retry, err = commands.NewRetryRenderHandler(d)
	errs = append(errs, err)
	cmds.LoseLease, err = commands.NewLoseRenderLeaseHandler(d)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slots := cmp.Or(cfg.EncoderConcurrency, runtime.NumCPU())
	alone, shared := encodeThreads(cfg.FFmpegThreads, slots, runtime.NumCPU())
	wc := encoders.RenderWorkerConfig{
		WorkerID:      cmp.Or(cfg.WorkerID, defaultWorkerID()),
		Concurrency:   slots,
		Lease:         cfg.EncoderLease,
		PollInterval:  cfg.EncoderPoll,
		CancelCheck:   cfg.EncoderCancelCheck,
		Threads:       alone,
		SharedThreads: shared,
		ScratchDir:    cfg.ScratchDir,

		MaxRunningPerAccount: cfg.AccountMaxRunning,
	}
	media := ffmpeg.NewEncoder("", time.Second, ffmpeg.EncodeLimits{Stall: cfg.EncodeStallTimeout, MaxTime: cfg.EncodeMaxTime,
		Memory: int64(cfg.FFmpegMemoryLimit), Sandbox: sandbox}, prober)
	return encoders.NewRenderWorker(wc, cmds, d.Store, postgres.NewRenderJobs(pool), blobs, media, time.Now, log)
}

// sandboxExecCommand is the hidden command that runs the media sandbox's
// helper (main).
const sandboxExecCommand = "sandbox-exec"

// mediaSandbox confines the encoder role's ffmpeg and ffprobe. The Landlock
// helper is renderd-sandbox when it lies beside this binary (make build
// puts it there): it starts in about 1 ms, this binary in about 15 (its
// dependencies' package initialisation), and every probe and encode starts
// one. Otherwise this very binary serves, as `renderd sandbox-exec`.
func mediaSandbox(cfg Config, log *slog.Logger) (*ffmpeg.Sandbox, error) {
	var helper []string
	if exe, err := os.Executable(); err == nil {
		helper = sandboxHelper(exe)
	}
	return ffmpeg.NewSandbox(ffmpeg.SandboxConfig{Mode: ffmpeg.SandboxMode(cfg.MediaSandbox), User: cfg.MediaUser, Helper: helper,
		Memory: int64(cfg.FFmpegMemoryLimit), Private: privateFolders(cfg)},
		log.With("component", "media-sandbox"))
}

// sandboxHelper is the helper command for the renderd binary at exe.
func sandboxHelper(exe string) []string {
	small := filepath.Join(filepath.Dir(exe), "renderd-sandbox")
	if st, err := os.Stat(small); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
		return []string{small}
	}
	return []string{exe, sandboxExecCommand}
}

// defaultWorkerID names this process uniquely enough for leases and logs.
func defaultWorkerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", cmp.Or(host, "renderd"), os.Getpid(), rand.Text()[:6])
}

// downloadSigner signs download URLs with the configured key ring, or with
// a random key (download URLs then die with the process and work on this
// instance only: fine for development, said loudly).
func downloadSigner(cfg Config, log *slog.Logger) (*blob.Signer, error) {
	keys := cfg.DownloadKeys
	if len(keys) == 0 {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		keys = []keyring.Key{{ID: "random", Secret: secret}}
		log.Warn("RENDERD_DOWNLOAD_SECRET is not set: download URLs are signed with a random key and stop working on restart or on another instance")
	}
	return blob.NewSigner(keys)
}

// secretSealer is the key ring of RENDERD_SECRETS_KEY, which seals webhook
// signing secrets at rest.
func secretSealer(cfg Config) (*keyring.AEAD, error) {
	if len(cfg.SecretsKeys) == 0 {
		return nil, fmt.Errorf("%w: RENDERD_SECRETS_KEY is not set", errUsage)
	}
	return keyring.NewAEAD(cfg.SecretsKeys)
}

// encodeThreads is an encode's ffmpeg -threads (0: ffmpeg's own choice)
// for RENDERD_FFMPEG_THREADS setting with slots renders at once on cores,
// when it starts alone and when it starts beside other jobs (0: as alone).
// By default (0) an encode alone takes ffmpeg's own choice, every core, and
// one beside others the slot's share of the cores: make bench measured
// both best (the encode rows, one render on an idle encoder; the pool rows,
// renders queued). -1 is ffmpeg's own choice always; a number, that many
// threads always.
func encodeThreads(setting, slots, cores int) (alone, shared int) {
	switch setting {
	case 0:
		return 0, max(1, cores/slots)
	case -1:
		return 0, 0
	}
	return setting, 0
}
