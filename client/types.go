package client

import (
	"encoding/json"
	"time"
)

// The types below mirror components/schemas of openapi.json one for one
// (contract_test.go holds them to it): JSON names as the document spells
// them, a pointer where the document allows null, omitempty where a
// property is optional. Fields tagged json:"-" are the SDK's own, read from
// the response's headers.

// Health is the body of GET /healthz (schema Health).
type Health struct {
	Status string `json:"status"`
}

// Readiness is the body of GET /readyz (schema Readiness), 200 or 503 alike.
type Readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// ErrorBody is the API's one error shape (schema Error); APIError carries it.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is schema ErrorDetail.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Failure says why an asset, cut or render failed.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Refusal is a refused upload of one part.
type Refusal struct {
	Part    Part   `json:"part"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Media is what probing found in an uploaded part.
type Media struct {
	Container       string  `json:"container"`
	Duration        float64 `json:"duration"`
	SizeBytes       int64   `json:"size_bytes"`
	HasVideo        bool    `json:"has_video"`
	HasAudio        bool    `json:"has_audio"`
	VideoCodec      string  `json:"video_codec,omitempty"`
	Width           int     `json:"width,omitempty"`
	Height          int     `json:"height,omitempty"`
	Rotation        int     `json:"rotation"`
	FrameRate       string  `json:"frame_rate,omitempty"`
	PixelFormat     string  `json:"pixel_format,omitempty"`
	VideoBitrateBps int64   `json:"video_bitrate_bps,omitempty"`
	AudioCodec      string  `json:"audio_codec,omitempty"`
	AudioBitrateBps int64   `json:"audio_bitrate_bps,omitempty"`
	AudioChannels   int     `json:"audio_channels,omitempty"`
	AudioSampleRate int     `json:"audio_sample_rate,omitempty"`
}

// Asset states (schema Asset, property state).
const (
	AssetUploading       = "uploading"
	AssetProcessing      = "processing"
	AssetPaymentRequired = "payment_required"
	AssetReady           = "ready"
	AssetFailed          = "failed"
)

// Asset is a source asset (schema Asset). A write whose read model lagged
// answers the AssetPending stub: then only ID and Object are set, and
// Pending is true.
type Asset struct {
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Cuttable  bool      `json:"cuttable"`
	Source    *Media    `json:"source"`
	Audio     *Media    `json:"audio"`
	Failure   *Failure  `json:"failure"`
	Refusal   *Refusal  `json:"refusal"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Pending: the response carried Renderd-Read-Your-Writes: timeout and
	// its body is the stub (openapi.json's description, "Read your writes").
	Pending bool `json:"-"`
}

// CreateAssetRequest is the body of POST /v1/assets (schema CreateAsset).
type CreateAssetRequest struct {
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

// AssetList is a page of assets.
type AssetList struct {
	Data       []Asset `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// Segment is a kept span [Start, End) in seconds.
type Segment struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// SilenceRemoval keeps everything but silences of at least MinSilence
// seconds below ThresholdDB.
type SilenceRemoval struct {
	MinSilence  float64 `json:"min_silence"`
	ThresholdDB float64 `json:"threshold_db"`
}

// AutoPlan is an automatic cut plan.
type AutoPlan struct {
	RemoveSilence SilenceRemoval `json:"remove_silence"`
}

// CutPlan is a cut's plan as requested: Segments or Auto, never both.
type CutPlan struct {
	Segments []Segment `json:"segments,omitempty"`
	Auto     *AutoPlan `json:"auto,omitempty"`
}

// RequestCutRequest is the body of POST /v1/assets/{id}/cuts (schema
// RequestCut): exactly one of Segments and Auto.
type RequestCutRequest struct {
	Segments []Segment `json:"segments,omitempty"`
	Auto     *AutoPlan `json:"auto,omitempty"`
}

// Cut states.
const (
	CutProcessing = "processing"
	CutCompleted  = "completed"
	CutFailed     = "failed"
)

// Cut is a kept-segment plan over one asset (schema Cut); Pending as for
// Asset (stub CutPending).
type Cut struct {
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	AssetID   string    `json:"asset_id"`
	State     string    `json:"state"`
	Plan      CutPlan   `json:"plan"`
	Segments  []Segment `json:"segments"`
	Duration  *float64  `json:"duration"`
	Failure   *Failure  `json:"failure"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	Pending bool `json:"-"`
}

// CutList is a page of cuts.
type CutList struct {
	Data       []Cut   `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// CreditsBalance is an account's credit balance.
type CreditsBalance struct {
	Seconds int64   `json:"seconds"`
	Minutes float64 `json:"minutes"`
}

// LedgerEntry is one line of the credit ledger.
type LedgerEntry struct {
	ID        string    `json:"id"`
	Seconds   int64     `json:"seconds"`
	Reason    string    `json:"reason"`
	AssetID   string    `json:"asset_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Credits is the body of GET /v1/credits.
type Credits struct {
	Object        string         `json:"object"`
	Balance       CreditsBalance `json:"balance"`
	RecentEntries []LedgerEntry  `json:"recent_entries"`
}

// RenderOutput is a render's output as the server normalised it.
type RenderOutput struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

// RenderOutputRequest is the output of POST /v1/renders. The zero value of
// an optional field is omitted (Auto); an explicit value equal to Auto is a
// different request (docs/renders.md).
type RenderOutputRequest struct {
	Format       string `json:"format"`
	Resolution   string `json:"resolution,omitempty"`
	VideoBitrate int    `json:"video_bitrate,omitempty"`
	AudioBitrate int    `json:"audio_bitrate,omitempty"`
}

// RequestRenderRequest is the body of POST /v1/renders (schema
// RequestRender). An empty CutID renders the full source.
type RequestRenderRequest struct {
	AssetID string              `json:"asset_id"`
	CutID   string              `json:"cut_id,omitempty"`
	Output  RenderOutputRequest `json:"output"`
}

// Render states; the last three are terminal.
const (
	RenderPending   = "pending"
	RenderRunning   = "running"
	RenderCompleted = "completed"
	RenderFailed    = "failed"
	RenderCancelled = "cancelled"
)

// RenderPlan is the output resolved against the source.
type RenderPlan struct {
	Width           int       `json:"width,omitempty"`
	Height          int       `json:"height,omitempty"`
	VideoBitrateBps int64     `json:"video_bitrate_bps,omitempty"`
	AudioBitrateBps int64     `json:"audio_bitrate_bps,omitempty"`
	Segments        []Segment `json:"segments"`
	Duration        float64   `json:"duration"`
}

// Render is a deliverable with its own lifecycle (schema Render).
type Render struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	AssetID           string       `json:"asset_id"`
	CutID             *string      `json:"cut_id"`
	Output            RenderOutput `json:"output"`
	State             string       `json:"state"`
	Progress          int          `json:"progress"`
	Attempt           int          `json:"attempt"`
	Failure           *Failure     `json:"failure"`
	Replaces          *string      `json:"replaces"`
	OutputExpired     bool         `json:"output_expired"`
	DownloadURL       string       `json:"download_url,omitempty"`
	DownloadExpiresAt *time.Time   `json:"download_expires_at,omitempty"`
	CreatedAt         time.Time    `json:"created_at"`
	UpdatedAt         time.Time    `json:"updated_at"`
	Plan              RenderPlan   `json:"plan"`
	ETASeconds        *float64     `json:"eta_seconds"`
	SizeBytes         *int64       `json:"size_bytes"`
	Duration          *float64     `json:"duration"`
	StartedAt         *time.Time   `json:"started_at"`
	CompletedAt       *time.Time   `json:"completed_at"`
	FailedAt          *time.Time   `json:"failed_at"`
	CancelledAt       *time.Time   `json:"cancelled_at"`

	// Created: POST /v1/renders made a new render (201) rather than
	// answering a live one with the same signature (200).
	Created bool `json:"-"`
}

// Terminal reports whether the render's state is final: completed, failed
// or cancelled.
func (r *Render) Terminal() bool {
	return r.State == RenderCompleted || r.State == RenderFailed || r.State == RenderCancelled
}

// RenderList is a page of renders.
type RenderList struct {
	Data       []Render `json:"data"`
	NextCursor *string  `json:"next_cursor"`
}

// RenderEvent is one event of a render's history; Data is its public data
// as sent, whose shape depends on Type (docs/events.md).
type RenderEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Version    int64           `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// RenderEventList is a render's full history, oldest first.
type RenderEventList struct {
	Data []RenderEvent `json:"data"`
}

// CreateWebhookEndpointRequest is the body of POST /v1/webhook-endpoints.
type CreateWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// WebhookEndpoint is a receiver of webhooks. Secret is set only in the
// answers to CreateWebhookEndpoint and RotateWebhookSecret.
type WebhookEndpoint struct {
	ID             string     `json:"id"`
	Object         string     `json:"object"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	State          string     `json:"state"`
	DisabledReason *string    `json:"disabled_reason"`
	Secret         string     `json:"secret,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DisabledAt     *time.Time `json:"disabled_at"`
}

// WebhookEndpointList is a page of webhook endpoints.
type WebhookEndpointList struct {
	Data       []WebhookEndpoint `json:"data"`
	NextCursor *string           `json:"next_cursor"`
}

// WebhookAttempt is one attempt of a delivery.
type WebhookAttempt struct {
	N            int       `json:"n"`
	At           time.Time `json:"at"`
	State        string    `json:"state"`
	StatusCode   *int      `json:"status_code"`
	LatencyMS    *int64    `json:"latency_ms"`
	Error        *string   `json:"error"`
	ResponseBody *string   `json:"response_body"`
}

// WebhookDelivery is one event's delivery to one endpoint.
type WebhookDelivery struct {
	ID            string           `json:"id"`
	Object        string           `json:"object"`
	EndpointID    string           `json:"endpoint_id"`
	EventID       string           `json:"event_id"`
	EventType     string           `json:"event_type"`
	RenderID      string           `json:"render_id"`
	Status        string           `json:"status"`
	Redeliveries  int              `json:"redeliveries"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time        `json:"created_at"`
	Attempts      []WebhookAttempt `json:"attempts"`
}

// WebhookDeliveryList is a page of deliveries.
type WebhookDeliveryList struct {
	Data       []WebhookDelivery `json:"data"`
	NextCursor *string           `json:"next_cursor"`
}

// RedeliverAccepted is the answer to a redelivery.
type RedeliverAccepted struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Status string `json:"status"`
}

// WebhookEvent is the body of every webhook: the render as GET
// /v1/renders/{id} shows it, without a download_url (fetch the render for
// one).
type WebhookEvent struct {
	ID        string           `json:"id"`
	Type      string           `json:"type"`
	CreatedAt time.Time        `json:"created_at"`
	Data      WebhookEventData `json:"data"`
}

// WebhookEventData is a webhook's data.
type WebhookEventData struct {
	Render Render `json:"render"`
}

// CreateAPIKeyRequest is the body of POST /v1/api-keys; the zero value
// makes an unnamed key that never expires.
type CreateAPIKeyRequest struct {
	Name      string     `json:"name,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// APIKey is an API key; Key (the secret) is set only in the answer to
// CreateAPIKey.
type APIKey struct {
	ID         string     `json:"id"`
	Object     string     `json:"object"`
	Name       string     `json:"name"`
	Prefix     *string    `json:"prefix"`
	Key        string     `json:"api_key,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

// APIKeyList is the account's keys.
type APIKeyList struct {
	Data       []APIKey `json:"data"`
	NextCursor *string  `json:"next_cursor"`
}

// Part names an asset's uploadable part.
type Part string

// The parts of an asset (PUT /v1/assets/{id}/source and …/audio).
const (
	PartSource Part = "source"
	PartAudio  Part = "audio"
)
