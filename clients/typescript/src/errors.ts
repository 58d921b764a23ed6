import type { components } from "./schema.js";

/** The API's error body (openapi.json's description, "Errors"; schema Error). */
export type ErrorBody = components["schemas"]["Error"];

/** Reads one response header (a fetch Headers, or tus-js-client's response). */
export interface HeaderSource {
  get(name: string): string | null | undefined;
}

/**
 * An answer outside 2xx: the API's `{"error": {"code", "message", "field"?}}`
 * with its status and headers. Match on `code`, which is stable; `message`
 * is for humans and may change.
 */
export class RenderdError extends Error {
  override readonly name = "RenderdError";
  /** The HTTP status. */
  readonly status: number;
  /**
   * error.code, e.g. "asset_not_ready"; "" when the body was not the API's
   * error shape (a proxy's page, tus's text/plain refusals), which
   * `message` then quotes.
   */
  readonly code: string;
  /** The offending request field or parameter, when the API named one (e.g. "output.format"). */
  readonly field?: string;
  /** The answer's X-Request-Id: quote it when reporting. */
  readonly requestId?: string;
  /** The answer's Retry-After in seconds (429 and 503), undefined if none. */
  readonly retryAfter?: number;

  constructor(init: { status: number; code: string; message: string; field?: string; requestId?: string; retryAfter?: number }) {
    const parts = [`renderd: ${init.status}`];
    if (init.code) parts.push(` ${init.code}`);
    if (init.field) parts.push(` (field ${init.field})`);
    if (init.message) parts.push(`: ${init.message}`);
    super(parts.join(""));
    this.status = init.status;
    this.code = init.code;
    this.field = init.field;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
  }

  /** Whether the same request may succeed later: 429 (a rate limit) or 503 (a dependency is unreachable). */
  get temporary(): boolean {
    return this.status === 429 || this.status === 503;
  }

  /**
   * The error of a non-2xx answer from its status, headers and body (the
   * body parsed as JSON when it is, else its text, as openapi-fetch hands
   * it over). It never throws: a body that is not the API's error shape is
   * kept, shortened, as the message.
   */
  static from(status: number, headers: HeaderSource, body: unknown): RenderdError {
    const requestId = headers.get("X-Request-Id") ?? undefined;
    const retryAfter = parseRetryAfter(headers.get("Retry-After") ?? "");
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        // text: quoted below
      }
    }
    const detail = (body as Partial<ErrorBody> | null)?.error;
    if (detail && typeof detail.code === "string" && detail.code !== "") {
      return new RenderdError({
        status,
        code: detail.code,
        message: typeof detail.message === "string" ? detail.message : "",
        field: typeof detail.field === "string" ? detail.field : undefined,
        requestId,
        retryAfter,
      });
    }
    let message = typeof body === "string" ? body.trim().slice(0, 200) : "";
    if (message === "" && body != null && typeof body === "object") message = JSON.stringify(body).slice(0, 200);
    return new RenderdError({ status, code: "", message: message || `HTTP ${status}`, requestId, retryAfter });
  }
}

/** Whether err is a RenderdError, with this code when one is given. */
export function isRenderdError(err: unknown, code?: string): err is RenderdError {
  return err instanceof RenderdError && (code === undefined || err.code === code);
}

/** A Retry-After is capped at an hour: a garbled header must not park a caller for days. */
const maxRetryAfter = 3600;

/**
 * A Retry-After value, delay-seconds or an HTTP date (RFC 9110 §10.2.3),
 * in seconds from now; undefined when absent, past or unreadable.
 */
export function parseRetryAfter(v: string, now = Date.now()): number | undefined {
  v = v.trim();
  if (v === "") return undefined;
  if (/^\d+$/.test(v)) {
    const s = Number(v);
    return s > 0 ? Math.min(s, maxRetryAfter) : undefined;
  }
  const at = Date.parse(v);
  if (Number.isNaN(at) || at <= now) return undefined;
  return Math.min((at - now) / 1000, maxRetryAfter);
}
