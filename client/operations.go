package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// operation is one operation of openapi.json: its operationId, method and
// path template. contract_test.go holds this table to the document both
// ways, and every method below builds its request from its row, so a
// renamed path or method fails the tests rather than the caller.
type operation struct {
	ID     string
	Method string
	Path   string
	// Idempotent: safe to repeat on 429 and 503 (RetryPolicy).
	Idempotent bool
	// Open: no Authorization header (the health routes, the document, and
	// downloads, whose token is the credential).
	Open bool
}

// path fills the template's {…} parameters in order, escaped.
func (o operation) path(params ...string) string {
	p := o.Path
	for _, v := range params {
		i := strings.IndexByte(p, '{')
		j := strings.IndexByte(p, '}')
		if i < 0 || j < i {
			break
		}
		p = p[:i] + url.PathEscape(v) + p[j+1:]
	}
	return p
}

func get(id, path string) operation {
	return operation{ID: id, Method: http.MethodGet, Path: path, Idempotent: true}
}

func write(id, method, path string) operation {
	return operation{ID: id, Method: method, Path: path}
}

var (
	opGetHealth      = operation{ID: "getHealth", Method: http.MethodGet, Path: "/healthz", Idempotent: true, Open: true}
	opGetReadiness   = operation{ID: "getReadiness", Method: http.MethodGet, Path: "/readyz", Idempotent: true, Open: true}
	opGetOpenAPI     = operation{ID: "getOpenAPI", Method: http.MethodGet, Path: "/openapi.json", Idempotent: true, Open: true}
	opCreateAsset    = write("createAsset", http.MethodPost, "/v1/assets")
	opListAssets     = get("listAssets", "/v1/assets")
	opGetAsset       = get("getAsset", "/v1/assets/{id}")
	opUploadSource   = write("uploadAssetSource", http.MethodPut, "/v1/assets/{id}/source")
	opUploadAudio    = write("uploadAssetAudio", http.MethodPut, "/v1/assets/{id}/audio")
	opRequestCut     = write("requestCut", http.MethodPost, "/v1/assets/{id}/cuts")
	opListCuts       = get("listCuts", "/v1/assets/{id}/cuts")
	opGetCut         = get("getCut", "/v1/cuts/{id}")
	opGetCredits     = get("getCredits", "/v1/credits")
	opCreateAPIKey   = write("createAPIKey", http.MethodPost, "/v1/api-keys")
	opListAPIKeys    = get("listAPIKeys", "/v1/api-keys")
	opRevokeAPIKey   = write("revokeAPIKey", http.MethodDelete, "/v1/api-keys/{id}")
	opListRenders    = get("listRenders", "/v1/renders")
	opGetRender      = get("getRender", "/v1/renders/{id}")
	opListRenderEvts = get("listRenderEvents", "/v1/renders/{id}/events")
	opCreateEndpoint = write("createWebhookEndpoint", http.MethodPost, "/v1/webhook-endpoints")
	opListEndpoints  = get("listWebhookEndpoints", "/v1/webhook-endpoints")
	opDeleteEndpoint = write("deleteWebhookEndpoint", http.MethodDelete, "/v1/webhook-endpoints/{id}")
	opGetEndpoint    = get("getWebhookEndpoint", "/v1/webhook-endpoints/{id}")
	opRotateSecret   = write("rotateWebhookSecret", http.MethodPost, "/v1/webhook-endpoints/{id}/rotate-secret")
	opListDeliveries = get("listWebhookDeliveries", "/v1/webhook-endpoints/{id}/deliveries")
	opRedeliver      = write("redeliverWebhookDelivery", http.MethodPost, "/v1/webhook-deliveries/{id}/redeliver")
	opDownload       = operation{ID: "download", Method: http.MethodGet, Path: "/v1/downloads/{token}", Idempotent: true, Open: true}
	// POST /v1/renders is idempotent by its content signature
	// (docs/renders.md): repeating it answers the live render it made.
	opRequestRender = operation{ID: "requestRender", Method: http.MethodPost, Path: "/v1/renders", Idempotent: true}
	// Two deletes the API makes repeatable (openapi.json): an asset deleted
	// already answers 202 again, a cancelled render 204 again.
	opDeleteAsset  = operation{ID: "deleteAsset", Method: http.MethodDelete, Path: "/v1/assets/{id}", Idempotent: true}
	opCancelRender = operation{ID: "cancelRender", Method: http.MethodDelete, Path: "/v1/renders/{id}", Idempotent: true}
)

// operations lists every operation with the Client method that serves it.
var operations = []struct {
	op     operation
	method string
}{
	{opGetHealth, "Health"}, {opGetReadiness, "Readiness"}, {opGetOpenAPI, "OpenAPI"},
	{opCreateAsset, "CreateAsset"}, {opListAssets, "ListAssets"}, {opGetAsset, "GetAsset"},
	{opDeleteAsset, "DeleteAsset"}, {opUploadSource, "UploadSource"}, {opUploadAudio, "UploadAudio"},
	{opRequestCut, "RequestCut"}, {opListCuts, "ListCuts"}, {opGetCut, "GetCut"},
	{opGetCredits, "GetCredits"},
	{opCreateAPIKey, "CreateAPIKey"}, {opListAPIKeys, "ListAPIKeys"}, {opRevokeAPIKey, "RevokeAPIKey"},
	{opRequestRender, "RequestRender"}, {opListRenders, "ListRenders"}, {opGetRender, "GetRender"},
	{opCancelRender, "CancelRender"}, {opListRenderEvts, "ListRenderEvents"},
	{opCreateEndpoint, "CreateWebhookEndpoint"}, {opListEndpoints, "ListWebhookEndpoints"},
	{opDeleteEndpoint, "DeleteWebhookEndpoint"}, {opGetEndpoint, "GetWebhookEndpoint"},
	{opRotateSecret, "RotateWebhookSecret"}, {opListDeliveries, "ListWebhookDeliveries"},
	{opRedeliver, "RedeliverWebhookDelivery"}, {opDownload, "Download"},
	{opCreateUpload, "CreateUpload"}, {opDescribeUploads, "DescribeUploads"}, {opGetUploadOffset, "GetUploadOffset"},
	{opResumeUpload, "ResumeUpload"}, {opTerminateUpload, "TerminateUpload"},
}

// ListOptions pages a list: Limit 1 to 100 (0: the server's default, 20),
// Cursor the previous page's NextCursor ("" for the first page).
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o *ListOptions) query() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// ListRendersOptions filters and pages ListRenders.
type ListRendersOptions struct {
	ListOptions
	AssetID string // only this asset's renders
	State   string // only renders in this state (RenderPending, …)
}

// ListDeliveriesOptions filters and pages ListWebhookDeliveries.
type ListDeliveriesOptions struct {
	ListOptions
	Status string // pending, delivered or failed
}

// getJSON sends k and decodes its 2xx answer into v.
func getJSON[T any](ctx context.Context, c *Client, k call) (*T, error) {
	res, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := decodeJSON(k.op, res, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	return getJSON[Health](ctx, c, call{op: opGetHealth})
}

// Readiness calls GET /readyz. A 503 whose body is a Readiness (a
// dependency failing) is an answer, not an error: Ready is false and Checks
// says which.
func (c *Client) Readiness(ctx context.Context) (*Readiness, error) {
	// Not retried: a caller asks readiness to learn the state now.
	req, err := http.NewRequestWithContext(ctx, opGetReadiness.Method, c.url(opGetReadiness.Path, nil), nil)
	if err != nil {
		return nil, err
	}
	res, err := c.roundTrip(req, opGetReadiness)
	if err != nil {
		return nil, err
	}
	if res.status != http.StatusOK && res.status != http.StatusServiceUnavailable {
		return nil, decodeError(res.status, res.header, res.body, time.Now())
	}
	v := new(Readiness)
	if err := json.Unmarshal(res.body, v); err != nil || v.Checks == nil {
		// A 503 from something else than renderd (a proxy): its error.
		return nil, decodeError(res.status, res.header, res.body, time.Now())
	}
	return v, nil
}

// OpenAPI returns the API's OpenAPI document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	res, err := c.do(ctx, call{op: opGetOpenAPI})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(res.body), nil
}

// CreateAsset calls POST /v1/assets.
func (c *Client) CreateAsset(ctx context.Context, req CreateAssetRequest) (*Asset, error) {
	res, err := c.do(ctx, call{op: opCreateAsset, body: req})
	if err != nil {
		return nil, err
	}
	return decodeAsset(opCreateAsset, res)
}

func decodeAsset(op operation, res *result) (*Asset, error) {
	a := new(Asset)
	if err := decodeJSON(op, res, a); err != nil {
		return nil, err
	}
	a.Pending = pending(res.header)
	return a, nil
}

// ListAssets calls GET /v1/assets: the account's assets, newest first.
func (c *Client) ListAssets(ctx context.Context, opts *ListOptions) (*AssetList, error) {
	return getJSON[AssetList](ctx, c, call{op: opListAssets, query: opts.query()})
}

// GetAsset calls GET /v1/assets/{id}.
func (c *Client) GetAsset(ctx context.Context, id string) (*Asset, error) {
	return getJSON[Asset](ctx, c, call{op: opGetAsset, params: []string{id}})
}

// DeleteAsset calls DELETE /v1/assets/{id} (202: its blobs go
// asynchronously; deleting a deleted asset is no error).
func (c *Client) DeleteAsset(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: opDeleteAsset, params: []string{id}})
	return err
}

// RequestCut calls POST /v1/assets/{id}/cuts.
func (c *Client) RequestCut(ctx context.Context, assetID string, req RequestCutRequest) (*Cut, error) {
	res, err := c.do(ctx, call{op: opRequestCut, params: []string{assetID}, body: req})
	if err != nil {
		return nil, err
	}
	cut := new(Cut)
	if err := decodeJSON(opRequestCut, res, cut); err != nil {
		return nil, err
	}
	cut.Pending = pending(res.header)
	return cut, nil
}

// ListCuts calls GET /v1/assets/{id}/cuts.
func (c *Client) ListCuts(ctx context.Context, assetID string, opts *ListOptions) (*CutList, error) {
	return getJSON[CutList](ctx, c, call{op: opListCuts, params: []string{assetID}, query: opts.query()})
}

// GetCut calls GET /v1/cuts/{id}.
func (c *Client) GetCut(ctx context.Context, id string) (*Cut, error) {
	return getJSON[Cut](ctx, c, call{op: opGetCut, params: []string{id}})
}

// GetCredits calls GET /v1/credits.
func (c *Client) GetCredits(ctx context.Context) (*Credits, error) {
	return getJSON[Credits](ctx, c, call{op: opGetCredits})
}

// CreateAPIKey calls POST /v1/api-keys; the answer's Key is the only copy
// of the new key.
func (c *Client) CreateAPIKey(ctx context.Context, req CreateAPIKeyRequest) (*APIKey, error) {
	return getJSON[APIKey](ctx, c, call{op: opCreateAPIKey, body: req})
}

// ListAPIKeys calls GET /v1/api-keys.
func (c *Client) ListAPIKeys(ctx context.Context) (*APIKeyList, error) {
	return getJSON[APIKeyList](ctx, c, call{op: opListAPIKeys})
}

// RevokeAPIKey calls DELETE /v1/api-keys/{id}.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: opRevokeAPIKey, params: []string{id}})
	return err
}

// RequestRender calls POST /v1/renders. Created tells a new render (201)
// from the live one with the same signature (200). It is retried on 429
// and 503 like a GET: the signature makes a repeat answer the same render
// (so a retry after a 503 whose write committed answers Created false for
// the render this call made).
func (c *Client) RequestRender(ctx context.Context, req RequestRenderRequest) (*Render, error) {
	res, err := c.do(ctx, call{op: opRequestRender, body: req})
	if err != nil {
		return nil, err
	}
	r := new(Render)
	if err := decodeJSON(opRequestRender, res, r); err != nil {
		return nil, err
	}
	r.Created = res.status == http.StatusCreated
	return r, nil
}

// ListRenders calls GET /v1/renders.
func (c *Client) ListRenders(ctx context.Context, opts *ListRendersOptions) (*RenderList, error) {
	q := url.Values{}
	if opts != nil {
		q = opts.query()
		if opts.AssetID != "" {
			q.Set("asset_id", opts.AssetID)
		}
		if opts.State != "" {
			q.Set("state", opts.State)
		}
	}
	return getJSON[RenderList](ctx, c, call{op: opListRenders, query: q})
}

// GetRender calls GET /v1/renders/{id}; a completed render's DownloadURL is
// minted fresh on each call.
func (c *Client) GetRender(ctx context.Context, id string) (*Render, error) {
	return getJSON[Render](ctx, c, call{op: opGetRender, params: []string{id}})
}

// CancelRender calls DELETE /v1/renders/{id} (cancelling a cancelled
// render is no error; a completed or failed one is 409
// render_not_cancellable).
func (c *Client) CancelRender(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: opCancelRender, params: []string{id}})
	return err
}

// ListRenderEvents calls GET /v1/renders/{id}/events.
func (c *Client) ListRenderEvents(ctx context.Context, id string) (*RenderEventList, error) {
	return getJSON[RenderEventList](ctx, c, call{op: opListRenderEvts, params: []string{id}})
}

// CreateWebhookEndpoint calls POST /v1/webhook-endpoints; keep the answer's
// Secret to verify deliveries (VerifyWebhook).
func (c *Client) CreateWebhookEndpoint(ctx context.Context, req CreateWebhookEndpointRequest) (*WebhookEndpoint, error) {
	return getJSON[WebhookEndpoint](ctx, c, call{op: opCreateEndpoint, body: req})
}

// ListWebhookEndpoints calls GET /v1/webhook-endpoints.
func (c *Client) ListWebhookEndpoints(ctx context.Context, opts *ListOptions) (*WebhookEndpointList, error) {
	return getJSON[WebhookEndpointList](ctx, c, call{op: opListEndpoints, query: opts.query()})
}

// GetWebhookEndpoint calls GET /v1/webhook-endpoints/{id}.
func (c *Client) GetWebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error) {
	return getJSON[WebhookEndpoint](ctx, c, call{op: opGetEndpoint, params: []string{id}})
}

// DeleteWebhookEndpoint calls DELETE /v1/webhook-endpoints/{id}.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: opDeleteEndpoint, params: []string{id}})
	return err
}

// RotateWebhookSecret calls POST /v1/webhook-endpoints/{id}/rotate-secret.
// For 24 hours deliveries carry a signature by each secret
// (docs/webhooks.md), so receivers can move to the new one unhurried.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*WebhookEndpoint, error) {
	return getJSON[WebhookEndpoint](ctx, c, call{op: opRotateSecret, params: []string{id}})
}

// ListWebhookDeliveries calls GET /v1/webhook-endpoints/{id}/deliveries.
func (c *Client) ListWebhookDeliveries(ctx context.Context, endpointID string, opts *ListDeliveriesOptions) (*WebhookDeliveryList, error) {
	q := url.Values{}
	if opts != nil {
		q = opts.query()
		if opts.Status != "" {
			q.Set("status", opts.Status)
		}
	}
	return getJSON[WebhookDeliveryList](ctx, c, call{op: opListDeliveries, params: []string{endpointID}, query: q})
}

// RedeliverWebhookDelivery calls POST /v1/webhook-deliveries/{id}/redeliver.
func (c *Client) RedeliverWebhookDelivery(ctx context.Context, id string) (*RedeliverAccepted, error) {
	return getJSON[RedeliverAccepted](ctx, c, call{op: opRedeliver, params: []string{id}})
}
