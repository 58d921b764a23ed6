// The client against a real renderd on the real stack: cmd/renderd's
// TestTypeScriptClient (run by make test) starts one on the stack's S3
// store and runs these tests with RENDERD_URL, RENDERD_API_KEY (an account
// with credits), RENDERD_OTHER_API_KEY (another account) and
// RENDERD_TEST_MEDIA (a 2 s 1080p landscape clip, adapters/ffmpeg/mediatest).
// Without them they are skipped, or fail when RENDERD_REQUIRE_STACK=1.
import assert from "node:assert/strict";
import { mkdtemp, open, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createRenderdClient, isRenderdError, RenderdError, type Asset, type Cut, type RenderdClient } from "../src/index.js";

const env = {
  url: process.env.RENDERD_URL ?? "",
  key: process.env.RENDERD_API_KEY ?? "",
  otherKey: process.env.RENDERD_OTHER_API_KEY ?? "",
  media: process.env.RENDERD_TEST_MEDIA ?? "",
};
const missing = Object.entries(env)
  .filter(([, v]) => v === "")
  .map(([k]) => k);

test("the stack's environment", { skip: missing.length > 0 && process.env.RENDERD_REQUIRE_STACK !== "1" && `no stack: ${missing.join(", ")} unset` }, () => {
  assert.deepEqual(missing, [], "RENDERD_REQUIRE_STACK=1 and the stack's environment is incomplete");
});

// A RenderdError with this status and code, and the request id every answer carries.
function apiError(status: number, code: string, check?: (e: RenderdError) => void) {
  return (err: unknown) => {
    assert.ok(err instanceof RenderdError, `want a RenderdError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    assert.match(err.requestId ?? "", /.+/, "X-Request-Id");
    check?.(err);
    return true;
  };
}

describe("against a real renderd", { skip: missing.length > 0 && "no stack" }, () => {
  let rd: RenderdClient;
  let dir = "";
  before(async () => {
    rd = createRenderdClient({ baseUrl: env.url, apiKey: env.key, poll: { minIntervalMs: 200, maxIntervalMs: 2000 } });
    dir = await mkdtemp(join(tmpdir(), "renderd-ts-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function newAsset(name: string): Promise<string> {
    const a = await rd.ok(rd.api.POST("/v1/assets", { body: { kind: "video", name } }));
    return a.id;
  }

  test("upload → cut → render → wait → download, with typed errors on the way", async () => {
    const created = await rd.ok(rd.api.POST("/v1/assets", { body: { kind: "video", name: "ts quickstart" } }));
    assert.ok(!("state" in created) || created.state === "uploading", JSON.stringify(created));

    // A render of an asset not probed yet: the API's typed refusal.
    await assert.rejects(
      rd.ok(rd.api.POST("/v1/renders", { body: { asset_id: created.id, output: { format: "mp4" } } })),
      apiError(409, "asset_not_ready"),
    );

    const size = (await stat(env.media)).size;
    const progress: Array<[number, number]> = [];
    const url = await rd.uploadResumable(created.id, "source", env.media, {
      chunkSize: 256 << 10, // several PATCHes
      onProgress: (sent, total) => progress.push([sent, total]),
    });
    assert.match(url, /\/v1\/uploads\/.+/);
    assert.ok(progress.length > 1, `progress told ${progress.length} times`);
    assert.deepEqual(progress.at(-1), [size, size], "progress reaches the total");
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0], "progress never goes back");

    const polled: string[] = [];
    const asset: Asset = await rd.waitAsset(created.id, { onPoll: (a) => polled.push(a.state) });
    assert.equal(asset.state, "ready", JSON.stringify(asset));
    assert.equal(asset.source?.height, 1080);
    assert.ok(polled.length >= 1);

    const requested = await rd.ok(
      rd.api.POST("/v1/assets/{id}/cuts", {
        params: { path: { id: asset.id } },
        body: { segments: [{ start: 0, end: 1 }, { start: 1.5, end: 2 }] },
      }),
    );
    const cut: Cut = await rd.waitCut(requested.id, { signal: AbortSignal.timeout(30_000) });
    assert.equal(cut.state, "completed", JSON.stringify(cut));
    assert.equal(cut.duration, 1.5);

    // 4K above a 1080p source: 422 validation_error on the field.
    await assert.rejects(
      rd.ok(rd.api.POST("/v1/renders", { body: { asset_id: asset.id, output: { format: "mp4", resolution: "4k" } } })),
      apiError(422, "validation_error", (e) => assert.match(e.field ?? "", /^output\./, e.message)),
    );

    const body = { asset_id: asset.id, cut_id: cut.id, output: { format: "mp4" as const, resolution: "720p" as const } };
    const first = await rd.api.POST("/v1/renders", { body });
    assert.equal(first.response.status, 201);
    const render = await rd.ok(Promise.resolve(first));
    assert.equal(render.cut_id, cut.id);
    // The same request again is the same render (its content signature), 200.
    const again = await rd.api.POST("/v1/renders", { body });
    assert.equal(again.response.status, 200);
    assert.equal(again.data?.id, render.id);

    let polls = 0;
    const done = await rd.waitRender(render.id, { onPoll: () => polls++, signal: AbortSignal.timeout(120_000) });
    assert.equal(done.state, "completed", JSON.stringify(done));
    assert.equal(done.progress, 100);
    assert.ok(done.size_bytes != null && done.size_bytes > 0 && done.download_url, JSON.stringify(done));

    const out = join(dir, "out.mp4");
    const n = await rd.download(render.id, out);
    assert.equal(n, done.size_bytes);
    assert.equal((await stat(out)).size, done.size_bytes);
    const head = Buffer.alloc(12);
    const f = await open(out);
    try {
      await f.read(head, 0, 12, 0);
    } finally {
      await f.close();
    }
    assert.equal(head.subarray(4, 8).toString("latin1"), "ftyp", "an MP4 starts with its ftyp box");
    console.log(`rendered ${done.size_bytes} bytes after ${polls} polls, ${progress.length} upload progress calls`);
  });

  test("an unknown render is 404 not_found, typed", async () => {
    const res = await rd.api.GET("/v1/renders/{id}", { params: { path: { id: "rnd_unknown" } } });
    assert.equal(res.response.status, 404);
    assert.equal(res.error?.error.code, "not_found"); // openapi-fetch's typed error body
    await assert.rejects(rd.ok(Promise.resolve(res)), (err) => isRenderdError(err, "not_found"));
  });

  test("another account's asset: its upload is refused 404 not_found, typed", async () => {
    const id = await newAsset("someone's");
    const other = createRenderdClient({ baseUrl: env.url, apiKey: env.otherKey });
    await assert.rejects(other.uploadResumable(id, "source", await readFile(env.media)), apiError(404, "not_found"));
    // The owner's upload is not held up by the refused one.
    const data = Buffer.from("not a video at all");
    await rd.uploadResumable(id, "source", data);
    const a = await rd.waitAsset(id);
    assert.equal(a.state, "failed", JSON.stringify(a));
    assert.equal(a.failure?.code, "source_unreadable", JSON.stringify(a));
  });

  test("an aborted upload is terminated: the part is free for the next upload", async () => {
    const id = await newAsset("aborted");
    const ac = new AbortController();
    const stop = new Error("stopped by the test");
    let at = 0;
    await assert.rejects(
      rd.uploadResumable(id, "source", env.media, {
        chunkSize: 256 << 10,
        signal: ac.signal,
        onProgress: (sent) => {
          if (sent > 0 && at === 0) {
            at = sent;
            ac.abort(stop);
          }
        },
      }),
      (err) => err === stop,
    );
    assert.ok(at > 0 && at < (await stat(env.media)).size, `aborted at byte ${at}`);
    // Had the upload kept the part, this one would be 409 upload_in_progress.
    await rd.uploadResumable(id, "source", env.media);
    assert.equal((await rd.waitAsset(id)).state, "ready");
  });

  test("an upload of a part that is no part is refused 400 invalid_request", async () => {
    const id = await newAsset("bad part");
    await assert.rejects(
      rd.uploadResumable(id, "video" as "source", Buffer.from("x")),
      apiError(400, "invalid_request"),
    );
  });

  test("a download of an unknown render is 404 not_found, typed", async () => {
    await assert.rejects(rd.download("rnd_unknown", join(dir, "none.mp4")), apiError(404, "not_found"));
  });
});
