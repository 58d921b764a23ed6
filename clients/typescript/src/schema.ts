// Generated from ports/httpapi/openapi.json by openapi-typescript
// (npm run generate in clients/typescript): do not edit. npm run check:types,
// run by make test, fails when this file is out of step with the document.

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Liveness
         * @description Answers 200 while the process serves HTTP. No dependency is checked.
         */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Readiness
         * @description Runs every readiness check (Postgres, Kafka when configured) within two seconds: 200 when all pass, else `503` naming what failed (`failing`; the error is logged, not answered).
         */
        get: operations["getReadiness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * This document
         * @description The OpenAPI 3.1 description of the API (this document).
         */
        get: operations["getOpenAPI"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/assets": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List assets
         * @description The account's assets, newest first, paged with `limit` and `cursor`.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: `cursor` was not handed out by this list; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `422` `validation_error`: `limit` is not a whole number from 1 to 100 (`error.field` = `limit`).
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listAssets"];
        put?: never;
        /**
         * Create an asset
         * @description Creates an asset in state `uploading`; upload its media next with `PUT /v1/assets/{id}/source` (and, for a video, optionally its client-extracted audio with `PUT /v1/assets/{id}/audio`).
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: malformed JSON, a JSON type that does not fit a field, an unknown field, more than one JSON value, a string holding NUL (`\u0000`) (`error.field` names it), or a Content-Type other than `application/json`; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `408` `request_timeout`: the JSON body did not arrive within the server's timeout.
         *     - `413` `payload_too_large`: the JSON body is larger than the configured limit.
         *     - `422` `validation_error`: `kind` is not `video` or `audio`, or `name` is longer than 255 bytes (`error.field` names the field).
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["createAsset"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/assets/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get an asset
         * @description One asset, as the read model shows it.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account (another account's id answers 404 too).
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["getAsset"];
        put?: never;
        post?: never;
        /**
         * Delete an asset, its cuts and its renders
         * @description Deletes the asset and everything derived from it: its cuts and its renders (a `pending` or `running` render is cancelled first; its encoder stops as for `DELETE /v1/renders/{id}`, and in-flight probes and silence detection stop too). From the answer on, `GET` of the asset, its cuts and its renders answers `404`, lists leave them out, and new uploads, cuts and renders of it answer `404`; no `download_url` is handed out for its renders. The answer is `202`: the deletion is recorded, and the encoders remove every blob of the asset (its source and audio) and of its renders' outputs from the blob store asynchronously, retrying until each is gone. The event log keeps only ids and facts (the asset's name is erased from its `asset.created` event); see the README's "Retention and erasure". Deleting a deleted asset answers `202` again and changes nothing.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. The deletion is idempotent: repeat it.
         */
        delete: operations["deleteAsset"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/assets/{id}/source": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Upload the source media
         * @description Streams the asset's source media into the blob store and answers 202; the media worker then probes it (ffprobe) and the asset becomes `ready`, `payment_required` (too few credits; processing resumes once credits are granted) or `failed`.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account.
         *     - `408` `upload_too_slow`: the body arrived slower than the minimum transfer rate (by default 8 KiB/s over each 30 s window) and was cut off; nothing was stored, so the upload can be retried whole. Where the connection can no longer carry the answer, it is closed instead.
         *     - `409` `asset_failed` / `source_already_uploaded` / `concurrent_update`: the asset cannot take its source now; `upload_in_progress`: another upload of this part is streaming (a part is reserved before its body is read).
         *     - `413` `payload_too_large`: the body is larger than the configured upload limit; `storage_quota_exceeded`: it would pass the account's storage quota (sources and outputs, `RENDERD_ACCOUNT_STORAGE_BYTES`).
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         *
         *     The body is bounded by the configured upload limit. Nothing is stored for an upload the asset or the quota refuses: the part is reserved and the quota checked before the body is read. A body without `Content-Length` may bring what the quota leaves and is stopped when it passes it.
         */
        put: operations["uploadAssetSource"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/assets/{id}/audio": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Upload client-extracted audio
         * @description Streams audio the client extracted from a video asset and answers 202. Once probed and paid for, the asset is `cuttable` (cuts can complete, audio renders can start) before its video has arrived.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account.
         *     - `409` `audio_not_applicable` / `asset_failed` / `audio_already_uploaded` / `source_already_processed` / `concurrent_update`: the asset cannot take audio now (`audio_not_applicable`: an audio asset; `source_already_processed`: the source's own audio is used).
         *     - `408` `upload_too_slow`: the body arrived slower than the minimum transfer rate (by default 8 KiB/s over each 30 s window) and was cut off; nothing was stored, so the upload can be retried whole. Where the connection can no longer carry the answer, it is closed instead.
         *     - `413` `payload_too_large`: the body is larger than the configured upload limit; `storage_quota_exceeded`: it would pass the account's storage quota (sources and outputs, `RENDERD_ACCOUNT_STORAGE_BYTES`).
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         *
         *     The body is bounded by the configured upload limit. Nothing is stored for an upload the asset or the quota refuses: the part is reserved and the quota checked before the body is read. A body without `Content-Length` may bring what the quota leaves and is stopped when it passes it.
         */
        put: operations["uploadAssetAudio"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/assets/{id}/cuts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List an asset's cuts
         * @description The asset's cuts, newest first, paged with `limit` and `cursor`.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: `cursor` was not handed out by this list; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account (not an empty list).
         *     - `422` `validation_error`: `limit` is not a whole number from 1 to 100 (`error.field` = `limit`).
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listCuts"];
        put?: never;
        /**
         * Request a cut
         * @description Requests a kept-segment plan over the asset: explicit `segments` (seconds, sorted, non-overlapping, each at least 0.1 s, at most 1000) or an automatic `auto.remove_silence` plan. The cut starts `processing` and becomes `completed` once the asset is cuttable and the segments hold against the real duration, else `failed` (e.g. `segments_out_of_range`, `nothing_kept`, `asset_failed`). A cut of a failed asset is created `failed`, not refused. Cuts still `processing` are bounded per asset and, for automatic ones, per account (operator settings); a cut decided at once is never refused.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: malformed JSON, a JSON type that does not fit a field, an unknown field, more than one JSON value, a string holding NUL (`\u0000`) (`error.field` names it), or a Content-Type other than `application/json`; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account.
         *     - `408` `request_timeout`: the JSON body did not arrive within the server's timeout.
         *     - `413` `payload_too_large`: the JSON body is larger than the configured limit.
         *     - `422` `validation_error`: no plan, both `segments` and `auto` (an empty `segments` next to `auto` too; `error.field` = `auto`), a segment that is negative, empty, shorter than 0.1 s, unsorted or overlapping, more than 1000 segments, `auto.remove_silence` missing, `min_silence` outside 0.1–60 s or `threshold_db` outside [-100, 0) (`error.field` names the field, e.g. `segments[2].end`).
         *     - `429` `too_many_cuts`: the asset has as many cuts `processing` as it may, or the account as many automatic cuts `processing` as it may; retry once one completes (`Retry-After`, `RateLimit-Policy` and `RateLimit` say which limit and when); `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["requestCut"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/cuts/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a cut
         * @description One cut, as the read model shows it.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no cut with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["getCut"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/credits": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Credit balance
         * @description The account's credit balance (seconds of media; processing an asset debits its duration, renders are free) and its 20 most recent ledger entries, newest first.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["getCredits"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/api-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List API keys
         * @description The caller's account's keys, newest first, with their prefix, expiry and last use, never the keys themselves.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account (or a revoked or expired key); the answer carries `WWW-Authenticate: Bearer`.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listAPIKeys"];
        put?: never;
        /**
         * Create an API key
         * @description Makes another key for the caller's account, for rotation: create the new key, move clients to it, then revoke the old one. The answer is the only one that carries the key (`api_key`), and is sent with `Cache-Control: no-store`; renderd keeps only its SHA-256 digest. An account holds at most `RENDERD_ACCOUNT_MAX_API_KEYS` keys (20 by default), expired ones included until revoked.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: malformed JSON, a JSON type that does not fit a field, an unknown field, more than one JSON value, or a Content-Type other than `application/json`.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account (or a revoked or expired key); the answer carries `WWW-Authenticate: Bearer`.
         *     - `408` `request_timeout`: the JSON body did not arrive within the server's timeout.
         *     - `409` `too_many_api_keys`: the account already holds as many keys as it may; revoke one first.
         *     - `413` `payload_too_large`: the JSON body is larger than the configured limit.
         *     - `422` `validation_error`: `name` is longer than 100 bytes, not UTF-8 or holds control characters; `expires_at` is not an RFC 3339 time, not in the future or more than 5 years ahead (`error.field` names which).
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["createAPIKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/api-keys/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Revoke an API key
         * @description Deletes the key: every API process refuses it within about a second (Postgres `LISTEN/NOTIFY` empties their caches; should a notification be lost, a cached key is trusted for at most `RENDERD_API_KEY_CACHE_TTL`, 30 s by default). A request may revoke the very key it uses. The account's last usable key cannot be revoked: create another first. Expired keys can always be revoked.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account (or a revoked or expired key); the answer carries `WWW-Authenticate: Bearer`.
         *     - `404` `not_found`: no API key with this id in the caller's account.
         *     - `409` `last_api_key`: the key is the account's last usable one.
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        delete: operations["revokeAPIKey"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/renders": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List renders
         * @description The account's renders, newest first, optionally filtered by asset and state. Replaced renders stay listed. Items never carry `download_url`: fetch the render for it.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: `cursor` was not handed out by this list; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: `asset_id` names no asset of the caller's account (an id of another type included), as for the cuts of an unknown asset.
         *     - `422` `validation_error`: `limit` is not a whole number from 1 to 100, or `state` is not a render state.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listRenders"];
        put?: never;
        /**
         * Request a render
         * @description Requests a deliverable of an asset (optionally trimmed by one of its cuts). A new render answers 201 in state `pending`; a live render (`pending`, `running`, `completed`) with the same signature (account, asset, cut or none, normalised output: absent and `null` are the same, field order irrelevant) answers 200 with that render. A `failed` or `cancelled` render with the same signature is replaced by a new one whose `replaces` names it.
         *
         *     Order of checks: 401 → 400 → 404 (unknown or foreign `asset_id`) → 422 on the request alone → 422 for the `cut_id` → 200 for an existing live render → 409 gating → 422 against the known source → 409 `storage_quota_exceeded` → 429 `too_many_renders`.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: malformed JSON, a JSON type that does not fit a field, an unknown field, more than one JSON value, a string holding NUL (`\u0000`) (`error.field` names it), or a Content-Type other than `application/json`; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: `asset_id` names no asset of the caller's account (an id of another type included).
         *     - `408` `request_timeout`: the JSON body did not arrive within the server's timeout.
         *     - `409` `asset_not_ready` / `asset_processing` / `asset_payment_required` / `asset_failed` / `modifier_not_ready`: the asset or cut cannot serve the render yet: a video output needs the asset `ready` (`asset_not_ready`); an audio output needs it `cuttable` (`asset_processing`, also when its audio has not arrived; `asset_payment_required`; `asset_failed`); a `cut_id` whose cut is still processing gives `modifier_not_ready`. `storage_quota_exceeded`: the account already stores as much as its storage quota allows (`RENDERD_ACCOUNT_STORAGE_BYTES`), so no new output fits.
         *     - `413` `payload_too_large`: the JSON body is larger than the configured limit.
         *     - `422` `validation_error`: in this order: a missing or unknown `output.format`, a tier or ladder value off its list (case-sensitive: `4K` is refused), a video format for an audio-only asset, `resolution`/`video_bitrate` on an audio format, an audio format for a video asset without audio; then a `cut_id` that is unknown, foreign, of another asset or `failed`; then (after the 200 and 409 checks) a `resolution` tier above the source's displayed short edge or a `video_bitrate` more than 10 % above the source's video bitrate.
         *     - `429` `too_many_renders`: the account has `RENDERD_ACCOUNT_MAX_QUEUED` renders pending or running (a repeat of a live render still answers 200); `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["requestRender"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/renders/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a render
         * @description One render. Once `completed` it carries `download_url` and `download_expires_at` (about 15 minutes), minted fresh on every GET: re-fetch rather than cache (the answer is `Cache-Control: no-store`).
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no render with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["getRender"];
        put?: never;
        post?: never;
        /**
         * Cancel a render
         * @description Cancels a `pending` or `running` render: an in-flight ffmpeg stops within seconds and its partial output is removed. Cancelling a cancelled render is a no-op 204. To render again, `POST /v1/renders` afresh.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no render with this id in the caller's account.
         *     - `409` `render_not_cancellable`: the render is `completed` or `failed`.
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        delete: operations["cancelRender"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/renders/{id}/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A render's event history
         * @description The render's full event history, oldest first, for auditors: public event data only (no worker ids, paths or ffmpeg output).
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no render with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listRenderEvents"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhook-endpoints": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List webhook endpoints
         * @description The account's webhook endpoints, newest first, a page at a time (`limit`, `cursor`, `next_cursor`, as every list), without their secrets.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: `cursor` was not handed out by this list; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `422` `validation_error`: `limit` is not a whole number from 1 to 100.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listWebhookEndpoints"];
        put?: never;
        /**
         * Register a webhook endpoint
         * @description Registers a URL to receive the listed event types. Deliveries follow the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`, `webhook-signature` headers), at least once, retried with exponential backoff and jitter (5 s, 30 s, 30 s, 30 s, 2 min, 10 min, 30 min, 2 h, 5 h, 10 h, 10 h by default: 12 attempts over about 28 hours), honouring `Retry-After`; a `410 Gone` disables the endpoint. The response is the only one that carries the signing `secret`. An account has at most 20 endpoints (`RENDERD_WEBHOOK_MAX_ENDPOINTS`; deleted ones do not count, disabled ones do), and one enabled endpoint per URL (a disabled endpoint cannot be enabled again, so its URL can be registered anew): URLs are compared with scheme and host in lower case, without the default port or a host's trailing dot, an empty path as `/`, the rest as written (`/hooks` and `/hooks/` differ). The payloads and the headers a receiver verifies are in this document's top-level `webhooks`, and docs/webhooks.md.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: malformed JSON, a JSON type that does not fit a field, an unknown field, more than one JSON value, a string holding NUL (`\u0000`) (`error.field` names it), or a Content-Type other than `application/json`; or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `408` `request_timeout`: the JSON body did not arrive within the server's timeout.
         *     - `409` `duplicate_webhook_url`: the account has an enabled endpoint with this URL (compared as above); `webhook_endpoint_limit`: the account has as many endpoints as it may (20 by default): delete one first.
         *     - `413` `payload_too_large`: the JSON body is larger than the configured limit.
         *     - `422` `validation_error`: `url` is not an absolute https URL (http only where the operator allows it), has credentials or no host; `events` is empty or names an unknown event type; `description` is longer than 500 bytes (`error.field` names which).
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["createWebhookEndpoint"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhook-endpoints/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Get a webhook endpoint
         * @description The endpoint, without its secret.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no webhook endpoint with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["getWebhookEndpoint"];
        put?: never;
        post?: never;
        /**
         * Delete a webhook endpoint
         * @description Deletes the endpoint; pending deliveries to it stop.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no webhook endpoint with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        delete: operations["deleteWebhookEndpoint"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhook-endpoints/{id}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Rotate a webhook endpoint's signing secret
         * @description Issues a new signing secret. For 24 hours the old secret keeps signing too: each message then carries two `v1,` signatures, so a receiver can switch over without missing one.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no webhook endpoint with this id in the caller's account.
         *     - `429` `rate_limited`: the account's `writes` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["rotateWebhookSecret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhook-endpoints/{id}/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List an endpoint's deliveries
         * @description The endpoint's deliveries, newest first, a page at a time (`limit`, `cursor`, `next_cursor`, as every list; a cursor is bound to the `status` filter it was handed out with), each with its attempts: time, status code, latency, error and, from a public destination outside the operator's allowed ranges only, the first KiB of the response. A refused destination is logged as `destination refused`, never with its address.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: `cursor` was not handed out by this list (or with another `status`); or a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no webhook endpoint with this id in the caller's account.
         *     - `422` `validation_error`: `status` is not pending, delivered or failed, or `limit` is not a whole number from 1 to 100 (`error.field` names which).
         *     - `429` `rate_limited`: the account's `reads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be answered; retry after `Retry-After` seconds.
         */
        get: operations["listWebhookDeliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhook-deliveries/{id}/redeliver": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Redeliver a webhook
         * @description Schedules a delivered or failed delivery for one more attempt, now, with the same `webhook-id`. A pending delivery (waiting for a retry, or being sent) cannot be redelivered; one delivery can be redelivered at most 10 times (`RENDERD_WEBHOOK_MAX_REDELIVERIES`); and each account's redeliveries are rate-limited on their own (`redeliver`: 1 a second, bursts of 60, per account in each API process: one account's replays never slow another's).
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no webhook delivery with this id in the caller's account.
         *     - `409` `delivery_pending`: the delivery is pending (waiting for a retry or being sent); `redelivery_limit`: it was redelivered as often as it may be; `webhook_endpoint_disabled`: its endpoint is disabled (register the URL again as a new endpoint).
         *     - `429` `rate_limited`: the account's `redeliver` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example), so the request could not be decided; retry after `Retry-After` seconds. Nothing was done, unless the database went away just as the write committed: it may then stand, so look before repeating a write that is not idempotent.
         */
        post: operations["redeliverWebhookDelivery"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/downloads/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Download a deliverable
         * @description A render's `download_url`: renderd's own signed, expiring URL (HMAC over the token: tamper-proof), whatever the blob store. The token is the credential: no `Authorization` header. On the local blob store renderd serves the bytes: `200`, or `206` for a `Range`; a download slower than the minimum transfer rate (by default 8 KiB/s over each 30 s window) is cut off by closing the connection; resume it with `Range`. On an S3 store a `GET` is answered `302 Found` to a presigned URL of the object store (valid until the token expires or for 15 minutes, whichever comes first; the object store sends the attachment's name and answers `Range` itself): follow the redirect, and ask this URL again rather than keep the `Location`. A `HEAD` is answered by renderd itself on every store, with the headers of a `GET` and no redirect.
         *
         *     Errors (body: `Error`, `error.code` as listed):
         *     - `400` `invalid_request`: a query value (or name) holds invalid UTF-8 or a control character such as NUL (`error.field` names the parameter), or the query string is malformed.
         *     - `403` `forbidden`: the token is malformed, its signature does not verify, or the key it names is no longer in the service's key ring.
         *     - `404` `not_found`: the render's output no longer exists.
         *     - `410` `download_expired`: the token has expired: fetch the render again for a fresh `download_url`.
         *     - `429` `rate_limited`: the client address's `anonymous` rate limit is spent; retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *
         *     Also `416` (text/plain, not an `Error`): the `Range` cannot be satisfied.
         */
        get: operations["download"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/uploads": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Start a resumable upload (tus creation)
         * @description Starts a resumable upload of an asset's source or audio with the [tus protocol 1.0](https://tus.io/protocols/resumable-upload) (creation, creation-with-upload, termination and expiration extensions); any tus client works. `Upload-Metadata` names the asset (`asset_id`) and the part (`part`: `source` or `audio`); `Upload-Length` is required. The upload is checked like `PUT /v1/assets/{id}/source` before anything is stored, and holds the part until it completes, is terminated (`DELETE`) or expires (`Upload-Expires`): a second upload of the part, resumable or plain, answers `409 upload_in_progress`. Send the bytes with `PATCH` to the `Location`; when the last byte arrives the part is recorded and probed as a plain `PUT`'s, and the upload's URL answers `404` from then on.
         *
         *     The tus protocol's own refusals are tusd's, as every tus client expects them: a status and a `text/plain` body `ERR_…: message`. renderd's own refusals carry its `Error` body.
         *
         *     Errors:
         *     - `400` `invalid_request`: `Upload-Metadata` lacks `asset_id` or a `part` of `source` / `audio`, or the length is deferred (`Upload-Defer-Length` is not supported), or a query value is malformed; tus: `Upload-Length` is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `404` `not_found`: no asset with this id in the caller's account.
         *     - `409` `asset_failed` / `source_already_uploaded` / `audio_already_uploaded` / `concurrent_update` / `upload_in_progress`: as `PUT /v1/assets/{id}/source` answers.
         *     - `412`: tus: `Tus-Resumable` is missing or not `1.0.0`.
         *     - `413` `payload_too_large`: `Upload-Length` is over the configured upload limit (`RENDERD_MAX_UPLOAD_BYTES`); `storage_quota_exceeded`: it would pass the account's storage quota; tus: a body sent with the creation is longer than `Upload-Length`.
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example); retry after `Retry-After` seconds.
         */
        post: operations["createUpload"];
        delete?: never;
        /**
         * tus discovery
         * @description The tus protocol's discovery: the versions and extensions the server offers.
         *
         *     Errors:
         *     - `400` `invalid_request`: a query value is malformed.
         *     - `401` `unauthorized`: the `Authorization: Bearer <api key>` header is missing or names no account.
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example); retry after `Retry-After` seconds.
         */
        options: operations["describeUploads"];
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/uploads/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Abandon a resumable upload (tus termination)
         * @description Removes the upload's bytes and frees the part for another upload.
         *
         *     Errors:
         *     - `400` `invalid_request`: a query value is malformed.
         *     - `401` `unauthorized`: no valid API key.
         *     - `404` `not_found`: no such upload in the caller's account (another account's upload is `404` too, never `403`), or it expired or was completed.
         *     - `412`: tus: `Tus-Resumable` is missing or not `1.0.0`.
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example); retry after `Retry-After` seconds.
         */
        delete: operations["terminateUpload"];
        options?: never;
        /**
         * The offset to resume a resumable upload from
         * @description How many bytes of the upload the server holds (`Upload-Offset`): resume with a `PATCH` from there.
         *
         *     Errors (a HEAD's answer has no body; the codes are those a GET would carry):
         *     - `400` `invalid_request`: a query value is malformed.
         *     - `401` `unauthorized`: no valid API key.
         *     - `404` `not_found`: no such upload in the caller's account (another account's upload is `404` too, never `403`), or it expired or was completed.
         *     - `412`: tus: `Tus-Resumable` is missing or not `1.0.0`.
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example); retry after `Retry-After` seconds.
         */
        head: operations["getUploadOffset"];
        /**
         * Send bytes of a resumable upload
         * @description Appends the body at `Upload-Offset`, which must be the offset the server holds (`HEAD`). A dropped connection keeps what arrived: `HEAD` and resume from there. When the last byte arrives the part is copied into the blob store and recorded, and probing follows as for `PUT /v1/assets/{id}/source`; if that is refused the upload is removed and the answer says why.
         *
         *     The tus protocol's own refusals are tusd's, as every tus client expects them: a status and a `text/plain` body `ERR_…: message`. renderd's own refusals carry its `Error` body.
         *
         *     Errors:
         *     - `400` `invalid_request`: a query value is malformed; tus: `Upload-Offset` is malformed.
         *     - `401` `unauthorized`: no valid API key.
         *     - `404` `not_found`: no such upload in the caller's account (another account's upload is `404` too, never `403`), or it expired or was completed.
         *     - `408` `upload_too_slow`: the body arrived slower than the minimum transfer rate; what arrived is kept, resume.
         *     - `409`: tus: `Upload-Offset` is not the offset the server holds (`ERR_MISMATCHED_OFFSET`); or, on the last byte, `upload_in_progress` (the upload's hold on the part was lost) / `source_already_uploaded` / `asset_failed` / `concurrent_update`.
         *     - `412`: tus: `Tus-Resumable` is missing or not `1.0.0`.
         *     - `413`: tus: more bytes than `Upload-Length`.
         *     - `415`: tus: the `Content-Type` is not `application/offset+octet-stream`.
         *     - `429` `rate_limited`: the account's `uploads` rate limit is spent (or, for a request without a valid key, the client address's `anonymous` one); retry after `Retry-After` seconds.
         *     - `500` `internal`: an unexpected failure on the server side, a bug (logged with the request id); an outage answers `503`.
         *     - `503` `service_unavailable`: a dependency is unreachable (the database, while it restarts, for example); retry after `Retry-After` seconds.
         */
        patch: operations["resumeUpload"];
        trace?: never;
    };
}
export interface webhooks {
    "render.completed": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A render completed
         * @description The render's output is ready: fetch `GET /v1/renders/{id}` for a fresh `download_url`. Sent to every enabled endpoint subscribed to `render.completed`, once the render's `GET` shows the state announced, at least once (deduplicate on `webhook-id`). Verify `webhook-signature` over `webhook-id`, `webhook-timestamp` and the raw body before trusting anything in it (docs/webhooks.md).
         */
        post: operations["webhookRenderCompleted"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "render.failed": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A render failed
         * @description The render failed for good: `data.render.failure` says why. Sent to every enabled endpoint subscribed to `render.failed`, once the render's `GET` shows the state announced, at least once (deduplicate on `webhook-id`). Verify `webhook-signature` over `webhook-id`, `webhook-timestamp` and the raw body before trusting anything in it (docs/webhooks.md).
         */
        post: operations["webhookRenderFailed"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export interface components {
    schemas: {
        /** @description The one error shape of the API (Go: `errorBody`). */
        Error: {
            error: components["schemas"]["ErrorDetail"];
        };
        /** @description Go: `errorDetail`. */
        ErrorDetail: {
            /** @description Stable, machine-readable: `invalid_request` (400), `unauthorized` (401), `forbidden` (403), `not_found` (404), `method_not_allowed` (405), `request_timeout` and `upload_too_slow` (408), the operation's conflict codes (409), `download_expired` (410), `payload_too_large` (413), `validation_error` (422), `rate_limited` (429), `internal` (500). */
            code: string;
            /** @description For humans; may change. */
            message: string;
            /** @description The offending request field (e.g. `kind`, `segments[2].end`, `limit`), when there is one. */
            field?: string;
        };
        /** @description Why an asset, cut or render failed (Go: `failureJSON`). */
        Failure: {
            /** @description Stable failure code, e.g. `source_unreadable`, `container_not_allowed`, `codec_not_allowed` (a stream in a codec outside the accepted inputs), `no_video_stream`, `no_audio_stream`, `source_too_large` (a source past the operator's limits on picture size, frame rate or duration: `RENDERD_MAX_SOURCE_DIMENSIONS`, `RENDERD_MAX_SOURCE_FPS`, `RENDERD_MAX_SOURCE_SECONDS`) (assets), `segments_out_of_range`, `nothing_kept`, `asset_failed` (cuts). */
            code: string;
            message: string;
        };
        /** @description A refused upload of one part (Go: `refusalJSON`). */
        Refusal: {
            /** @enum {unknown} */
            part: "source" | "audio";
            /** @example source_duration_mismatch */
            code: string;
            message: string;
        };
        /** @description What probing found in an uploaded part (Go: `mediaJSON`). Fields that do not apply or are unknown are absent. */
        Media: {
            /** @description Container as ffprobe names it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
            container: string;
            /** @description Seconds. */
            duration: number;
            size_bytes: number;
            /** @description Cover art (`attached_pic`) does not count as video. */
            has_video: boolean;
            has_audio: boolean;
            video_codec?: string;
            /** @description Displayed width (after rotation). */
            width?: number;
            /** @description Displayed height (after rotation). */
            height?: number;
            /** @description Degrees, as found in the display matrix. */
            rotation: number;
            /** @description A rational, e.g. `30000/1001`. */
            frame_rate?: string;
            pixel_format?: string;
            /** @description Bits per second; absent when unknown. */
            video_bitrate_bps?: number;
            audio_codec?: string;
            /** @description Bits per second; absent when unknown. */
            audio_bitrate_bps?: number;
            audio_channels?: number;
            /** @description Hz. */
            audio_sample_rate?: number;
        };
        /** @description A source asset (Go: `assetJSON`). */
        Asset: {
            /** @example ast_0190b6a4-9c1e-7d3a-8f00-3c1b2a4d5e6f */
            id: string;
            /** @constant */
            object: "asset";
            /** @enum {unknown} */
            kind: "video" | "audio";
            name: string;
            /** @enum {unknown} */
            state: "uploading" | "processing" | "payment_required" | "ready" | "failed";
            /** @description The asset's audio (for a video without audio: its timeline) is processed and paid for: cuts can complete and audio renders can start. */
            cuttable: boolean;
            /** @description The probed source; `null` until probed. */
            source: components["schemas"]["Media"] | null;
            /** @description The probed client-extracted audio; `null` unless uploaded and probed. */
            audio: components["schemas"]["Media"] | null;
            /** @description Set when `state` is `failed`. */
            failure: components["schemas"]["Failure"] | null;
            /** @description Why an uploaded part was refused, until that part is uploaded again: `source_duration_mismatch` when the source and the client-extracted audio disagree in duration by more than max(0.5 s, 1 % of the longer). The asset keeps what it had; nothing is charged for the refused part, and its bytes are freed. */
            refusal: components["schemas"]["Refusal"] | null;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            updated_at: string;
        };
        /** @description What a write answers when the read model has not caught up within the read-your-writes bound (the response then carries `Renderd-Read-Your-Writes: timeout`); GET the asset for the rest. */
        AssetPending: {
            id: string;
            /** @constant */
            object: "asset";
        };
        /** @description A page of assets (Go: `listJSON[assetJSON]`). */
        AssetList: {
            data: components["schemas"]["Asset"][];
            /** @description Pass as `cursor` for the next page; `null` on the last page. */
            next_cursor: string | null;
        };
        /** @description A kept span of the asset, [start, end) (Go: `segmentJSON`). */
        Segment: {
            /** @description Seconds. */
            start: number;
            /** @description Seconds, after `start`. */
            end: number;
        };
        /** @description Keep everything but silences of at least `min_silence` below `threshold_db` (Go: `silenceJSON`). */
        SilenceRemoval: {
            /** @description Seconds: shorter silences are kept. */
            min_silence: number;
            /** @description dBFS below which audio counts as silence. */
            threshold_db: number;
        };
        /** @description An automatic plan (Go: `autoJSON`). */
        AutoPlan: {
            remove_silence: components["schemas"]["SilenceRemoval"];
        };
        /** @description The plan as requested: explicit segments or an automatic plan, never both (Go: `planJSON`). */
        CutPlan: {
            segments?: components["schemas"]["Segment"][];
            auto?: components["schemas"]["AutoPlan"];
        } & (unknown | unknown);
        /** @description A kept-segment plan over one asset (Go: `cutJSON`). */
        Cut: {
            id: string;
            /** @constant */
            object: "cut";
            asset_id: string;
            /** @enum {unknown} */
            state: "processing" | "completed" | "failed";
            plan: components["schemas"]["CutPlan"];
            /** @description The final kept segments once `completed`; empty before. */
            segments: components["schemas"]["Segment"][];
            /** @description Seconds kept, the sum of `segments`; `null` unless `completed`. */
            duration: number | null;
            /** @description Set when `state` is `failed`. */
            failure: components["schemas"]["Failure"] | null;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            updated_at: string;
        } & unknown;
        /** @description What `POST /v1/assets/{id}/cuts` answers when the read model has not caught up within the read-your-writes bound (with `Renderd-Read-Your-Writes: timeout`). */
        CutPending: {
            id: string;
            /** @constant */
            object: "cut";
        };
        /** @description A page of cuts (Go: `listJSON[cutJSON]`). */
        CutList: {
            data: components["schemas"]["Cut"][];
            /** @description Pass as `cursor` for the next page; `null` on the last page. */
            next_cursor: string | null;
        };
        /** @description Go: `creditsAmountJSON`. */
        CreditsBalance: {
            seconds: number;
            /** @description `seconds` / 60. */
            minutes: number;
        };
        /** @description One line of the credit ledger (Go: `ledgerEntryJSON`). */
        LedgerEntry: {
            id: string;
            /** @description Signed: a charge is negative, an allowance or grant positive. */
            seconds: number;
            /** @enum {unknown} */
            reason: "allowance" | "grant" | "charge";
            /** @description The charged asset; only on a `charge`. */
            asset_id?: string;
            /** Format: date-time */
            created_at: string;
        } & unknown;
        /** @description An account's credits (Go: `creditsJSON`). */
        Credits: {
            /** @constant */
            object: "credits";
            balance: components["schemas"]["CreditsBalance"];
            /** @description Newest first. */
            recent_entries: components["schemas"]["LedgerEntry"][];
        };
        /** @description Body of `POST /v1/assets` (Go: `createAssetRequest`). Unknown fields are refused (400). */
        CreateAsset: {
            /** @enum {unknown} */
            kind: "video" | "audio";
            /** @description Display name, at most 255 bytes; defaults to empty. */
            name?: string;
        };
        /** @description Body of `POST /v1/assets/{id}/cuts` (Go: `requestCutRequest`): exactly one of `segments` and `auto`. Unknown fields and wrong JSON types are 400; plan violations 422. */
        RequestCut: {
            /** @description Sorted, non-overlapping, each at least 0.1 s long. */
            segments?: components["schemas"]["Segment"][];
            auto?: components["schemas"]["AutoPlan"];
        } & (unknown | unknown);
        /** @description Body of `GET /healthz`. */
        Health: {
            /** @constant */
            status: "ok";
        };
        /** @description Body of `GET /readyz`. */
        Readiness: {
            ready: boolean;
            /** @description Per check (`postgres`, `kafka` when configured): `ok` or `failing`. The error itself goes to the service's log, never into the answer. */
            checks: {
                [key: string]: "ok" | "failing";
            };
        };
        /** @description The output as requested, normalised: omitted fields are absent. Case-sensitive (`4K` is refused). */
        RenderOutput: {
            /**
             * @description `mp4`/`mov`: H.264 + AAC (same encode, other container); `m4a`: AAC; `mp3`: MP3.
             * @enum {unknown}
             */
            format: "mp4" | "mov" | "m4a" | "mp3";
            /**
             * @description Video only. Target of the displayed picture's shorter edge, aspect kept, never upscaled; absent: source resolution.
             * @enum {unknown}
             */
            resolution?: "720p" | "1080p" | "4k";
            /**
             * @description Mbps, video only; absent: Auto (5/10/20 for short edge ≤720/≤1080/larger, capped to the source).
             * @enum {unknown}
             */
            video_bitrate?: 5 | 10 | 20 | 50;
            /**
             * @description kbps; absent: Auto (192, capped to the source); above the source it is capped.
             * @enum {unknown}
             */
            audio_bitrate?: 128 | 192 | 256 | 320;
        };
        /** @description `output` of `POST /v1/renders`: like `RenderOutput`, and `null` means omitted. Omitted and an explicit value equal to Auto are different requests. Violations are 422 `validation_error`, wrong JSON types 400. */
        RenderOutputRequest: {
            /** @enum {unknown} */
            format: "mp4" | "mov" | "m4a" | "mp3";
            /** @enum {unknown} */
            resolution?: "720p" | "1080p" | "4k" | null;
            /** @enum {unknown} */
            video_bitrate?: 5 | 10 | 20 | 50 | null;
            /** @enum {unknown} */
            audio_bitrate?: 128 | 192 | 256 | 320 | null;
        };
        /** @description Body of `POST /v1/renders`. */
        RequestRender: {
            asset_id: string;
            /** @description Apply this completed cut of the asset; absent or `null`: the full source. */
            cut_id?: string | null;
            output: components["schemas"]["RenderOutputRequest"];
        };
        /** @description A deliverable with its own lifecycle. */
        Render: {
            id: string;
            /** @constant */
            object: "render";
            asset_id: string;
            cut_id: string | null;
            output: components["schemas"]["RenderOutput"];
            /** @enum {unknown} */
            state: "pending" | "running" | "completed" | "failed" | "cancelled";
            /** @description Percent, monotonic within an attempt; 100 only when `completed`. */
            progress: number;
            /** @description The current attempt; 0 before the first starts, goes up when an attempt is retried (progress restarts at 0). */
            attempt: number;
            /** @description Set when `state` is `failed`. */
            failure: components["schemas"]["Failure"] | null;
            /** @description The failed or cancelled render with the same signature this one replaced. */
            replaces: string | null;
            /** @description The render completed, and its output passed the retention period (`RENDERD_OUTPUT_RETENTION`) and was removed: `state` stays `completed` (the render did complete; `size_bytes` and `duration` still describe it), but no `download_url` is handed out. `POST /v1/renders` with the same request renders it again as a new render whose `replaces` names this one. Always `false` for other states. */
            output_expired: boolean;
            /**
             * Format: uri
             * @description Only on `GET /v1/renders/{id}` of a `completed` render whose output has not expired (`output_expired` false); minted fresh on every GET, valid about 15 minutes.
             */
            download_url?: string;
            /**
             * Format: date-time
             * @description When `download_url` stops working.
             */
            download_expires_at?: string;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            updated_at: string;
            plan: components["schemas"]["RenderPlan"];
            /** @description Estimated seconds left while running. */
            eta_seconds: number | null;
            /** @description Size of the deliverable once completed. */
            size_bytes: number | null;
            /** @description Duration of the deliverable once completed, seconds. */
            duration: number | null;
            /**
             * Format: date-time
             * @description Start of the current (or last) attempt.
             */
            started_at: string | null;
            /** Format: date-time */
            completed_at: string | null;
            /** Format: date-time */
            failed_at: string | null;
            /** Format: date-time */
            cancelled_at: string | null;
        } & (unknown & unknown);
        /** @description A page of renders; items never carry `download_url`. */
        RenderList: {
            data: (components["schemas"]["Render"] & unknown)[];
            /** @description Pass as `cursor` for the next page; `null` on the last page. */
            next_cursor: string | null;
        };
        /** @description One event of a render's history. */
        RenderEvent: {
            /** @description The event id. */
            id: string;
            /**
             * @description Public, unversioned type (Kafka `ce_type`s carry the version).
             * @enum {unknown}
             */
            type: "render.requested" | "render.started" | "render.progressed" | "render.completed" | "render.failed" | "render.cancelled" | "render.retried" | "render.output_expired";
            /** @description The render's stream version this event set. */
            version: number;
            /** Format: date-time */
            occurred_at: string;
            /** @description The event's public data (no worker ids, paths or ffmpeg output). */
            data: Record<string, never>;
        };
        /** @description A render's full event history. */
        RenderEventList: {
            /** @description Oldest first. */
            data: components["schemas"]["RenderEvent"][];
        };
        /** @description Body of `POST /v1/webhook-endpoints` (Go: `endpointRequest`). */
        CreateWebhookEndpoint: {
            /**
             * Format: uri
             * @description https, or http where the operator allows it. Deliveries to private, loopback, link-local and metadata addresses are refused when sent (checked on the resolved address) unless the operator allows them.
             */
            url: string;
            events: ("render.completed" | "render.failed")[];
            description?: string;
        };
        /** @description A webhook endpoint (Go: `endpointJSON`). */
        WebhookEndpoint: {
            id: string;
            /** @constant */
            object: "webhook_endpoint";
            /** Format: uri */
            url: string;
            events: ("render.completed" | "render.failed")[];
            description: string;
            /**
             * @description `disabled`: the receiver answered 410 Gone, or failed every delivery for too long (5 days by default). A disabled endpoint cannot be enabled again: register its URL as a new endpoint (the disabled one keeps its delivery log and counts toward the endpoint limit until deleted).
             * @enum {unknown}
             */
            state: "enabled" | "disabled";
            disabled_reason: string | null;
            /** @description The Standard Webhooks signing secret; only in the responses to `POST /v1/webhook-endpoints` and `POST /v1/webhook-endpoints/{id}/rotate-secret`. Stored encrypted (AES-256-GCM under the operator's key); the answers carrying it send `Cache-Control: no-store`. */
            secret?: string;
            /** Format: date-time */
            created_at: string;
            /** Format: date-time */
            disabled_at: string | null;
        };
        /** @description A page of the account's webhook endpoints, newest first, without secrets (Go: `listJSON[endpointJSON]`). */
        WebhookEndpointList: {
            data: (components["schemas"]["WebhookEndpoint"] & unknown)[];
            /** @description Pass as `cursor` for the next page; `null` on the last page. */
            next_cursor: string | null;
        };
        /** @description One event's delivery to one endpoint, with every attempt (Go: `deliveryJSON`). */
        WebhookDelivery: {
            id: string;
            /** @constant */
            object: "webhook_delivery";
            endpoint_id: string;
            /** @description Also the `webhook-id` header of every attempt. */
            event_id: string;
            /** @enum {unknown} */
            event_type: "render.completed" | "render.failed";
            render_id: string;
            /**
             * @description `failed`: the last attempt of the retry schedule failed, the receiver answered 410, or the endpoint was deleted.
             * @enum {unknown}
             */
            status: "pending" | "delivered" | "failed";
            /** @description Redeliveries asked for through `POST /v1/webhook-deliveries/{id}/redeliver`; at most 10 (`RENDERD_WEBHOOK_MAX_REDELIVERIES`). */
            redeliveries: number;
            /** Format: date-time */
            next_attempt_at: string | null;
            /** Format: date-time */
            created_at: string;
            attempts: components["schemas"]["WebhookAttempt"][];
        };
        /** @description A page of an endpoint's deliveries, newest first (Go: `listJSON[deliveryJSON]`). */
        WebhookDeliveryList: {
            data: components["schemas"]["WebhookDelivery"][];
            /** @description Pass as `cursor` (with the same `status`) for the next page; `null` on the last page. */
            next_cursor: string | null;
        };
        /** @description The output resolved against the source: picture size (shorter displayed edge = tier, aspect kept, even, never upscaled), bitrates (Auto or explicit, capped to the source), kept segments and output duration. */
        RenderPlan: {
            width?: number;
            height?: number;
            video_bitrate_bps?: number;
            audio_bitrate_bps?: number;
            /** @description Kept segments of the cut; empty for a full-source render. */
            segments: components["schemas"]["Segment"][];
            /** @description Planned output duration, seconds. */
            duration: number;
        };
        /** @description One attempt of a delivery (Go: `attemptJSON`). */
        WebhookAttempt: {
            n: number;
            /**
             * Format: date-time
             * @description When the attempt started: it is logged before it is sent.
             */
            at: string;
            /**
             * @description `in_flight`: sent, no outcome yet (`status_code`, `latency_ms`, `error` and `response_body` are `null`). `finished`: its outcome is recorded in the other fields. `abandoned`: the sender stopped (its process died, for example) before recording an outcome; whether the receiver got the request is unknown, and `error` is `the sender stopped before the attempt finished`. The next attempt marks the one before it `abandoned` when it claims the delivery, which it does only once the unfinished attempt's sender can no longer record it.
             * @enum {string}
             */
            state: "in_flight" | "finished" | "abandoned";
            /** @description `null` when no response came (timeout, refused destination, connection error) or the attempt is not `finished`. */
            status_code: number | null;
            /** @description `null` unless the attempt is `finished`. */
            latency_ms: number | null;
            /** @description `null` when a response came, and while the attempt is `in_flight`; otherwise a short reason (`timeout after 10s`, `connection refused`, …). Every refused destination is `destination refused`: no address, no range. An `abandoned` attempt says `the sender stopped before the attempt finished`. */
            error: string | null;
            /** @description The first KiB of the response body, from a public address outside the ranges the operator's `RENDERD_WEBHOOK_ALLOW` opens; `null` when not kept: from an address in such a range (public or not), and for every attempt made before this rule. */
            response_body: string | null;
        };
        /** @description A redelivery was scheduled (Go: `redeliverJSON`). */
        RedeliverAccepted: {
            id: string;
            /** @constant */
            object: "webhook_delivery";
            /** @constant */
            status: "pending";
        };
        /** @description The body of every webhook (Go: `httpapi.WebhookPayload`): the event's id (also the `webhook-id` header), its public type, when it happened, and the render as `GET /v1/renders/{id}` shows it, without `download_url` (fetch the render for one). Signed byte for byte as sent: verify the raw body before parsing it. Ignore unknown fields. */
        WebhookEvent: {
            /**
             * Format: uuid
             * @description The event id; equal to the `webhook-id` header, the same on every retry and redelivery: deduplicate on it.
             */
            id: string;
            /** @enum {unknown} */
            type: "render.completed" | "render.failed";
            /**
             * Format: date-time
             * @description When the event happened (not when this attempt was sent: that is `webhook-timestamp`).
             */
            created_at: string;
            data: {
                render: components["schemas"]["Render"] & unknown;
            };
        };
        /** @description A new API key's options; both are optional, `{}` makes a key that never expires (Go: `createAPIKeyRequest`). */
        CreateAPIKey: {
            /** @description A label for the key: at most 100 bytes of UTF-8 without control characters; blanks around it are trimmed. Default: empty. */
            name?: string;
            /**
             * Format: date-time
             * @description When the key stops working (RFC 3339): in the future, at most 5 years ahead. Default: never.
             */
            expires_at?: string;
        };
        /** @description An API key (Go: `APIKeyJSON`). Only a digest of the key is stored: `api_key` appears once, in the answer to `POST /v1/api-keys`. */
        APIKey: {
            id: string;
            /** @constant */
            object: "api_key";
            name: string;
            /** @description The first 12 characters of the key, to recognise it; `null` for keys made before key management (only their digest was ever stored). */
            prefix: string | null;
            /** @description The key itself, for `Authorization: Bearer`; only in the answer to `POST /v1/api-keys`. */
            api_key?: string;
            /** Format: date-time */
            created_at: string;
            /**
             * Format: date-time
             * @description When the key last authenticated a request, recorded at most once a minute (so up to a minute behind); `null`: not since it was made.
             */
            last_used_at: string | null;
            /**
             * Format: date-time
             * @description When the key stops working; `null`: never.
             */
            expires_at: string | null;
        };
        /** @description The account's API keys, newest first, expired ones included until revoked, without the keys themselves (Go: `listJSON[APIKeyJSON]`). */
        APIKeyList: {
            data: (components["schemas"]["APIKey"] & unknown)[];
            /** @description Always `null`: an account holds at most `RENDERD_ACCOUNT_MAX_API_KEYS` keys (20 by default). */
            next_cursor: string | null;
        };
    };
    responses: {
        /** @description `invalid_request`. */
        InvalidRequest: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "invalid_request";
                    };
                };
            };
        };
        /** @description `unauthorized`: no `Authorization: Bearer <api key>` header, or a key that is malformed, unknown, revoked or expired. The scheme is case-insensitive (`bearer` works too). */
        Unauthorized: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                "WWW-Authenticate": components["headers"]["WWWAuthenticate"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "unauthorized";
                    };
                };
            };
        };
        /** @description `forbidden`. */
        Forbidden: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "forbidden";
                    };
                };
            };
        };
        /** @description `not_found`. */
        NotFound: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "not_found";
                    };
                };
            };
        };
        /** @description `download_expired`. */
        DownloadExpired: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "download_expired";
                    };
                };
            };
        };
        /** @description `request_timeout`: the JSON body did not arrive within the server's timeout. */
        RequestTimeout: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "request_timeout";
                    };
                };
            };
        };
        /** @description `upload_too_slow`: the upload fell below the minimum transfer rate and was cut off; nothing was stored. */
        UploadTooSlow: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "upload_too_slow";
                    };
                };
            };
        };
        /** @description `payload_too_large`. */
        PayloadTooLarge: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "payload_too_large";
                    };
                };
            };
        };
        /** @description `validation_error`. */
        ValidationError: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "validation_error";
                    };
                };
            };
        };
        /** @description `rate_limited`: a rate limit is spent (see `RateLimit-Policy` for which); retry after `Retry-After` seconds. */
        RateLimited: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                "Retry-After": components["headers"]["RetryAfter"];
                "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                RateLimit: components["headers"]["RateLimit"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "rate_limited";
                    };
                };
            };
        };
        /** @description `internal`. */
        Internal: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "internal";
                    };
                };
            };
        };
        /** @description `service_unavailable`: a dependency cannot answer now: the database is unreachable (restarting, or the connection was lost), out of connections or resources, or the transaction lost a serialization race or a deadlock. The request was not decided (a write may stand only when the database went away just as it committed). Retry after `Retry-After` seconds; the same request may succeed once the dependency is back. A `500 internal` is never an outage. */
        Unavailable: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                /** @description Whole seconds, at least 1, to wait before retrying. */
                "Retry-After": number;
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "service_unavailable";
                    };
                };
            };
        };
        /** @description `method_not_allowed`: the path exists but not with this method; `Allow` lists the methods it serves. Any documented path answers it for an undocumented method. */
        MethodNotAllowed: {
            headers: {
                "X-Request-Id": components["headers"]["RequestId"];
                /** @description The methods the path serves (RFC 9110), e.g. `GET, POST`. */
                Allow: string;
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"] & {
                    error?: {
                        /** @constant */
                        code?: "method_not_allowed";
                    };
                };
            };
        };
    };
    parameters: {
        /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
        RequestId: string;
        /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
        AssetId: string;
        /** @description The cut id (`cut_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
        CutId: string;
        /** @description The render id (`rnd_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
        RenderId: string;
        /** @description The webhook endpoint id (`whe_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
        WebhookEndpointId: string;
        /** @description The webhook delivery id (`whd_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
        WebhookDeliveryId: string;
        /** @description The signed, expiring download token. It names the operator's key that signed it, so a key rotation leaves tokens already handed out working until they expire. The service never logs it. */
        DownloadToken: string;
        /** @description Page size, 1 to 100 (more is 422). */
        Limit: number;
        /** @description The `next_cursor` of the previous page; opaque. One this list did not hand out is 400. */
        Cursor: string;
        /** @description Only renders of this asset. */
        AssetIdFilter: string;
        /** @description Only renders in this state. */
        RenderStateFilter: "pending" | "running" | "completed" | "failed" | "cancelled";
        /** @description A byte range (RFC 9110), e.g. `bytes=0-1023`. */
        Range: string;
        /** @description The API key's id (`key_…`). */
        APIKeyId: string;
    };
    requestBodies: never;
    headers: {
        /** @description The request's correlation id: the client's `X-Request-Id` if sane, else a generated `req_…`. */
        RequestId: string;
        /** @description `timeout` when the read model did not reflect the write within the configured bound: the write stands, but the body may be a stub and an immediate GET may not show it yet. */
        ReadYourWrites: "timeout";
        /** @description Whole seconds, at least 1, until the request may succeed: until the spent bucket holds a token again. */
        RetryAfter: number;
        /**
         * @description The rate limit the request spends from, as the IETF draft-ietf-httpapi-ratelimit-headers states it: `"<policy>";q=<quota>;w=<window>`. The quota is the bucket's size (the largest burst), the window the seconds an empty bucket takes to fill again. Policies: `reads`, `writes`, `uploads`, `redeliver` (per account) and `anonymous` (per client address). A work limit's `429` (`too_many_renders`, `too_many_cuts`) names a count instead, without a window: `"renders_queued";q=<n>`, `"cuts_in_flight";q=<n>`, `"auto_cuts_in_flight";q=<n>`. Sent on every response of a limited route, so a client can pace itself.
         * @example "writes";q=100;w=5
         */
        RateLimitPolicy: string;
        /**
         * @description What is left of the policy named in `RateLimit-Policy`: `"<policy>";r=<remaining>;t=<seconds>`: the whole requests the bucket still allows at once, and the seconds until it is full again. On a 429, `r=0` and `t` is the `Retry-After`.
         * @example "writes";r=97;t=1
         */
        RateLimit: string;
        /**
         * @description The authentication challenge of a 401 (RFC 9110 §11.6.1, RFC 6750 §3): `Bearer realm="renderd"` when no bearer key was sent, `Bearer realm="renderd", error="invalid_token"` when the key sent is malformed, unknown, revoked or expired.
         * @example Bearer realm="renderd", error="invalid_token"
         */
        WWWAuthenticate: string;
        /** @description `no-store`: the answer carries a secret or a download URL (itself a credential), which no cache, in a browser or on the way, may keep. */
        CacheControlNoStore: "no-store";
        /** @description `private, max-age=<seconds until the link expires>`: the file may stay in the client's own cache while the link is valid, never in a shared one. */
        CacheControlDownload: string;
    };
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getHealth: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The process is alive. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    getReadiness: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every check passed. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Readiness"];
                };
            };
            /** @description At least one check failed; `checks` names it as `failing`. */
            503: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Readiness"];
                };
            };
        };
    };
    getOpenAPI: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The OpenAPI document. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** @constant */
                        openapi: "3.1.0";
                    };
                };
            };
        };
    };
    listAssets: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100 (more is 422). */
                limit?: components["parameters"]["Limit"];
                /** @description The `next_cursor` of the previous page; opaque. One this list did not hand out is 400. */
                cursor?: components["parameters"]["Cursor"];
            };
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of assets. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AssetList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    createAsset: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        /** @description The asset's kind and a display name. */
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateAsset"];
            };
        };
        responses: {
            /** @description The created asset. If the read model did not catch up within the read-your-writes bound, the body is the `AssetPending` stub and `Renderd-Read-Your-Writes: timeout` is set. */
            201: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Renderd-Read-Your-Writes": components["headers"]["ReadYourWrites"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Asset"] | components["schemas"]["AssetPending"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            408: components["responses"]["RequestTimeout"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getAsset: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["AssetId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The asset. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Asset"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    deleteAsset: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["AssetId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted (or deleted already); the blobs are removed asynchronously. */
            202: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    uploadAssetSource: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["AssetId"];
            };
            cookie?: never;
        };
        /** @description The raw media, streamed. The Content-Type is not checked: any container ffprobe reads from the allowlist is accepted; the media is probed asynchronously. */
        requestBody: {
            content: {
                "application/octet-stream": string;
                "*/*": string;
            };
        };
        responses: {
            /** @description The upload is recorded; probing follows. `AssetPending` if the read model lagged (with `Renderd-Read-Your-Writes: timeout`). */
            202: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Renderd-Read-Your-Writes": components["headers"]["ReadYourWrites"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Asset"] | components["schemas"]["AssetPending"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            408: components["responses"]["UploadTooSlow"];
            /** @description Conflict with the state of the asset: `error.code` is one of `asset_failed`, `source_already_uploaded`, `concurrent_update`, `upload_in_progress` (another upload of this part is streaming). */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "asset_failed" | "source_already_uploaded" | "concurrent_update" | "upload_in_progress";
                        };
                    };
                };
            };
            /** @description `payload_too_large`: the body is larger than the upload limit; `storage_quota_exceeded`: it would pass the account's storage quota (refused before the body is read when `Content-Length` says so, else stopped when it passes the quota). */
            413: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "payload_too_large" | "storage_quota_exceeded";
                        };
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    uploadAssetAudio: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["AssetId"];
            };
            cookie?: never;
        };
        /** @description The raw media, streamed. The Content-Type is not checked: any container ffprobe reads from the allowlist is accepted; the media is probed asynchronously. */
        requestBody: {
            content: {
                "application/octet-stream": string;
                "*/*": string;
            };
        };
        responses: {
            /** @description The upload is recorded; probing follows. `AssetPending` if the read model lagged (with `Renderd-Read-Your-Writes: timeout`). */
            202: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Renderd-Read-Your-Writes": components["headers"]["ReadYourWrites"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Asset"] | components["schemas"]["AssetPending"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            408: components["responses"]["UploadTooSlow"];
            /** @description Conflict with the state of the asset: `error.code` is one of `audio_not_applicable`, `asset_failed`, `audio_already_uploaded`, `source_already_processed`, `concurrent_update`, `upload_in_progress` (another upload of this part is streaming). */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "audio_not_applicable" | "asset_failed" | "audio_already_uploaded" | "source_already_processed" | "concurrent_update" | "upload_in_progress";
                        };
                    };
                };
            };
            /** @description `payload_too_large`: the body is larger than the upload limit; `storage_quota_exceeded`: it would pass the account's storage quota (refused before the body is read when `Content-Length` says so, else stopped when it passes the quota). */
            413: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "payload_too_large" | "storage_quota_exceeded";
                        };
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listCuts: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100 (more is 422). */
                limit?: components["parameters"]["Limit"];
                /** @description The `next_cursor` of the previous page; opaque. One this list did not hand out is 400. */
                cursor?: components["parameters"]["Cursor"];
            };
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["AssetId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of cuts. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CutList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    requestCut: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The asset id (`ast_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["AssetId"];
            };
            cookie?: never;
        };
        /** @description Exactly one of `segments` and `auto`. */
        requestBody: {
            content: {
                "application/json": components["schemas"]["RequestCut"];
            };
        };
        responses: {
            /** @description The created cut. If the read model did not catch up within the read-your-writes bound, the body is the `CutPending` stub and `Renderd-Read-Your-Writes: timeout` is set. */
            201: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Renderd-Read-Your-Writes": components["headers"]["ReadYourWrites"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Cut"] | components["schemas"]["CutPending"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            408: components["responses"]["RequestTimeout"];
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["ValidationError"];
            /** @description `too_many_cuts`: a limit on cuts in flight refuses the cut for now; `RateLimit-Policy` names it (`cuts_in_flight`: cuts of this asset processing, `RENDERD_ASSET_MAX_CUTS_IN_FLIGHT`; `auto_cuts_in_flight`: automatic cuts of this account processing, `RENDERD_ACCOUNT_MAX_AUTO_CUTS`) and its size, `RateLimit` says none remains; retry once one completes, after `Retry-After` seconds. `rate_limited`: a rate limit is spent (see `RateLimit-Policy` for which). */
            429: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Retry-After": components["headers"]["RetryAfter"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "rate_limited" | "too_many_cuts";
                        };
                    };
                };
            };
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getCut: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The cut id (`cut_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["CutId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The cut. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Cut"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getCredits: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The balance and recent ledger entries. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Credits"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listAPIKeys: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The account's keys. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["APIKeyList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    createAPIKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        /** @description The key's options (`{}` for none). */
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateAPIKey"];
            };
        };
        responses: {
            /** @description The key, shown this once. */
            201: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Cache-Control": components["headers"]["CacheControlNoStore"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["APIKey"] & unknown;
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            408: components["responses"]["RequestTimeout"];
            /** @description `too_many_api_keys`: the account holds as many keys as `RENDERD_ACCOUNT_MAX_API_KEYS` allows. */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @constant */
                            code?: "too_many_api_keys";
                        };
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    revokeAPIKey: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The API key's id (`key_…`). */
                id: components["parameters"]["APIKeyId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked. */
            204: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            /** @description `last_api_key`: the account would have no usable key left. */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @constant */
                            code?: "last_api_key";
                        };
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listRenders: {
        parameters: {
            query?: {
                /** @description Only renders of this asset. */
                asset_id?: components["parameters"]["AssetIdFilter"];
                /** @description Only renders in this state. */
                state?: components["parameters"]["RenderStateFilter"];
                /** @description Page size, 1 to 100 (more is 422). */
                limit?: components["parameters"]["Limit"];
                /** @description The `next_cursor` of the previous page; opaque. One this list did not hand out is 400. */
                cursor?: components["parameters"]["Cursor"];
            };
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of renders. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RenderList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    requestRender: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        /** @description The asset, an optional cut and the output spec. */
        requestBody: {
            content: {
                "application/json": components["schemas"]["RequestRender"];
            };
        };
        responses: {
            /** @description The existing live render with the same signature. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Render"];
                };
            };
            /** @description The new render, state `pending`. */
            201: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Renderd-Read-Your-Writes": components["headers"]["ReadYourWrites"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Render"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            408: components["responses"]["RequestTimeout"];
            /** @description Conflict with the state of the asset or the cut: `error.code` is one of `asset_not_ready`, `asset_processing`, `asset_payment_required`, `asset_failed`, `modifier_not_ready`; `storage_quota_exceeded` when the account already stores as much as its storage quota allows. */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "asset_not_ready" | "asset_processing" | "asset_payment_required" | "asset_failed" | "modifier_not_ready" | "storage_quota_exceeded";
                        };
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["ValidationError"];
            /** @description `too_many_renders`: the account has as many renders pending or running as `RENDERD_ACCOUNT_MAX_QUEUED` allows (`RateLimit-Policy: "renders_queued";q=<limit>`); retry once one finishes, after `Retry-After` seconds. `rate_limited`: a rate limit is spent (see `RateLimit-Policy` for which). */
            429: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Retry-After": components["headers"]["RetryAfter"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "rate_limited" | "too_many_renders";
                        };
                    };
                };
            };
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getRender: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The render id (`rnd_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["RenderId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The render. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Cache-Control": components["headers"]["CacheControlNoStore"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Render"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    cancelRender: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The render id (`rnd_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["RenderId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Cancelled (or already cancelled). */
            204: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            /** @description Conflict with the state of the render: `error.code` is one of `render_not_cancellable`. */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @constant */
                            code?: "render_not_cancellable";
                        };
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listRenderEvents: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The render id (`rnd_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["RenderId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The render's events. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RenderEventList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listWebhookEndpoints: {
        parameters: {
            query?: {
                /** @description Page size, 1 to 100 (more is 422). */
                limit?: components["parameters"]["Limit"];
                /** @description The `next_cursor` of the previous page; opaque. One this list did not hand out is 400. */
                cursor?: components["parameters"]["Cursor"];
            };
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of endpoints. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookEndpointList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    createWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        /** @description Where to deliver and which events. */
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateWebhookEndpoint"];
            };
        };
        responses: {
            /** @description The endpoint, with its signing secret. */
            201: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Cache-Control": components["headers"]["CacheControlNoStore"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookEndpoint"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            408: components["responses"]["RequestTimeout"];
            /** @description The account has an endpoint with this URL already (`duplicate_webhook_url`), or as many endpoints as it may have (`webhook_endpoint_limit`). */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "duplicate_webhook_url" | "webhook_endpoint_limit";
                        };
                    };
                };
            };
            413: components["responses"]["PayloadTooLarge"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The webhook endpoint id (`whe_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["WebhookEndpointId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookEndpoint"] & unknown;
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    deleteWebhookEndpoint: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The webhook endpoint id (`whe_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["WebhookEndpointId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted. */
            204: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    rotateWebhookSecret: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The webhook endpoint id (`whe_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["WebhookEndpointId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint with its new secret. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Cache-Control": components["headers"]["CacheControlNoStore"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookEndpoint"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    listWebhookDeliveries: {
        parameters: {
            query?: {
                /** @description Only deliveries in this status. */
                status?: "pending" | "delivered" | "failed";
                /** @description Page size, 1 to 100 (more is 422). */
                limit?: components["parameters"]["Limit"];
                /** @description The `next_cursor` of the previous page; opaque. One this list did not hand out is 400. */
                cursor?: components["parameters"]["Cursor"];
            };
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The webhook endpoint id (`whe_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["WebhookEndpointId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of deliveries. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookDeliveryList"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            422: components["responses"]["ValidationError"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    redeliverWebhookDelivery: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The webhook delivery id (`whd_…`). An id of another type, or one no id of the service looks like (invalid UTF-8, NUL, …), is answered 404 like an unknown one. */
                id: components["parameters"]["WebhookDeliveryId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A new attempt is due now, with the same `webhook-id`. */
            202: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RedeliverAccepted"];
                };
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            /** @description The delivery cannot be redelivered now: `delivery_pending`, `redelivery_limit` or `webhook_endpoint_disabled`. */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "delivery_pending" | "redelivery_limit" | "webhook_endpoint_disabled";
                        };
                    };
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    download: {
        parameters: {
            query?: never;
            header?: {
                /** @description A byte range (RFC 9110), e.g. `bytes=0-1023`. */
                Range?: components["parameters"]["Range"];
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The signed, expiring download token. It names the operator's key that signed it, so a key rotation leaves tokens already handed out working until they expire. The service never logs it. */
                token: components["parameters"]["DownloadToken"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The whole deliverable, with its media type (e.g. `video/mp4`, `audio/mpeg`). */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Accept-Ranges"?: "bytes";
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Cache-Control": components["headers"]["CacheControlDownload"];
                    [name: string]: unknown;
                };
                content: {
                    "*/*": string;
                };
            };
            /** @description The requested byte range. */
            206: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "Content-Range": string;
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Cache-Control": components["headers"]["CacheControlDownload"];
                    [name: string]: unknown;
                };
                content: {
                    "*/*": string;
                };
            };
            /** @description On an S3 store, to a `GET`: follow `Location`, a presigned URL valid until the token expires or for 15 minutes, whichever comes first. The response has no body. */
            302: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    /** @description The object store's presigned URL of the deliverable, a credential of its own until it expires. */
                    Location: string;
                    /** @description `no-store`: the redirect is not to be kept. */
                    "Cache-Control"?: "no-store";
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            410: components["responses"]["DownloadExpired"];
            /** @description The `Range` cannot be satisfied. */
            416: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
        };
    };
    createUpload: {
        parameters: {
            query?: never;
            header: {
                /** @description The tus protocol version the client speaks: `1.0.0`; another answers `412`. */
                "Tus-Resumable": "1.0.0";
                /** @description The upload's size in bytes. */
                "Upload-Length": number;
                /** @description Comma-separated `key base64(value)` pairs: `asset_id` and `part` (`source` or `audio`) are required, `filename` is kept. */
                "Upload-Metadata": string;
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        /** @description Optionally the first bytes (tus creation-with-upload, `Content-Type: application/offset+octet-stream`). */
        requestBody?: {
            content: {
                "application/offset+octet-stream": string;
            };
        };
        responses: {
            /** @description Created: `Location` is the upload's URL. */
            201: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    /** @description The tus protocol version the server speaks: `1.0.0`. */
                    "Tus-Resumable"?: "1.0.0";
                    /** @description Until when the upload may be resumed (an HTTP date): its creation plus `RENDERD_UPLOAD_TTL` (24 h by default). An unfinished upload is removed after. */
                    "Upload-Expires"?: string;
                    /** @description The upload's URL, for HEAD, PATCH and DELETE. */
                    Location?: string;
                    /** @description The bytes stored (creation-with-upload). */
                    "Upload-Offset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description renderd's `invalid_request` (`Error`), or tus's refusal of a malformed `Upload-Length` (`text/plain`). */
            400: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "invalid_request";
                        };
                    };
                    "text/plain": string;
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            /** @description The part cannot take an upload now: `error.code` as `PUT /v1/assets/{id}/source` answers. */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "asset_failed" | "source_already_uploaded" | "audio_already_uploaded" | "concurrent_update" | "upload_in_progress";
                        };
                    };
                };
            };
            /** @description tus: `Tus-Resumable` is missing or not `1.0.0`. */
            412: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description `payload_too_large` (over `RENDERD_MAX_UPLOAD_BYTES`) or `storage_quota_exceeded` (`Error`); or tus: a creation-with-upload body longer than `Upload-Length` (`text/plain`). */
            413: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "payload_too_large" | "storage_quota_exceeded";
                        };
                    };
                    "text/plain": string;
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    describeUploads: {
        parameters: {
            query?: never;
            header?: {
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description What the server offers. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    /** @description The tus protocol version the server speaks: `1.0.0`. */
                    "Tus-Resumable"?: "1.0.0";
                    /** @description `1.0.0`. */
                    "Tus-Version"?: string;
                    /** @description `creation,creation-with-upload,termination,expiration`. */
                    "Tus-Extension"?: string;
                    /** @description The upload limit, `RENDERD_MAX_UPLOAD_BYTES`. */
                    "Tus-Max-Size"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description What the server offers (as 200). */
            204: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    terminateUpload: {
        parameters: {
            query?: never;
            header: {
                /** @description The tus protocol version the client speaks: `1.0.0`; another answers `412`. */
                "Tus-Resumable": "1.0.0";
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The upload's id, the last segment of the `Location` its creation answered. Opaque: its form depends on the blob store. */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed. */
            204: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    /** @description The tus protocol version the server speaks: `1.0.0`. */
                    "Tus-Resumable"?: "1.0.0";
                    [name: string]: unknown;
                };
                content?: never;
            };
            400: components["responses"]["InvalidRequest"];
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            /** @description tus: `Tus-Resumable` is missing or not `1.0.0`. */
            412: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    getUploadOffset: {
        parameters: {
            query?: never;
            header: {
                /** @description The tus protocol version the client speaks: `1.0.0`; another answers `412`. */
                "Tus-Resumable": "1.0.0";
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The upload's id, the last segment of the `Location` its creation answered. Opaque: its form depends on the blob store. */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The upload's state. */
            200: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    /** @description The tus protocol version the server speaks: `1.0.0`. */
                    "Tus-Resumable"?: "1.0.0";
                    /** @description Until when the upload may be resumed (an HTTP date): its creation plus `RENDERD_UPLOAD_TTL` (24 h by default). An unfinished upload is removed after. */
                    "Upload-Expires"?: string;
                    /** @description The bytes the server holds. */
                    "Upload-Offset"?: number;
                    /** @description The upload's size. */
                    "Upload-Length"?: number;
                    /** @description The upload's metadata, as created (with renderd's own keys). */
                    "Upload-Metadata"?: string;
                    /** @description `no-store`. */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `invalid_request` (no body: a HEAD). */
            400: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `unauthorized` (no body: a HEAD). */
            401: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    /** @description The Bearer challenge. */
                    "WWW-Authenticate"?: string;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `not_found` (no body: a HEAD). */
            404: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description tus: `Tus-Resumable` is missing or not `1.0.0`. */
            412: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `rate_limited` (no body: a HEAD). */
            429: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    "Retry-After": components["headers"]["RetryAfter"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `internal` (no body: a HEAD). */
            500: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `service_unavailable` (no body: a HEAD). */
            503: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    /** @description Seconds until a retry may succeed. */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    resumeUpload: {
        parameters: {
            query?: never;
            header: {
                /** @description The tus protocol version the client speaks: `1.0.0`; another answers `412`. */
                "Tus-Resumable": "1.0.0";
                /** @description The offset the body starts at: the server's (`HEAD`). */
                "Upload-Offset": number;
                /** @description Correlation id: 1–128 printable ASCII characters, else the server makes one (`req_…`). Echoed on every response and carried into events as their correlation id. */
                "X-Request-Id"?: components["parameters"]["RequestId"];
            };
            path: {
                /** @description The upload's id, the last segment of the `Location` its creation answered. Opaque: its form depends on the blob store. */
                id: string;
            };
            cookie?: never;
        };
        /** @description The next bytes. */
        requestBody: {
            content: {
                "application/offset+octet-stream": string;
            };
        };
        responses: {
            /** @description Stored; on the last byte, also recorded (the asset is probed next). */
            204: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    "RateLimit-Policy": components["headers"]["RateLimitPolicy"];
                    RateLimit: components["headers"]["RateLimit"];
                    /** @description The tus protocol version the server speaks: `1.0.0`. */
                    "Tus-Resumable"?: "1.0.0";
                    /** @description Until when the upload may be resumed (an HTTP date): its creation plus `RENDERD_UPLOAD_TTL` (24 h by default). An unfinished upload is removed after. */
                    "Upload-Expires"?: string;
                    /** @description The bytes the server now holds. */
                    "Upload-Offset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description renderd's `invalid_request` (`Error`), or tus's refusal of a malformed `Upload-Offset` (`text/plain`). */
            400: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "invalid_request";
                        };
                    };
                    "text/plain": string;
                };
            };
            401: components["responses"]["Unauthorized"];
            404: components["responses"]["NotFound"];
            408: components["responses"]["UploadTooSlow"];
            /** @description tus's offset mismatch (`text/plain`), or renderd's refusal of the finished part (`Error`). */
            409: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                    "application/json": components["schemas"]["Error"] & {
                        error?: {
                            /** @enum {unknown} */
                            code?: "asset_failed" | "source_already_uploaded" | "audio_already_uploaded" | "concurrent_update" | "upload_in_progress";
                        };
                    };
                };
            };
            /** @description tus: `Tus-Resumable` is missing or not `1.0.0`. */
            412: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description tus: more bytes than `Upload-Length`. */
            413: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description tus: the `Content-Type` is not `application/offset+octet-stream`. */
            415: {
                headers: {
                    "X-Request-Id": components["headers"]["RequestId"];
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            429: components["responses"]["RateLimited"];
            500: components["responses"]["Internal"];
            503: components["responses"]["Unavailable"];
        };
    };
    webhookRenderCompleted: {
        parameters: {
            query?: never;
            header: {
                /** @description The event id (the body's `id`): the same on every attempt and redelivery. Deduplicate on it. */
                "webhook-id": string;
                /** @description When this attempt was sent, in Unix seconds. Refuse a message whose timestamp is more than 5 minutes from your clock (replays). */
                "webhook-timestamp": string;
                /** @description Space-separated `v1,<base64 HMAC-SHA256>` signatures of `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the endpoint secret's base64 part (after `whsec_`); during the 24 hours after a rotation there are two, one per secret. Accept the message when one matches (compare in constant time). See docs/webhooks.md; the Standard Webhooks libraries do it all. */
                "webhook-signature": string;
                "user-agent": "renderd-webhooks/1";
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["WebhookEvent"] & {
                    /** @constant */
                    type?: "render.completed";
                    data?: {
                        render?: {
                            /** @constant */
                            state?: "completed";
                        };
                    };
                };
            };
        };
        responses: {
            /** @description Gone: the endpoint is disabled and gets nothing more. */
            410: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Received: the delivery is `delivered`. Answer fast (within 10 s, `RENDERD_WEBHOOK_TIMEOUT`) and work afterwards; the body is ignored. */
            "2XX": {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Any other answer, or none, is a failed attempt, retried on the schedule (5 s, 30 s, 30 s, 30 s, 2 min, 10 min, 30 min, 2 h, 5 h, 10 h, 10 h by default: 12 attempts over about 28 hours, with jitter; `Retry-After` is honoured as a floor). */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    webhookRenderFailed: {
        parameters: {
            query?: never;
            header: {
                /** @description The event id (the body's `id`): the same on every attempt and redelivery. Deduplicate on it. */
                "webhook-id": string;
                /** @description When this attempt was sent, in Unix seconds. Refuse a message whose timestamp is more than 5 minutes from your clock (replays). */
                "webhook-timestamp": string;
                /** @description Space-separated `v1,<base64 HMAC-SHA256>` signatures of `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the endpoint secret's base64 part (after `whsec_`); during the 24 hours after a rotation there are two, one per secret. Accept the message when one matches (compare in constant time). See docs/webhooks.md; the Standard Webhooks libraries do it all. */
                "webhook-signature": string;
                "user-agent": "renderd-webhooks/1";
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["WebhookEvent"] & {
                    /** @constant */
                    type?: "render.failed";
                    data?: {
                        render?: {
                            /** @constant */
                            state?: "failed";
                        };
                    };
                };
            };
        };
        responses: {
            /** @description Gone: the endpoint is disabled and gets nothing more. */
            410: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Received: the delivery is `delivered`. Answer fast (within 10 s, `RENDERD_WEBHOOK_TIMEOUT`) and work afterwards; the body is ignored. */
            "2XX": {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Any other answer, or none, is a failed attempt, retried on the schedule (5 s, 30 s, 30 s, 30 s, 2 min, 10 min, 30 min, 2 h, 5 h, 10 h, 10 h by default: 12 attempts over about 28 hours, with jitter; `Retry-After` is honoured as a floor). */
            default: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
}
