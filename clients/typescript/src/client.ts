import { createWriteStream } from "node:fs";
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import createClient, { type Client } from "openapi-fetch";
import { RenderdError, parseRetryAfter } from "./errors.js";
import type { components, paths } from "./schema.js";
import { uploadResumable, type UploadInput, type UploadOptions } from "./upload.js";

export type Asset = components["schemas"]["Asset"];
export type Cut = components["schemas"]["Cut"];
export type Render = components["schemas"]["Render"];

/**
 * Bounds the retries of 429 and 503 answers, which only requests safe to
 * repeat get (see `repeatable`).
 */
export interface RetryPolicy {
  /** Tries in all, the first included: 1 never retries. Default 4. */
  maxAttempts?: number;
  /**
   * The first wait when the answer names none (no Retry-After); it doubles
   * per attempt, with jitter, up to maxBackoffMs. Default 500 ms.
   */
  minBackoffMs?: number;
  /** Caps the computed backoff (default 30 s); a Retry-After is honoured even above it. */
  maxBackoffMs?: number;
}

/** Paces waitAsset and waitRender. */
export interface PollPolicy {
  /** The shortest wait between two GETs (default 500 ms). */
  minIntervalMs?: number;
  /** The longest (default 10 s). */
  maxIntervalMs?: number;
}

export interface RenderdClientOptions {
  /** The API's base URL, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** An API key (`renderd accounts create` prints an account's first). */
  apiKey: string;
  retry?: RetryPolicy;
  poll?: PollPolicy;
  /** The fetch to send requests with (default: globalThis.fetch). */
  fetch?: (input: Request) => Promise<Response>;
}

export interface WaitOptions<T> {
  signal?: AbortSignal;
  /** Sees each answer of the poll (a render's progress and eta_seconds). */
  onPoll?: (value: T) => void;
}

/**
 * Whether a request is safe to repeat after a 429 or 503, as the Go SDK
 * decides (client/doc.go, "Retries"): every GET (and HEAD and OPTIONS);
 * POST /v1/renders, which the API makes idempotent by its content signature
 * (docs/renders.md: a render with the same asset, cut and normalised output
 * answers 200 with the live render instead of making another); and DELETE
 * /v1/assets/{id} and /v1/renders/{id}, whose repeat the API answers as the
 * first (202 deleted already, 204 cancelled already). Every other write
 * comes back at once as a RenderdError whose retryAfter says when: a 503
 * may follow a write that committed, so look before repeating it. path is
 * relative to the base URL.
 */
export function repeatable(method: string, path: string): boolean {
  switch (method.toUpperCase()) {
    case "GET":
    case "HEAD":
    case "OPTIONS":
      return true;
    case "POST":
      return path === "/v1/renders";
    case "DELETE":
      return /^\/v1\/(assets|renders)\/[^/]+$/.test(path);
    default:
      return false;
  }
}

/**
 * The wait in ms before attempt n+1 (n ≥ 1): the server's Retry-After when
 * it gives one, else an exponential backoff with jitter on its upper half.
 */
export function backoff(p: Required<RetryPolicy>, n: number, retryAfter?: number): number {
  if (retryAfter !== undefined && retryAfter > 0) return retryAfter * 1000;
  const d = Math.min(p.minBackoffMs * 2 ** Math.min(n - 1, 20), p.maxBackoffMs);
  return d / 2 + Math.random() * (d / 2);
}

/**
 * The wait in ms after a poll that waited `last`: half the server's
 * estimate of the time left when it gives one (a running render's
 * eta_seconds), so a poll lands near the end without overshooting it by
 * much; else 1.5 times the last wait; both within the policy's bounds.
 */
export function nextPoll(p: Required<PollPolicy>, last: number, etaSeconds?: number | null): number {
  const d = etaSeconds != null ? (etaSeconds * 1000) / 2 : last * 1.5;
  return Math.min(Math.max(d, p.minIntervalMs), p.maxIntervalMs);
}

/** fetch, retrying 429 and 503 answers of the requests safe to repeat. */
function retrying(send: (input: Request) => Promise<Response>, p: Required<RetryPolicy>, basePath: string) {
  return async (input: Request): Promise<Response> => {
    let path = new URL(input.url).pathname;
    if (basePath !== "" && path.startsWith(basePath + "/")) path = path.slice(basePath.length);
    if (p.maxAttempts <= 1 || !repeatable(input.method, path)) return send(input);
    // The body is read once and sent again with each try.
    const body = input.body ? await input.arrayBuffer() : undefined;
    for (let attempt = 1; ; attempt++) {
      const res = await send(new Request(input, { body }));
      if ((res.status !== 429 && res.status !== 503) || attempt >= p.maxAttempts) return res;
      await res.body?.cancel();
      await sleep(backoff(p, attempt, parseRetryAfter(res.headers.get("Retry-After") ?? "")), undefined, { signal: input.signal });
    }
  };
}

/**
 * The answer's data, or its RenderdError when it is not a 2xx: wraps an
 * openapi-fetch call, `await ok(api.GET("/v1/renders/{id}", …))`.
 */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw RenderdError.from(response.status, response.headers, error);
  return data as T;
}

/** A render's state after which it changes no more. */
export function terminal(r: Pick<Render, "state">): boolean {
  return r.state === "completed" || r.state === "failed" || r.state === "cancelled";
}

export interface RenderdClient {
  /**
   * The API's operations, typed from openapi.json (openapi-fetch), with the
   * API key and the retries: `api.POST("/v1/assets", { body })` answers
   * `{ data, error, response }`; wrap it in `ok` for the data or a thrown
   * RenderdError.
   */
  api: Client<paths>;
  ok: typeof ok;
  /** The API's base URL, without a trailing slash. */
  baseUrl: string;
  /**
   * Uploads an asset's part (source or audio) resumably through
   * /v1/uploads (tus 1.0, with tus-js-client): a file path, a Buffer or
   * bytes. Resolves with the upload's URL once the server holds every
   * byte; the part is then recorded and probed (waitAsset).
   */
  uploadResumable(assetId: string, part: "source" | "audio", input: UploadInput, opts?: UploadOptions): Promise<string>;
  /**
   * Polls GET /v1/assets/{id} until its upload has been probed: the asset
   * is ready, failed or payment_required, or an uploaded part was refused
   * (refusal).
   */
  waitAsset(id: string, opts?: WaitOptions<Asset>): Promise<Asset>;
  /**
   * Polls GET /v1/cuts/{id} until the cut is no longer processing:
   * completed (its plan and duration set) or failed. A render of a cut
   * still processing is refused (409 modifier_not_ready).
   */
  waitCut(id: string, opts?: WaitOptions<Cut>): Promise<Cut>;
  /**
   * Polls GET /v1/renders/{id} with the server's ETA until the render is
   * completed, failed or cancelled, and returns it in that state (a failed
   * render is no error: its failure says why).
   */
  waitRender(id: string, opts?: WaitOptions<Render>): Promise<Render>;
  /**
   * Downloads a completed render's output to a file path or a Writable
   * (ended when done), following the download URL (on an S3 store the
   * API's 302 to the object store), and resolves with the bytes written,
   * checked against the render's size_bytes. A URL that expired in between
   * (410 download_expired) is fetched again once.
   */
  download(renderId: string, to: string | Writable, opts?: { signal?: AbortSignal }): Promise<number>;
}

/** A client of the renderd API at baseUrl with one API key. */
export function createRenderdClient(opts: RenderdClientOptions): RenderdClient {
  let base: URL;
  try {
    base = new URL(opts.baseUrl);
  } catch {
    throw new TypeError(`renderd client: base URL ${JSON.stringify(opts.baseUrl)}: want http(s)://host[:port]`);
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(`renderd client: base URL ${JSON.stringify(opts.baseUrl)}: want http(s)://host[:port]`);
  }
  if (typeof opts.apiKey !== "string" || opts.apiKey === "") {
    throw new TypeError("renderd client: an API key is required");
  }
  const baseUrl = base.href.replace(/\/+$/, "");
  const retry: Required<RetryPolicy> = { maxAttempts: 4, minBackoffMs: 500, maxBackoffMs: 30_000, ...opts.retry };
  const poll: Required<PollPolicy> = { minIntervalMs: 500, maxIntervalMs: 10_000, ...opts.poll };
  const send = retrying(opts.fetch ?? ((input) => fetch(input)), retry, base.pathname.replace(/\/+$/, ""));
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${opts.apiKey}` }, fetch: send });

  // Polls get until done, waiting per nextPoll (eta: the server's
  // estimate of the seconds left, when it gives one).
  async function until<T>(
    get: () => Promise<T>,
    done: (v: T) => boolean,
    eta: (v: T) => number | null | undefined,
    signal?: AbortSignal,
    onPoll?: (v: T) => void,
  ): Promise<T> {
    for (let wait = 0; ; ) {
      const v = await get();
      onPoll?.(v);
      if (done(v)) return v;
      wait = nextPoll(poll, wait, eta(v));
      await sleep(wait, undefined, { signal });
    }
  }

  const getRender = (id: string, signal?: AbortSignal) => ok(api.GET("/v1/renders/{id}", { params: { path: { id } }, signal }));

  return {
    api,
    ok,
    baseUrl,
    uploadResumable: (assetId, part, input, uopts) =>
      uploadResumable({ baseUrl, apiKey: opts.apiKey }, assetId, part, input, uopts),

    waitAsset: (id, { signal, onPoll } = {}) =>
      until(
        () => ok(api.GET("/v1/assets/{id}", { params: { path: { id } }, signal })),
        (a) => a.state === "ready" || a.state === "failed" || a.state === "payment_required" || a.refusal != null,
        () => null,
        signal,
        onPoll,
      ),

    waitCut: (id, { signal, onPoll } = {}) =>
      until(
        () => ok(api.GET("/v1/cuts/{id}", { params: { path: { id } }, signal })),
        (c) => c.state !== "processing",
        () => null,
        signal,
        onPoll,
      ),

    waitRender: (id, { signal, onPoll } = {}) =>
      until(
        () => getRender(id, signal),
        terminal,
        (r) => (r.state === "running" ? r.eta_seconds : null),
        signal,
        onPoll,
      ),

    async download(renderId, to, { signal } = {}) {
      for (let tries = 0; ; tries++) {
        const r = await getRender(renderId, signal);
        if (r.state !== "completed" || r.output_expired || !r.download_url) {
          throw new Error(`renderd client: render ${renderId} has no output to download (${r.state}, output expired: ${r.output_expired})`);
        }
        // No Authorization: the token is the credential, and the redirect
        // leaves for the object store.
        const res = await send(new Request(new URL(r.download_url, baseUrl + "/"), { signal }));
        if (!res.ok || !res.body) {
          const err = RenderdError.from(res.status, res.headers, await res.text());
          if (tries === 0 && err.code === "download_expired") continue;
          throw err;
        }
        let n = 0;
        await pipeline(
          Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const c of chunks) {
              n += c.byteLength;
              yield c;
            }
          },
          typeof to === "string" ? createWriteStream(to) : to,
        );
        if (r.size_bytes != null && n !== r.size_bytes) {
          throw new Error(`renderd client: downloaded ${n} bytes of render ${renderId}, which has ${r.size_bytes}`);
        }
        return n;
      }
    },
  };
}
