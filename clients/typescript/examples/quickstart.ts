// The README's example (README.md and clients/typescript/README.md,
// "TypeScript client"), compiled by npm test so that it stays in step with
// the client and the document's types: node dist/examples/quickstart.js
// clip.mp4 with RENDERD_URL and RENDERD_API_KEY set.
import { createRenderdClient, isRenderdError } from "../src/index.js";

const rd = createRenderdClient({ baseUrl: process.env.RENDERD_URL ?? "http://localhost:8080", apiKey: process.env.RENDERD_API_KEY! });
const asset = await rd.ok(rd.api.POST("/v1/assets", { body: { kind: "video", name: "demo" } }));
await rd.uploadResumable(asset.id, "source", process.argv[2] ?? "clip.mp4", { onProgress: (sent, total) => console.log(`${sent}/${total}`) });
await rd.waitAsset(asset.id);                                  // ready (or failed, payment_required)
const cut = await rd.ok(rd.api.POST("/v1/assets/{id}/cuts", {
  params: { path: { id: asset.id } }, body: { segments: [{ start: 1, end: 3 }] } }));
await rd.waitCut(cut.id);                                      // completed or failed
const r = await rd.ok(rd.api.POST("/v1/renders", {
  body: { asset_id: asset.id, cut_id: cut.id, output: { format: "mp4", resolution: "720p" } } }));
const done = await rd.waitRender(r.id, { onPoll: (r) => console.log(r.progress) }); // completed, failed or cancelled
const bytes = await rd.download(done.id, "out.mp4");
console.log(`out.mp4: ${bytes} bytes`);
try {
  await rd.ok(rd.api.POST("/v1/renders", { body: { asset_id: asset.id, output: { format: "mp4", resolution: "4k" } } }));
} catch (err) {
  if (isRenderdError(err, "validation_error")) console.log(err.status, err.field, err.requestId); // 422 output.resolution …
}
