// The client's retries, typed errors and argument checks against a local
// HTTP server that answers what each test scripts (429s and 503s, which a
// real renderd gives only under load or in an outage), so that the rule
// of client/doc.go, "Retries", is held exactly: what is repeated, after
// how long, and what comes back at once.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough, Writable } from "node:stream";
import { after, before, beforeEach, describe, test } from "node:test";
import {
  backoff,
  createRenderdClient,
  mayResume,
  nextPoll,
  parseRetryAfter,
  RenderdError,
  repeatable,
} from "../src/index.js";

type Answer = { status: number; headers?: Record<string, string>; body?: unknown };
type Seen = { method: string; url: string; body: string; auth?: string };

let server: Server;
let base = "";
let script: Answer[] = [];
let seen: Seen[] = [];
let answered: (() => void) | undefined; // told after each answer

async function read(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts).toString();
}

before(async () => {
  server = createServer(async (req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", body: await read(req), auth: req.headers.authorization });
    const a = script.shift() ?? { status: 500, body: { error: { code: "internal", message: "no answer scripted" } } };
    res.writeHead(a.status, { "Content-Type": "application/json", "X-Request-Id": `req-${seen.length}`, ...a.headers });
    res.end(a.body === undefined ? "" : typeof a.body === "string" ? a.body : JSON.stringify(a.body));
    answered?.();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  script = [];
  seen = [];
  answered = undefined;
});

const unavailable: Answer = { status: 503, body: { error: { code: "service_unavailable", message: "the database is unreachable" } } };
const render = { id: "rnd_1", object: "render", state: "pending" };

describe("retries of 429 and 503", () => {
  test("a GET is repeated after the answer's Retry-After, with the key", async () => {
    script = [{ ...unavailable, headers: { "Retry-After": "1" } }, { status: 200, body: render }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "rdk_test" });
    const start = Date.now();
    const r = await rd.ok(rd.api.GET("/v1/renders/{id}", { params: { path: { id: "rnd_1" } } }));
    assert.equal(r.id, "rnd_1");
    assert.equal(seen.length, 2);
    assert.ok(Date.now() - start >= 950, `retried after ${Date.now() - start} ms, Retry-After said 1 s`);
    assert.deepEqual(
      seen.map((s) => s.auth),
      ["Bearer rdk_test", "Bearer rdk_test"],
    );
  });

  test("POST /v1/renders is repeated with its body (idempotent by its content signature)", async () => {
    script = [{ status: 429, headers: { "Retry-After": "0" }, body: { error: { code: "rate_limited", message: "slow down" } } }, { status: 201, body: render }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k", retry: { minBackoffMs: 10 } });
    const body = { asset_id: "ast_1", output: { format: "mp4" as const } };
    const r = await rd.api.POST("/v1/renders", { body });
    assert.equal(r.response.status, 201);
    assert.equal(seen.length, 2);
    assert.deepEqual(
      seen.map((s) => JSON.parse(s.body)),
      [body, body],
    );
  });

  test("another write is not repeated: its 503 comes back at once with retryAfter", async () => {
    script = [{ ...unavailable, headers: { "Retry-After": "7" } }, { status: 201, body: {} }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    const start = Date.now();
    await assert.rejects(rd.ok(rd.api.POST("/v1/assets", { body: { kind: "video", name: "x" } })), (err) => {
      assert.ok(err instanceof RenderdError);
      assert.equal(err.status, 503);
      assert.equal(err.code, "service_unavailable");
      assert.equal(err.retryAfter, 7);
      assert.equal(err.requestId, "req-1");
      assert.ok(err.temporary);
      return true;
    });
    assert.equal(seen.length, 1, "a create is never sent twice");
    assert.ok(Date.now() - start < 1000);
  });

  test("a GET gives up after maxAttempts with the last answer's error", async () => {
    script = [unavailable, unavailable, unavailable, { status: 200, body: render }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k", retry: { maxAttempts: 3, minBackoffMs: 5, maxBackoffMs: 20 } });
    await assert.rejects(rd.ok(rd.api.GET("/v1/renders/{id}", { params: { path: { id: "rnd_1" } } })), (err) => {
      assert.ok(err instanceof RenderdError && err.code === "service_unavailable" && err.requestId === "req-3", String(err));
      assert.equal(err.retryAfter, undefined);
      return true;
    });
    assert.equal(seen.length, 3);
  });

  test("an abort during the wait ends the retries", async () => {
    script = [{ ...unavailable, headers: { "Retry-After": "30" } }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    const ac = new AbortController();
    answered = () => setTimeout(() => ac.abort(), 50);
    await assert.rejects(rd.api.GET("/v1/renders/{id}", { params: { path: { id: "rnd_1" } }, signal: ac.signal }), { name: "AbortError" });
    assert.equal(seen.length, 1);
  });

  test("the rule: GETs, POST /v1/renders, the deletes of an asset and a render; no other write", () => {
    for (const [method, path, want] of [
      ["GET", "/v1/assets", true],
      ["HEAD", "/v1/uploads/abc", true],
      ["OPTIONS", "/v1/uploads", true],
      ["POST", "/v1/renders", true],
      ["DELETE", "/v1/assets/ast_1", true],
      ["DELETE", "/v1/renders/rnd_1", true],
      ["POST", "/v1/assets", false],
      ["POST", "/v1/assets/ast_1/cuts", false],
      ["PUT", "/v1/assets/ast_1/source", false],
      ["PATCH", "/v1/uploads/abc", false],
      ["DELETE", "/v1/webhook-endpoints/whe_1", false],
      ["DELETE", "/v1/api-keys/key_1", false],
      ["POST", "/v1/webhook-endpoints/whe_1/rotate-secret", false],
    ] as const) {
      assert.equal(repeatable(method, path), want, `${method} ${path}`);
    }
  });

  test("backoff: Retry-After first, else exponential within its bounds", () => {
    const p = { maxAttempts: 4, minBackoffMs: 100, maxBackoffMs: 1000 };
    assert.equal(backoff(p, 1, 3), 3000);
    for (let n = 1; n <= 8; n++) {
      const d = Math.min(100 * 2 ** (n - 1), 1000);
      const got = backoff(p, n);
      assert.ok(got >= d / 2 && got <= d, `attempt ${n}: ${got} ms, want ${d / 2}..${d}`);
    }
  });
});

describe("waits and downloads", () => {
  const completed = (token: string, size: number) => ({
    status: 200,
    body: { ...render, state: "completed", output_expired: false, size_bytes: size, download_url: `/v1/downloads/${token}` },
  });
  const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from("ftypisom"), Buffer.alloc(12)]);

  test("a download URL that expired in between is fetched again once, without the key", async () => {
    script = [
      completed("tok1", mp4.length),
      { status: 410, body: { error: { code: "download_expired", message: "expired" } } },
      completed("tok2", mp4.length),
      { status: 200, headers: { "Content-Type": "video/mp4" }, body: mp4.toString("latin1") },
    ];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(c: Buffer, _enc, done) {
        chunks.push(c);
        done();
      },
    });
    assert.equal(await rd.download("rnd_1", out), mp4.length);
    assert.deepEqual(Buffer.concat(chunks), mp4);
    assert.deepEqual(
      seen.map((s) => [s.url, s.auth]),
      [
        ["/v1/renders/rnd_1", "Bearer k"],
        ["/v1/downloads/tok1", undefined],
        ["/v1/renders/rnd_1", "Bearer k"],
        ["/v1/downloads/tok2", undefined],
      ],
    );
  });

  test("a download shorter than the render's size_bytes is an error; a second 410 is the error", async () => {
    script = [completed("tok1", mp4.length + 1), { status: 200, body: mp4.toString("latin1") }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    await assert.rejects(rd.download("rnd_1", new PassThrough().resume()), /downloaded 24 bytes of render rnd_1, which has 25/);
    const expired = { status: 410, body: { error: { code: "download_expired", message: "expired" } } };
    script = [completed("tok1", 1), expired, completed("tok2", 1), expired];
    await assert.rejects(rd.download("rnd_1", new PassThrough().resume()), (err) => err instanceof RenderdError && err.code === "download_expired");
  });

  test("a render that is not completed has nothing to download", async () => {
    script = [{ status: 200, body: { ...render, state: "cancelled", output_expired: false } }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    await assert.rejects(rd.download("rnd_1", new PassThrough()), /render rnd_1 has no output to download \(cancelled/);
    assert.equal(seen.length, 1);
  });

  test("a wait ends with its signal", async () => {
    script = Array.from({ length: 20 }, () => ({ status: 200, body: { ...render, state: "running", eta_seconds: 60 } }));
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    const polled: number[] = [];
    const ac = new AbortController();
    await assert.rejects(
      rd.waitRender("rnd_1", {
        signal: ac.signal,
        onPoll: (r) => {
          polled.push(r.eta_seconds ?? -1);
          setImmediate(() => ac.abort()); // once the wait has begun
        },
      }),
      { name: "AbortError" },
    );
    assert.deepEqual(polled, [60], "one poll, then a wait of half the ETA cut short");
  });
});

describe("typed errors", () => {
  test("Retry-After as an HTTP date, garbled, past, capped", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now), 30);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now), undefined);
    assert.equal(parseRetryAfter("0", now), undefined);
    assert.equal(parseRetryAfter("999999", now), 3600);
  });

  test("a body that is not the API's error shape is quoted, without a code", async () => {
    script = [{ status: 502, headers: { "Content-Type": "text/html" }, body: "<html>bad gateway</html>" }];
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    await assert.rejects(rd.ok(rd.api.GET("/v1/credits")), (err) => {
      assert.ok(err instanceof RenderdError);
      assert.equal(err.status, 502);
      assert.equal(err.code, "");
      assert.match(err.message, /bad gateway/);
      return true;
    });
  });

  test("a 422 names its field", () => {
    const e = RenderdError.from(422, new Headers({ "X-Request-Id": "r1" }), '{"error":{"code":"validation_error","message":"too high","field":"output.resolution"}}');
    assert.deepEqual([e.status, e.code, e.field, e.requestId, e.temporary], [422, "validation_error", "output.resolution", "r1", false]);
    assert.equal(e.message, "renderd: 422 validation_error (field output.resolution): too high");
  });

  test("an upload goes on after what may pass, not after a refusal for good", () => {
    const err = (status: number, code = "") => new RenderdError({ status, code, message: "" });
    assert.equal(mayResume(undefined), true); // a dropped connection
    assert.equal(mayResume(err(503, "service_unavailable")), true);
    assert.equal(mayResume(err(429, "rate_limited")), true);
    assert.equal(mayResume(err(409)), true); // tus's offset mismatch
    assert.equal(mayResume(err(409, "upload_in_progress")), false);
    assert.equal(mayResume(err(404, "not_found")), false);
    assert.equal(mayResume(err(413, "payload_too_large")), false);
  });

  test("the poll waits half the ETA, else 1.5 times longer, within bounds", () => {
    const p = { minIntervalMs: 500, maxIntervalMs: 10_000 };
    assert.equal(nextPoll(p, 0), 500);
    assert.equal(nextPoll(p, 1000), 1500);
    assert.equal(nextPoll(p, 1000, 8), 4000);
    assert.equal(nextPoll(p, 1000, 0.1), 500);
    assert.equal(nextPoll(p, 9000), 10_000);
  });

  test("bad arguments are clear errors", async () => {
    assert.throws(() => createRenderdClient({ baseUrl: "localhost:8080", apiKey: "k" }), /base URL/);
    assert.throws(() => createRenderdClient({ baseUrl: "not a url", apiKey: "k" }), /base URL/);
    assert.throws(() => createRenderdClient({ baseUrl: base, apiKey: "" }), /API key/);
    const rd = createRenderdClient({ baseUrl: base, apiKey: "k" });
    await assert.rejects(rd.uploadResumable("ast_1", "source", 42 as unknown as Buffer), /file path, a Buffer/);
    await assert.rejects(rd.uploadResumable("ast_1", "source", "/nonexistent/clip.mp4"), { code: "ENOENT" });
    const stop = new Error("stopped before it began");
    await assert.rejects(rd.uploadResumable("ast_1", "source", Buffer.from("x"), { signal: AbortSignal.abort(stop) }), (err) => err === stop);
    assert.equal(seen.length, 0);
  });
});
