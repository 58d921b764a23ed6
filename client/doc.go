// Package client is the Go SDK of renderd's HTTP API
// (ports/httpapi/openapi.json): typed requests and responses for every
// operation, errors as *APIError values carrying the API's code and field,
// retries of 429 and 503 that honour Retry-After, uploads with a progress
// callback, WaitAsset and WaitRender, downloads to an io.Writer, and
// Standard Webhooks verification for receivers (WebhookVerifier).
//
// # Quickstart
//
//	c, _ := client.New("http://127.0.0.1:8080", apiKey)
//	asset, _ := c.CreateAsset(ctx, client.CreateAssetRequest{Kind: "video", Name: "demo"})
//	_, _ = c.UploadSource(ctx, asset.ID, f, size, nil)
//	asset, _ = c.WaitAsset(ctx, asset.ID)          // probed: ready
//	cut, _ := c.RequestCut(ctx, asset.ID, client.RequestCutRequest{Segments: []client.Segment{{Start: 0, End: 2}}})
//	r, _ := c.RequestRender(ctx, client.RequestRenderRequest{AssetID: asset.ID, CutID: cut.ID,
//		Output: client.RenderOutputRequest{Format: "mp4", Resolution: "720p"}})
//	r, _ = c.WaitRender(ctx, r.ID)                 // completed, failed or cancelled
//	_, _ = c.DownloadRender(ctx, r.ID, out)
//
// Example_quickstart is the same with its errors handled.
//
// # Retries
//
// A 429 (rate_limited, too_many_renders) or 503 (service_unavailable) is
// retried, after its Retry-After (seconds or an HTTP date) or else an
// exponential backoff with jitter, up to RetryPolicy.MaxAttempts, but only
// for requests safe to repeat: every GET; POST /v1/renders, which the API
// makes idempotent by its content signature (docs/renders.md: a render
// with the same asset, cut and normalised output answers 200 with the live
// render instead of making another); and DeleteAsset and CancelRender,
// whose repeat the API answers as the first (202 deleted already, 204
// cancelled already). The API has no Idempotency-Key, so every other
// write (creating an asset, a cut, a key or an endpoint; deleting an
// endpoint or revoking a key, whose repeat is a 404; a secret rotation,
// which would rotate twice; a redelivery; an upload, whose body is read
// once) comes back at once as an *APIError whose RetryAfter says when: a
// 503 may follow a write that committed as the database went away, so look
// before repeating it.
//
// # Hand-written, held to the document
//
// The package is written by hand and tested against openapi.json rather
// than generated from it. The document is OpenAPI 3.1 (JSON Schema 2020-12:
// type arrays with "null", const, if/then/else), which oapi-codegen v2
// reads only as 3.0, so its output would need the same hand-written layer
// for waits, retries, uploads and webhooks anyway, plus a generated
// runtime dependency for every caller. Instead contract_test.go fails when
// the SDK drifts from the document: every operation of openapi.json has a
// row in this package's operation table (method and path as the document
// says) and a Client method, and nothing else does; every schema maps to a
// Go type whose JSON fields are exactly the schema's properties, required
// ones never omitted; and values of those types, encoded, validate against
// their schemas with the JSON Schema validator the server's own tests use.
//
// # Resumable uploads
//
// Upload sends one plain PUT by default, which a dropped connection sends
// again from its first byte. WithUploader(Resumable{}) makes every upload a
// resumable one (the tus protocol 1.0 at /v1/uploads): after a dropped
// connection it asks the server for its offset and sends only the rest.
// CreateUpload, GetUploadOffset, ResumeUpload and TerminateUpload are the
// protocol's requests one by one, to resume an upload across processes.
//
// The package imports nothing of renderd's internals: it stands alone, as
// scripts/check-imports enforces.
package client
