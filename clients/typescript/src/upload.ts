import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { DetailedError, Upload, type UploadOptions as TusOptions } from "tus-js-client";
import { RenderdError } from "./errors.js";

/** What uploadResumable sends: a file's path, a Buffer or bytes. */
export type UploadInput = string | Buffer | Uint8Array;

export interface UploadOptions {
  /** Told the bytes the server holds and the total, after each chunk's progress. */
  onProgress?: (sent: number, total: number) => void;
  /** Bounds each PATCH's body, and the bytes kept to send again (default 16 MiB). */
  chunkSize?: number;
  /**
   * The waits in ms before each new try after a failure that may pass (a
   * dropped connection, a 5xx, a 429, tus's offset mismatch); after the
   * last the upload gives up. Default [0, 1000, 3000, 5000], tus-js-client's.
   */
  retryDelays?: number[];
  /** Aborts the upload; the part is then freed (tus termination). */
  signal?: AbortSignal;
}

/**
 * Whether an upload may go on after a failed request, as the Go SDK's
 * Resumable decides (client/resumable.go): a dropped connection, a 5xx, a
 * 429, tus's offset mismatch (a 409 without renderd's error body) or tusd's
 * 423 (the upload still locked by the dropped request); not a refusal for
 * good (the asset, the part, the size, an upload expired or another's,
 * renderd's 409 at the last byte).
 */
export function mayResume(err: RenderdError | undefined): boolean {
  if (err === undefined) return true;
  return err.temporary || err.status >= 500 || err.status === 423 || (err.status === 409 && err.code === "");
}

/** The RenderdError of a tus request's answer, undefined when there was none (a transport error). */
function answerError(err: unknown): RenderdError | undefined {
  const res = err instanceof DetailedError ? err.originalResponse : null;
  if (!res) return undefined;
  return RenderdError.from(res.getStatus(), { get: (name) => res.getHeader(name) }, res.getBody());
}

/**
 * Sends an asset's part as a resumable upload (tus 1.0 at /v1/uploads,
 * README "Resumable uploads"): created with Upload-Metadata asset_id and
 * part, then PATCHes of at most chunkSize; after a failure that may pass
 * tus-js-client asks the server for its offset and sends only the rest. A
 * failure it gives up on terminates the upload, so the part is free again
 * for another upload, and rejects with the answer's RenderdError (or the
 * transport's error).
 */
export async function uploadResumable(
  conn: { baseUrl: string; apiKey: string },
  assetId: string,
  part: "source" | "audio",
  input: UploadInput,
  opts: UploadOptions = {},
): Promise<string> {
  const signal = opts.signal;
  signal?.throwIfAborted();
  let file: Buffer | ReturnType<typeof createReadStream>;
  let size: number;
  const metadata: Record<string, string> = { asset_id: assetId, part };
  if (typeof input === "string") {
    size = (await stat(input)).size;
    file = createReadStream(input);
    metadata.filename = basename(input);
  } else if (input instanceof Uint8Array) {
    file = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    size = file.byteLength;
  } else {
    throw new TypeError("renderd client: uploadResumable: want a file path, a Buffer or a Uint8Array");
  }
  const headers = { Authorization: `Bearer ${conn.apiKey}` };

  return new Promise<string>((resolve, reject) => {
    let done = false;
    // Marks the upload over; false when it was already.
    const end = () => {
      if (done) return false;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      if (!Buffer.isBuffer(file)) file.destroy(); // the file's descriptor
      return true;
    };
    // Ends the upload with err: a started upload is terminated, freeing
    // the part, before the promise rejects.
    const fail = (err: unknown) => {
      if (!end()) return;
      const url = upload.url;
      const terminated = url ? Upload.terminate(url, { headers } as TusOptions).catch(() => {}) : Promise.resolve();
      void terminated.then(() => reject(err));
    };
    const onAbort = () => {
      void upload.abort(false);
      fail(signal?.reason);
    };
    const upload = new Upload(file, {
      endpoint: conn.baseUrl + "/v1/uploads",
      headers,
      metadata,
      uploadSize: size,
      chunkSize: opts.chunkSize ?? 16 << 20,
      retryDelays: opts.retryDelays ?? [0, 1000, 3000, 5000],
      onShouldRetry: (err) => mayResume(answerError(err)),
      onProgress: (sent, total) => opts.onProgress?.(sent, total),
      onSuccess: () => {
        if (end()) resolve(upload.url ?? "");
      },
      onError: (err) => fail(answerError(err) ?? err),
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    upload.start();
  });
}
