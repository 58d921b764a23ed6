// renderd's TypeScript client (README.md, "TypeScript client"): the API's
// types generated from ports/httpapi/openapi.json (schema.ts), a client
// around openapi-fetch with typed errors and retries, resumable uploads
// through tus-js-client, waits and downloads.
export {
  backoff,
  createRenderdClient,
  nextPoll,
  ok,
  repeatable,
  terminal,
  type Asset,
  type Cut,
  type PollPolicy,
  type Render,
  type RenderdClient,
  type RenderdClientOptions,
  type RetryPolicy,
  type WaitOptions,
} from "./client.js";
export { RenderdError, isRenderdError, parseRetryAfter, type ErrorBody } from "./errors.js";
export { mayResume, type UploadInput, type UploadOptions } from "./upload.js";
export type { components, operations, paths } from "./schema.js";
