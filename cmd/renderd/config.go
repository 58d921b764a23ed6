package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/renderd/renderd/adapters/ffmpeg"
	"github.com/renderd/renderd/adapters/kafka"
	"github.com/renderd/renderd/adapters/keyring"
	"github.com/renderd/renderd/adapters/webhooks"
	"github.com/renderd/renderd/domain"
	"github.com/renderd/renderd/ports/httpapi"
)

// Config is renderd's whole configuration, read from environment variables
// and flags (a flag wins), with defaults, and validated before anything runs.
type Config struct {
	DatabaseURL  string
	KafkaBrokers []string
	HTTPAddr     string
	DebugAddr    string
	DebugRemote  bool
	MetricsAddr  string // "": no metrics listener
	Roles        []string

	HTTPTimeout     time.Duration
	HTTPIdleTimeout time.Duration
	TransferMinRate int
	TransferWindow  time.Duration

	TopicPrefix       string
	GroupPrefix       string
	Partitions        int
	ReplicationFactor int // 0: auto (kafka.AutoReplication), -1: the broker's default

	RelayBatchSize    int
	RelayPollInterval time.Duration

	FreeAllowanceMinutes int
	BlobURL              string
	ScratchDir           string
	scratchRoot          string // RENDERD_SCRATCH_DIR once serve made ScratchDir the process's own folder in it (scratch.go)
	BlobSweepInterval    time.Duration
	BlobSweepMinAge      time.Duration
	PublicURL            string
	DownloadKeys         []keyring.Key // the first signs, all verify
	SecretsKeys          []keyring.Key // the first seals webhook secrets, all open
	DownloadTTL          time.Duration
	UploadTTL            time.Duration
	MaxUploadBytes       int
	MaxJSONBytes         int
	ReadYourWrites       time.Duration
	Limits               httpapi.Limits
	DBMaxConns           int

	// BlobDirAlias is the deprecated RENDERD_BLOB_DIR, when it was set: it
	// then chose BlobURL, and serve says so in its log.
	BlobDirAlias string

	EncoderRenders bool

	// OutputRetention is how long a completed render's output is kept (0:
	// until its asset is deleted); ErasureInterval, how often the encoder
	// role expires outputs and removes the blobs of deletions.
	OutputRetention time.Duration
	ErasureInterval time.Duration

	// Per-account limits on the render queue, and the storage quota.
	AccountMaxQueued, AccountMaxRunning int
	AccountStorageBytes                 int64
	// Limits on cuts in flight: per asset, and automatic ones per account.
	AssetMaxCutsInFlight, AccountMaxAutoCuts int
	// API keys: most per account, and how long a process trusts a cached
	// key without a lookup (the fallback to revocation notifications).
	AccountMaxAPIKeys int
	APIKeyCacheTTL    time.Duration

	// Source limits, checked at probe (source_too_large beyond them).
	MaxSourceLongEdge, MaxSourceShortEdge int
	MaxSourceFPS                          float64
	MaxSourceSeconds                      int

	WebhookAllow        []netip.Prefix
	WebhookAllowHTTP    bool
	WebhookSchedule     webhooks.Schedule
	WebhookTimeout      time.Duration
	WebhookDisableAfter time.Duration
	WebhookSenders      int
	WorkerID            string
	EncoderConcurrency  int
	MediaConcurrency    int
	EncoderLease        time.Duration
	EncoderPoll         time.Duration
	EncoderCancelCheck  time.Duration
	EncodeStallTimeout  time.Duration
	EncodeMaxTime       time.Duration
	FFmpegMemoryLimit   int
	FFmpegThreads       int
	MediaSandbox        string
	MediaUser           string

	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string

	// Webhook bounds: live endpoints per account, redeliveries per delivery.
	WebhookMaxEndpoints, WebhookMaxRedeliveries int
}

// Roles a serve process can run.
const (
	RoleAPI       = "api"
	RoleRelay     = "relay"
	RoleProjector = "projector"
	RoleEncoder   = "encoder"
	RoleWebhooks  = "webhooks"
)

var allRoles = []string{RoleAPI, RoleRelay, RoleProjector, RoleEncoder, RoleWebhooks}

// maxTransferWindow bounds RENDERD_TRANSFER_WINDOW well below
// legacyTempAge: a live upload writes its temporary file at least once per
// window, so the sweep of a renderd that judges temporary files by age
// alone (an older one, during an upgrade) never takes it for one a crash
// left behind. The setting's help and error say "10m" too.
const maxTransferWindow = 10 * time.Minute

// setting is one configuration value: its environment variable, its flag,
// its default and how to parse it. The README's config table is generated
// from these (renderd config-table) and checked by a test. A secret has no
// flag (flag ""): the command line shows in ps and /proc/<pid>/cmdline.
type setting struct {
	env, flag, def, help string
	set                  func(c *Config, v string) error
}

var settings = []setting{
	{"DATABASE_URL", "database-url", "", "Postgres connection URL (required); the flag refuses one carrying a password (keep that in the environment, PGPASSWORD or ~/.pgpass)",
		func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{"KAFKA_BROKERS", "kafka-brokers", "", "comma-separated Kafka bootstrap brokers (required by the relay, projector, encoder and webhooks roles)",
		func(c *Config, v string) error { c.KafkaBrokers = splitList(v); return nil }},
	{"RENDERD_HTTP_ADDR", "http-addr", "127.0.0.1:8080", "address the API listens on",
		func(c *Config, v string) error { c.HTTPAddr = v; return nil }},
	{"RENDERD_HTTP_TIMEOUT", "http-timeout", "30s", "how long a JSON request, body included, may take to arrive (408 request_timeout after); its answer may take RENDERD_READ_YOUR_WRITES_TIMEOUT longer",
		durationSetting(func(c *Config) *time.Duration { return &c.HTTPTimeout })},
	{"RENDERD_HTTP_IDLE_TIMEOUT", "http-idle-timeout", "2m", "how long an idle keep-alive connection stays open",
		durationSetting(func(c *Config) *time.Duration { return &c.HTTPIdleTimeout })},
	{"RENDERD_TRANSFER_MIN_RATE", "transfer-min-rate", "8192", "slowest upload or download, in bytes per second over each RENDERD_TRANSFER_WINDOW; a slower one is cut off (an upload with 408 upload_too_slow, and nothing stored)",
		intSetting(func(c *Config) *int { return &c.TransferMinRate })},
	{"RENDERD_TRANSFER_WINDOW", "transfer-window", "30s", "window the minimum transfer rate is measured over, at most 10m (see RENDERD_BLOB_SWEEP_INTERVAL)",
		durationSetting(func(c *Config) *time.Duration { return &c.TransferWindow })},
	{"RENDERD_DEBUG_ADDR", "debug-addr", "", "address of the pprof endpoints (/debug/pprof/); empty: off. A loopback address only (a host name must resolve to loopback alone), unless RENDERD_DEBUG_ALLOW_REMOTE",
		func(c *Config, v string) error { c.DebugAddr = v; return nil }},
	{"RENDERD_DEBUG_ALLOW_REMOTE", "debug-allow-remote", "false", "let RENDERD_DEBUG_ADDR listen beyond loopback (pprof has no authentication, and its profiles and command line tell a lot)",
		func(c *Config, v string) (err error) { c.DebugRemote, err = strconv.ParseBool(v); return err }},
	{"RENDERD_METRICS_ADDR", "metrics-addr", "127.0.0.1:9464", "address of the metrics listener (/metrics, /healthz, /readyz), for every role and never the API's port; empty (set to nothing) or off: no listener (README, \"Metrics\")",
		func(c *Config, v string) error {
			if v == metricsOff {
				v = ""
			}
			c.MetricsAddr = v
			return nil
		}},
	{"RENDERD_ROLES", "roles", strings.Join(allRoles, ","), "roles this process runs: " + strings.Join(allRoles, ", "),
		func(c *Config, v string) error { c.Roles = splitList(v); return nil }},
	{"RENDERD_KAFKA_TOPIC_PREFIX", "kafka-topic-prefix", "renderd.", "prefix of the event topics (<prefix>assets, <prefix>cuts, <prefix>renders)",
		func(c *Config, v string) error { c.TopicPrefix = v; return nil }},
	{"RENDERD_KAFKA_GROUP_PREFIX", "kafka-group-prefix", "", "prefix of renderd's consumer-group names (for deployments sharing a Kafka cluster)",
		func(c *Config, v string) error { c.GroupPrefix = v; return nil }},
	{"RENDERD_KAFKA_PARTITIONS", "kafka-partitions", "12", "partitions of event topics renderd creates",
		intSetting(func(c *Config) *int { return &c.Partitions })},
	{"RENDERD_KAFKA_REPLICATION_FACTOR", "kafka-replication-factor", "auto", "replication factor of topics renderd creates: auto (min(3, brokers), with min.insync.replicas 2 from 2 copies on, else 1), -1 (the broker's defaults) or a number (min.insync.replicas 2 from 2 on)",
		replicationSetting},
	{"RENDERD_RELAY_BATCH_SIZE", "relay-batch-size", "500", "most events the relay publishes per Kafka round trip",
		intSetting(func(c *Config) *int { return &c.RelayBatchSize })},
	{"RENDERD_RELAY_POLL_INTERVAL", "relay-poll-interval", "1s", "how often the relay looks for events without a commit notification",
		durationSetting(func(c *Config) *time.Duration { return &c.RelayPollInterval })},
	{"RENDERD_SHUTDOWN_TIMEOUT", "shutdown-timeout", "30s", "how long a graceful shutdown may take",
		durationSetting(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"RENDERD_BLOB_URL", "blob-url", defaultBlobURL, "blob store of uploaded media and render outputs: file:<folder> (file:///abs, file:rel or a bare path) for a local folder, or s3://bucket/prefix?endpoint=…&region=…&path_style=true for any S3-compatible object store, credentials from the standard AWS environment variables (docs/architecture.md, \"Blob stores\")",
		func(c *Config, v string) error { c.BlobURL = v; return nil }},
	{"RENDERD_BLOB_DIR", "blob-dir", "", "deprecated spelling of RENDERD_BLOB_URL=file:<folder>, still honoured so that an upgraded deployment keeps its folder; refused together with RENDERD_BLOB_URL",
		func(c *Config, v string) error {
			switch {
			case v == "":
			case c.BlobURL != defaultBlobURL:
				return errors.New("set RENDERD_BLOB_URL alone (RENDERD_BLOB_DIR is its deprecated spelling for a local folder)")
			default:
				c.BlobURL, c.BlobDirAlias = v, v
			}
			return nil
		}},
	{"RENDERD_SCRATCH_DIR", "scratch-dir", ".data/scratch", "local folder of the api and encoder roles' working files: on an S3 store the copies of sources ffprobe and ffmpeg read and the outputs ffmpeg writes before they are uploaded, on any store a render's filter script. Each process works in a folder of its own in it, removed when it stops, or by the next start on the same folder after a crash. Size it for the largest source plus its output per running render and probe",
		func(c *Config, v string) error { c.ScratchDir = v; return nil }},
	{"RENDERD_BLOB_SWEEP_INTERVAL", "blob-sweep-interval", "5m", "how often the api and encoder roles sweep the temporary blob files a crash left behind (also at start): an encoder the outputs of render attempts that are over, an API process the uploads idle for twice RENDERD_TRANSFER_WINDOW plus RENDERD_BLOB_SWEEP_MIN_AGE",
		durationSetting(func(c *Config) *time.Duration { return &c.BlobSweepInterval })},
	{"RENDERD_BLOB_SWEEP_MIN_AGE", "blob-sweep-min-age", "5m", "how long a temporary blob file must go unwritten before the sweep may remove it, and the margin over an upload's longest pause",
		durationSetting(func(c *Config) *time.Duration { return &c.BlobSweepMinAge })},
	{"RENDERD_OUTPUT_RETENTION", "output-retention", "720h", "how long a completed render's output is kept before the encoder role removes it (the render then shows output_expired and no download_url; the same request renders it again); 0 keeps outputs until their asset is deleted",
		durationSetting(func(c *Config) *time.Duration { return &c.OutputRetention })},
	{"RENDERD_ERASURE_INTERVAL", "erasure-interval", "30s", "how often the encoder role expires outputs past RENDERD_OUTPUT_RETENTION and removes the blobs of deleted assets and expired outputs from the blob store (a failed removal is tried again at a later pass)",
		durationSetting(func(c *Config) *time.Duration { return &c.ErasureInterval })},
	{"RENDERD_PUBLIC_URL", "public-url", "", "base of download URLs (default: http:// + RENDERD_HTTP_ADDR)",
		func(c *Config, v string) error { c.PublicURL = strings.TrimRight(v, "/"); return nil }},
	{"RENDERD_DOWNLOAD_SECRET", "", "", "key ring signing download URLs: comma-separated id:base64 keys of at least 32 random bytes, the first signing, all verifying (k2:…,k1:…; one bare base64 key is the key 0); share it between instances (default: random per process, with a warning)",
		func(c *Config, v string) (err error) {
			if v != "" {
				c.DownloadKeys, err = keyring.Parse(v, 32, 0)
			}
			return err
		}},
	{"RENDERD_SECRETS_KEY", "", "", "key ring sealing webhook signing secrets at rest (AES-256-GCM): comma-separated id:base64 keys of exactly 32 random bytes, the first sealing, all opening; required by the api and webhooks roles. make run keeps one in .data/secrets.key",
		func(c *Config, v string) (err error) {
			if v != "" {
				c.SecretsKeys, err = keyring.Parse(v, 32, 32)
			}
			return err
		}},
	{"RENDERD_DOWNLOAD_TTL", "download-ttl", "15m", "how long a download URL stays valid",
		durationSetting(func(c *Config) *time.Duration { return &c.DownloadTTL })},
	{"RENDERD_UPLOAD_TTL", "upload-ttl", "24h", "how long a resumable upload (/v1/uploads) may be resumed after its creation (Upload-Expires); an unfinished one is removed after",
		durationSetting(func(c *Config) *time.Duration { return &c.UploadTTL })},
	{"RENDERD_MAX_UPLOAD_BYTES", "max-upload-bytes", "2147483648", "largest media upload accepted (413 above)",
		intSetting(func(c *Config) *int { return &c.MaxUploadBytes })},
	{"RENDERD_MAX_JSON_BYTES", "max-json-bytes", "1048576", "largest JSON request body accepted (413 above)",
		intSetting(func(c *Config) *int { return &c.MaxJSONBytes })},
	{"RENDERD_READ_YOUR_WRITES_TIMEOUT", "read-your-writes-timeout", "2s", "how long a write waits for the read model to show it before answering anyway",
		durationSetting(func(c *Config) *time.Duration { return &c.ReadYourWrites })},
	// Rate limits hold per API process (README, "Limits"). The defaults
	// are meant never to touch a real client; they stop a runaway loop or
	// a flood.
	{"RENDERD_RATE_READS", "rate-reads", "100/s,200", "per account and API process, GET requests: requests per second (/s) or minute (/m), then the burst; off: no limit. A client polling 50 renders every second uses half",
		rateSetting(func(c *Config) *httpapi.Rate { return &c.Limits.Reads })},
	{"RENDERD_RATE_WRITES", "rate-writes", "20/s,100", "per account and API process, other JSON requests (POST, DELETE): 100 renders requested at once, then 20 a second",
		rateSetting(func(c *Config) *httpapi.Rate { return &c.Limits.Writes })},
	{"RENDERD_RATE_UPLOADS", "rate-uploads", "2/s,20", "per account and API process, media uploads (PUT …/source, …/audio): 20 started at once, then 2 a second; bandwidth is the real bound",
		rateSetting(func(c *Config) *httpapi.Rate { return &c.Limits.Uploads })},
	{"RENDERD_RATE_REDELIVER", "rate-redeliver", "1/s,60", "per account and API process, webhook redeliveries (each sends a request to the account's endpoint): 60 at once, then 1 a second",
		rateSetting(func(c *Config) *httpapi.Rate { return &c.Limits.Redeliver })},
	{"RENDERD_RATE_ANONYMOUS", "rate-anonymous", "20/s,100", "per client address and API process, requests without a valid API key, a key's first use in the process (before its database lookup) and downloads: room for an office behind one NAT",
		rateSetting(func(c *Config) *httpapi.Rate { return &c.Limits.Anonymous })},
	{"RENDERD_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of the reverse proxies in front of the API: from them, the client address is the right-most X-Forwarded-For hop outside these; empty: the connection's address",
		func(c *Config, v string) error {
			p, err := webhooks.ParsePrefixes(v)
			if err != nil {
				return fmt.Errorf("%q is not a list of CIDRs or addresses", v)
			}
			c.Limits.TrustedProxies = p
			return nil
		}},
	{"RENDERD_DB_MAX_CONNS", "db-max-conns", "32", "Postgres connections per process",
		intSetting(func(c *Config) *int { return &c.DBMaxConns })},
	{"RENDERD_ACCOUNT_MAX_QUEUED", "account-max-queued", "100", "renders one account may have pending or running at once; a request for another answers 429 too_many_renders (a repeat of an existing render still answers 200). 0: no limit",
		intSetting(func(c *Config) *int { return &c.AccountMaxQueued })},
	{"RENDERD_ACCOUNT_MAX_RUNNING", "account-max-running", "4", "renders of one account that run at once across all encoders; the rest wait in the queue (not an error), and free encoder slots go to other accounts first. 0: no limit",
		intSetting(func(c *Config) *int { return &c.AccountMaxRunning })},
	{"RENDERD_ACCOUNT_STORAGE_BYTES", "account-storage-bytes", "107374182400", "bytes of sources and outputs one account may store (100 GiB); an upload past it answers 413 storage_quota_exceeded before its body is read (or when a body without a length passes it), a render request 409 storage_quota_exceeded. 0: no limit",
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a number of bytes", v)
			}
			c.AccountStorageBytes = n
			return nil
		}},
	{"RENDERD_ASSET_MAX_CUTS_IN_FLIGHT", "asset-max-cuts-in-flight", "50", "cuts of one asset that may be processing at once (waiting for the asset's upload and charge, or for silence detection); a request for another answers 429 too_many_cuts. A cut decided at once is never refused. 0: no limit",
		intSetting(func(c *Config) *int { return &c.AssetMaxCutsInFlight })},
	{"RENDERD_ACCOUNT_MAX_AUTO_CUTS", "account-max-auto-cuts", "4", "automatic (silence-removal) cuts of one account that may be processing at once, over all its assets; a request for another answers 429 too_many_cuts. 0: no limit",
		intSetting(func(c *Config) *int { return &c.AccountMaxAutoCuts })},
	{"RENDERD_ACCOUNT_MAX_API_KEYS", "account-max-api-keys", "20", "API keys one account may hold, expired ones included until revoked; another answers 409 too_many_api_keys",
		intSetting(func(c *Config) *int { return &c.AccountMaxAPIKeys })},
	{"RENDERD_API_KEY_CACHE_TTL", "api-key-cache-ttl", "30s", "how long an API process trusts a key it looked up before looking it up again (1s to 5m): revocations reach every process at once through Postgres LISTEN/NOTIFY, and this bounds a revoked key's life should a notification be lost",
		durationSetting(func(c *Config) *time.Duration { return &c.APIKeyCacheTTL })},
	{"RENDERD_ENCODER_RENDERS", "encoder-renders", "true", "whether the encoder role encodes renders (false: it only probes uploads and completes cuts)",
		func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.EncoderRenders = b
			return err
		}},
	{"RENDERD_WORKER_ID", "worker-id", "", "this process's name in render.started and leases (default: host name, pid and a random suffix)",
		func(c *Config, v string) error { c.WorkerID = v; return nil }},
	{"RENDERD_ENCODER_CONCURRENCY", "encoder-concurrency", "0", "renders one encoder process runs at once (0: the number of CPU cores)",
		intSetting(func(c *Config) *int { return &c.EncoderConcurrency })},
	{"RENDERD_MEDIA_CONCURRENCY", "media-concurrency", "0", "probes and silence detections one encoder process runs at once, beside its renders (0: the number of CPU cores, at least 2)",
		intSetting(func(c *Config) *int { return &c.MediaConcurrency })},
	{"RENDERD_ENCODER_LEASE", "encoder-lease", "30s", "lease of a running render or media job, renewed every third of it; work whose encoder stops renewing is taken up again after it",
		durationSetting(func(c *Config) *time.Duration { return &c.EncoderLease })},
	{"RENDERD_ENCODER_POLL_INTERVAL", "encoder-poll-interval", "2s", "how often an encoder with a free slot reads the render and media queues without a Kafka hint",
		durationSetting(func(c *Config) *time.Duration { return &c.EncoderPoll })},
	{"RENDERD_ENCODER_CANCEL_CHECK", "encoder-cancel-check", "250ms", "how often a running render checks it was not cancelled (ffmpeg stops within about this, plus a second)",
		durationSetting(func(c *Config) *time.Duration { return &c.EncoderCancelCheck })},
	{"RENDERD_ENCODE_STALL_TIMEOUT", "encode-stall-timeout", "10m", "a render's ffmpeg that neither advances its output nor reads for this long is stopped, and the render fails with timeout. Outside Linux only the output counts: then it must outlast the +faststart rewrite that ends a long output (about 3 min for 90 GB at 460 MB/s)",
		durationSetting(func(c *Config) *time.Duration { return &c.EncodeStallTimeout })},
	{"RENDERD_ENCODE_MAX_TIME", "encode-max-time", "48h", "no render's ffmpeg runs longer than this, however busy, and the render fails with timeout. 4 h of 4K to 4K takes about 18 h on 2 cores running 2 renders: lower it on bigger encoders",
		durationSetting(func(c *Config) *time.Duration { return &c.EncodeMaxTime })},
	{"RENDERD_FFMPEG_MEMORY_LIMIT", "ffmpeg-memory-limit", "4294967296", "address space each ffmpeg and ffprobe may map, in bytes (RLIMIT_AS, set by the media sandbox's helper, or by util-linux's prlimit without it); 0: no cap. A render over it fails with memory_limit_exceeded, an upload's probe with source_too_large. Measured on 2 cores: 4K encode 1.6 GiB, 1080p 0.9 GiB, ffprobe 0.3 GiB; it grows with threads (a 4K encode at 16: 4.3 GiB), so raise it, or set RENDERD_FFMPEG_THREADS, on encoders with many cores",
		intSetting(func(c *Config) *int { return &c.FFmpegMemoryLimit })},
	{"RENDERD_FFMPEG_THREADS", "ffmpeg-threads", "0", "threads of each render's encoder (ffmpeg -threads), so that the renders of one encoder share its cores; 0: an encode that starts alone ffmpeg's own choice (every core), one that starts beside others the slot's share, max(1, cores / RENDERD_ENCODER_CONCURRENCY), each measured best on 2 cores (make bench); -1: ffmpeg's own choice always (libx264 takes 1.5 threads per core); a number: that many always",
		intSetting(func(c *Config) *int { return &c.FFmpegThreads })},
	{"RENDERD_MEDIA_SANDBOX", "media-sandbox", "auto", "how ffmpeg and ffprobe are confined (docs/renders.md): auto uses every layer the kernel allows (an unprivileged user when renderd is root, a new network namespace, Landlock, a seccomp filter denying sockets) and logs a warning per missing one; strict refuses to start without all of them; off runs them as renderd's user with its network",
		func(c *Config, v string) error { c.MediaSandbox = v; return nil }},
	{"RENDERD_MEDIA_USER", "media-user", "nobody", "the account ffmpeg and ffprobe run as when renderd runs as root (a name or a uid; not root); a dedicated account is better than a shared nobody",
		func(c *Config, v string) error { c.MediaUser = v; return nil }},
	{"RENDERD_WEBHOOK_ALLOW", "webhook-allow", "", "comma-separated CIDRs webhooks may reach despite the SSRF guard (private, loopback, link-local addresses are refused otherwise); make run sets 127.0.0.0/8,::1/128",
		func(c *Config, v string) (err error) { c.WebhookAllow, err = webhooks.ParsePrefixes(v); return err }},
	{"RENDERD_WEBHOOK_ALLOW_HTTP", "webhook-allow-http", "false", "whether webhook endpoints may use http:// (https only otherwise); make run sets true",
		func(c *Config, v string) (err error) { c.WebhookAllowHTTP, err = strconv.ParseBool(v); return err }},
	{"RENDERD_WEBHOOK_SCHEDULE", "webhook-schedule", "5s,30s,30s,30s,2m,10m,30m,2h,5h,10h,10h", "delays between webhook attempts (±20 % jitter, Retry-After as a floor); after the last one a delivery fails",
		func(c *Config, v string) (err error) { c.WebhookSchedule, err = webhooks.ParseSchedule(v); return err }},
	{"RENDERD_WEBHOOK_TIMEOUT", "webhook-timeout", "10s", "how long a webhook receiver has to answer",
		durationSetting(func(c *Config) *time.Duration { return &c.WebhookTimeout })},
	{"RENDERD_WEBHOOK_DISABLE_AFTER", "webhook-disable-after", "120h", "an endpoint failing every delivery for this long is disabled",
		durationSetting(func(c *Config) *time.Duration { return &c.WebhookDisableAfter })},
	{"RENDERD_WEBHOOK_SENDERS", "webhook-senders", "32", "webhook attempts one process sends at once (at most 4 to one endpoint)",
		intSetting(func(c *Config) *int { return &c.WebhookSenders })},
	{"RENDERD_WEBHOOK_MAX_ENDPOINTS", "webhook-max-endpoints", "20", "webhook endpoints one account may have (409 webhook_endpoint_limit beyond; deleted ones do not count)",
		intSetting(func(c *Config) *int { return &c.WebhookMaxEndpoints })},
	{"RENDERD_WEBHOOK_MAX_REDELIVERIES", "webhook-max-redeliveries", "10", "times one webhook delivery may be redelivered through the API (409 redelivery_limit beyond), besides the per-account rate RENDERD_RATE_REDELIVER",
		intSetting(func(c *Config) *int { return &c.WebhookMaxRedeliveries })},
	{"RENDERD_MAX_SOURCE_DIMENSIONS", "max-source-dimensions", "4096x2304", "largest displayed picture of a source, long edge × short edge in either orientation (4K); larger sources fail source_too_large at probe, before any frame is decoded",
		func(c *Config, v string) error {
			long, short, ok := strings.Cut(strings.ToLower(v), "x")
			l, errL := strconv.Atoi(long)
			s, errS := strconv.Atoi(short)
			if !ok || errL != nil || errS != nil || l < 16 || s < 16 || s > l {
				return fmt.Errorf("%q is not LONGxSHORT in pixels (like 4096x2304)", v)
			}
			c.MaxSourceLongEdge, c.MaxSourceShortEdge = l, s
			return nil
		}},
	{"RENDERD_MAX_SOURCE_FPS", "max-source-fps", "120", "highest frame rate of a source; faster sources fail source_too_large at probe",
		func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 1 || f > 1000 {
				return fmt.Errorf("%q is not a frame rate from 1 to 1000", v)
			}
			c.MaxSourceFPS = f
			return nil
		}},
	{"RENDERD_MAX_SOURCE_SECONDS", "max-source-seconds", "14400", "longest source or extracted audio, in seconds (4 h); longer ones fail source_too_large at probe",
		intSetting(func(c *Config) *int { return &c.MaxSourceSeconds })},
	{"RENDERD_FREE_ALLOWANCE_MINUTES", "free-allowance-minutes", "60", "credits a new account starts with, in minutes of media",
		intSetting(func(c *Config) *int { return &c.FreeAllowanceMinutes })},
	{"RENDERD_LOG_LEVEL", "log-level", "info", "debug, info, warn or error",
		func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{"RENDERD_LOG_FORMAT", "log-format", "text", "text or json",
		func(c *Config, v string) error { c.LogFormat = v; return nil }},
}

// replicationSetting reads RENDERD_KAFKA_REPLICATION_FACTOR: auto is 0
// (kafka.AutoReplication), -1 the broker's default, else the copies.
func replicationSetting(c *Config, v string) error {
	if v == "auto" {
		c.ReplicationFactor = int(kafka.AutoReplication)
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n == 0 || n < -1 || n > math.MaxInt16 {
		return fmt.Errorf("%q is not auto, -1 or a number of copies", v)
	}
	c.ReplicationFactor = n
	return nil
}

func intSetting(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}
}

func rateSetting(field func(*Config) *httpapi.Rate) func(*Config, string) error {
	return func(c *Config, v string) (err error) {
		*field(c), err = httpapi.ParseRate(v)
		return err
	}
}

func durationSetting(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 500ms or 2s)", v)
		}
		*field(c) = d
		return nil
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// minMemoryLimit is the smallest memory cap worth setting: under about
// 265 MiB ffmpeg cannot even load its libraries, and every run would fail.
const minMemoryLimit = 512 << 20

// metricsOff is RENDERD_METRICS_ADDR turning the listener off. An empty
// environment variable means a setting's default everywhere else, so main
// reads RENDERD_METRICS_ADDR set to nothing as this (settingsEnv).
const metricsOff = "off"

// settingsEnv is os.Getenv for the settings, except that
// RENDERD_METRICS_ADDR set and empty reads as metricsOff: "empty turns it
// off" is what an operator writes in a manifest.
func settingsEnv(k string) string {
	v, set := os.LookupEnv(k)
	if set && v == "" && k == "RENDERD_METRICS_ADDR" {
		return metricsOff
	}
	return v
}

// errUsage marks configuration and usage errors: exit code 2.
var errUsage = errors.New("usage")

// loadConfig reads the settings from getenv, then from args (flags of the
// subcommand name), and validates them. It returns the remaining arguments.
// extra, if not nil, registers the subcommand's own flags.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, []string, error) {
	var c Config
	values := map[string]string{}
	for _, s := range settings {
		values[s.env] = s.def
		if v := getenv(s.env); v != "" {
			values[s.env] = v
		}
	}
	if err := refuseSecretFlags(args); err != nil {
		return c, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	fs := flag.NewFlagSet("renderd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromFlag := map[string]bool{}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		fs.Func(s.flag, s.help+" (env "+s.env+")", func(v string) error { values[s.env], fromFlag[s.env] = v, true; return nil })
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fromFlag["DATABASE_URL"] && urlHasPassword(values["DATABASE_URL"]) {
		return c, nil, fmt.Errorf("%w: --database-url carries a password, and the command line shows in ps and /proc/<pid>/cmdline: "+
			"set DATABASE_URL in the environment (or keep the password in PGPASSWORD or ~/.pgpass)", errUsage)
	}
	for _, s := range settings {
		if err := s.set(&c, values[s.env]); err != nil {
			return c, nil, fmt.Errorf("%w: %s: %w", errUsage, s.env, err)
		}
	}
	if err := c.validate(name); err != nil {
		return c, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, fs.Args(), nil
}

// refuseSecretFlags refuses a secret setting given as a flag (see
// setting), naming its environment variable, never echoing the value.
func refuseSecretFlags(args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		name, ok := strings.CutPrefix(a, "-")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
		for _, s := range settings {
			if s.flag == "" && name == secretFlagName(s.env) {
				return fmt.Errorf("--%s is not accepted: a secret on the command line shows in ps and /proc/<pid>/cmdline; set %s in the environment", name, s.env)
			}
		}
	}
	return nil
}

// secretFlagName is the flag a secret setting would have had:
// RENDERD_DOWNLOAD_SECRET → download-secret.
func secretFlagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "RENDERD_")), "_", "-")
}

// urlHasPassword reports whether a connection URL carries a password, in
// its user part or as a password= or sslpassword= (the client key's
// passphrase) parameter.
func urlHasPassword(v string) bool {
	u, err := url.Parse(v)
	if err != nil {
		return strings.Contains(strings.ToLower(v), "password") // unparsable: assume the worst
	}
	_, has := u.User.Password()
	q := u.Query()
	return has || q.Has("password") || q.Has("sslpassword")
}

func (c Config) validate(command string) error {
	var errs []error
	if c.DatabaseURL == "" && command != "events tail" {
		errs = append(errs, errors.New("DATABASE_URL is required"))
	} else if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL must be a postgres:// URL"))
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("RENDERD_ROLES names no role"))
	}
	for _, r := range c.Roles {
		if !slices.Contains(allRoles, r) {
			errs = append(errs, fmt.Errorf("RENDERD_ROLES: unknown role %q (known: %s)", r, strings.Join(allRoles, ", ")))
		}
	}
	if command == "serve" && (c.has(RoleAPI) || c.has(RoleWebhooks)) && len(c.SecretsKeys) == 0 {
		errs = append(errs, errors.New("RENDERD_SECRETS_KEY is required by the api and webhooks roles (they seal and open webhook signing secrets): "+
			"set it to k1:$(head -c 32 /dev/urandom | base64), and keep it (README, \"Operating the secrets\")"))
	}
	if command == "secrets rotate" && len(c.SecretsKeys) == 0 {
		errs = append(errs, errors.New("RENDERD_SECRETS_KEY is required: the new key first, then the keys in use"))
	}
	if command == "serve" && c.needsKafka() && len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS is required by the roles "+strings.Join(c.Roles, ",")))
	}
	if c.Partitions < 1 {
		errs = append(errs, errors.New("RENDERD_KAFKA_PARTITIONS must be at least 1"))
	}
	if c.ReplicationFactor < -1 || c.ReplicationFactor > math.MaxInt16 {
		errs = append(errs, errors.New("RENDERD_KAFKA_REPLICATION_FACTOR must be auto, -1 or at least 1"))
	}
	if c.RelayBatchSize < 1 || c.RelayBatchSize > 10_000 {
		errs = append(errs, errors.New("RENDERD_RELAY_BATCH_SIZE must be between 1 and 10000"))
	}
	if c.RelayPollInterval <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if c.MaxUploadBytes < 1 || c.MaxJSONBytes < 1 || c.DBMaxConns < 2 {
		errs = append(errs, errors.New("RENDERD_MAX_UPLOAD_BYTES and RENDERD_MAX_JSON_BYTES must be positive, RENDERD_DB_MAX_CONNS at least 2"))
	}
	if c.DownloadTTL < time.Minute || c.DownloadTTL > 24*time.Hour {
		errs = append(errs, errors.New("RENDERD_DOWNLOAD_TTL must be between 1m and 24h"))
	}
	if c.UploadTTL < time.Minute || c.UploadTTL > 7*24*time.Hour {
		errs = append(errs, errors.New("RENDERD_UPLOAD_TTL must be between 1m and 168h"))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("RENDERD_PUBLIC_URL must be an http(s) URL"))
		}
	}
	if c.ReadYourWrites <= 0 {
		errs = append(errs, errors.New("RENDERD_READ_YOUR_WRITES_TIMEOUT must be positive"))
	}
	if c.HTTPTimeout <= 0 || c.HTTPIdleTimeout <= 0 {
		errs = append(errs, errors.New("RENDERD_HTTP_TIMEOUT and RENDERD_HTTP_IDLE_TIMEOUT must be positive"))
	}
	if c.TransferMinRate < 1 || c.TransferWindow <= 0 || c.TransferWindow > maxTransferWindow {
		errs = append(errs, errors.New("RENDERD_TRANSFER_MIN_RATE must be at least 1, RENDERD_TRANSFER_WINDOW positive and at most 10m"))
	}
	if err := checkBlobURL(c.BlobURL); err != nil {
		errs = append(errs, err)
	}
	if c.ScratchDir == "" {
		errs = append(errs, errors.New("RENDERD_SCRATCH_DIR must not be empty"))
	}
	if c.BlobSweepInterval <= 0 || c.BlobSweepMinAge <= 0 {
		errs = append(errs, errors.New("RENDERD_BLOB_SWEEP_INTERVAL and RENDERD_BLOB_SWEEP_MIN_AGE must be positive"))
	}
	if c.OutputRetention < 0 || c.ErasureInterval <= 0 {
		errs = append(errs, errors.New("RENDERD_OUTPUT_RETENTION must not be negative (0: keep outputs) and RENDERD_ERASURE_INTERVAL must be positive"))
	}
	if c.AccountMaxQueued < 0 || c.AccountMaxRunning < 0 || c.AssetMaxCutsInFlight < 0 || c.AccountMaxAutoCuts < 0 {
		errs = append(errs, errors.New("RENDERD_ACCOUNT_MAX_QUEUED, RENDERD_ACCOUNT_MAX_RUNNING, RENDERD_ASSET_MAX_CUTS_IN_FLIGHT and RENDERD_ACCOUNT_MAX_AUTO_CUTS must not be negative (0: no limit)"))
	}
	if c.AccountMaxAPIKeys < 1 || c.AccountMaxAPIKeys > 1000 {
		errs = append(errs, errors.New("RENDERD_ACCOUNT_MAX_API_KEYS must be between 1 and 1000"))
	}
	if c.APIKeyCacheTTL < time.Second || c.APIKeyCacheTTL > 5*time.Minute {
		errs = append(errs, errors.New("RENDERD_API_KEY_CACHE_TTL must be between 1s and 5m"))
	}
	if c.MaxSourceSeconds < 1 {
		errs = append(errs, errors.New("RENDERD_MAX_SOURCE_SECONDS must be at least 1"))
	}
	if c.FreeAllowanceMinutes < 0 {
		errs = append(errs, errors.New("RENDERD_FREE_ALLOWANCE_MINUTES must not be negative"))
	}
	if c.EncoderConcurrency < 0 || c.EncoderConcurrency > 256 || c.MediaConcurrency < 0 || c.MediaConcurrency > 256 {
		errs = append(errs, errors.New("RENDERD_ENCODER_CONCURRENCY and RENDERD_MEDIA_CONCURRENCY must be between 0 (the number of cores) and 256"))
	}
	if c.EncoderLease < 3*time.Second || c.EncoderPoll <= 0 || c.EncoderCancelCheck <= 0 || c.EncoderCancelCheck > c.EncoderLease/3 {
		errs = append(errs, errors.New("RENDERD_ENCODER_LEASE must be at least 3s, the poll interval positive, and the cancel check positive and at most a third of the lease"))
	}
	if c.EncodeStallTimeout <= 0 || c.EncodeMaxTime <= 0 {
		errs = append(errs, errors.New("RENDERD_ENCODE_STALL_TIMEOUT and RENDERD_ENCODE_MAX_TIME must be positive"))
	}
	if c.FFmpegThreads < -1 || c.FFmpegThreads > 256 {
		errs = append(errs, errors.New("RENDERD_FFMPEG_THREADS must be -1 (ffmpeg's choice), 0 (the slot's share of the cores) or up to 256"))
	}
	if c.FFmpegMemoryLimit != 0 && c.FFmpegMemoryLimit < minMemoryLimit {
		errs = append(errs, fmt.Errorf("RENDERD_FFMPEG_MEMORY_LIMIT must be 0 (no cap) or at least %d (512 MiB): ffmpeg alone maps about 265 MiB of libraries", minMemoryLimit))
	}
	switch ffmpeg.SandboxMode(c.MediaSandbox) {
	case ffmpeg.SandboxAuto, ffmpeg.SandboxStrict, ffmpeg.SandboxOff:
	default:
		errs = append(errs, errors.New("RENDERD_MEDIA_SANDBOX must be auto, strict or off"))
	}
	if c.WebhookTimeout <= 0 || c.WebhookDisableAfter <= 0 || c.WebhookSenders < 1 {
		errs = append(errs, errors.New("RENDERD_WEBHOOK_TIMEOUT and RENDERD_WEBHOOK_DISABLE_AFTER must be positive, RENDERD_WEBHOOK_SENDERS at least 1"))
	}
	if c.WebhookMaxEndpoints < 1 || c.WebhookMaxRedeliveries < 0 {
		errs = append(errs, errors.New("RENDERD_WEBHOOK_MAX_ENDPOINTS must be at least 1, RENDERD_WEBHOOK_MAX_REDELIVERIES at least 0"))
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("RENDERD_METRICS_ADDR %q must be host:port (like 127.0.0.1:9464 or :9464), or empty for no metrics listener", c.MetricsAddr))
		} else if c.has(RoleAPI) && c.MetricsAddr == c.HTTPAddr {
			errs = append(errs, errors.New("RENDERD_METRICS_ADDR must differ from RENDERD_HTTP_ADDR: the metrics listener never shares the API's port"))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, errors.New("RENDERD_LOG_FORMAT must be text or json"))
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; ")) // one line, as a config error should be
}

func (c Config) has(role string) bool { return slices.Contains(c.Roles, role) }

// mediaConcurrency is RENDERD_MEDIA_CONCURRENCY with its default: one slot
// per core, since a silence detection keeps one core busy while it decodes
// (about a second per 15 minutes of audio), and at least two, so that one
// long detection never leaves a probe waiting on a one-core machine.
func (c Config) mediaConcurrency() int {
	if c.MediaConcurrency > 0 {
		return c.MediaConcurrency
	}
	return max(2, runtime.NumCPU())
}

// sourceLimits are the limits a probed part must keep.
func (c Config) sourceLimits() domain.SourceLimits {
	return domain.SourceLimits{MaxLongEdge: c.MaxSourceLongEdge, MaxShortEdge: c.MaxSourceShortEdge,
		MaxFrameRate: c.MaxSourceFPS, MaxDuration: time.Duration(c.MaxSourceSeconds) * time.Second}
}

func (c Config) needsKafka() bool {
	return slices.ContainsFunc(c.Roles, func(r string) bool { return r != RoleAPI })
}

// configTable renders the settings as the README's Markdown table.
func configTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Flag | Default | Meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		flagName := "`--" + s.flag + "`"
		if s.flag == "" {
			flagName = "none: a secret, environment only"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.env, flagName, def, s.help)
	}
	return b.String()
}
