import type { ErrorInfo, Json } from "./types.js";

/** What byte bounds count of a job: the UTF-8 JSON text of its payload, result and error. */
export function jobBytes(job: { readonly payload: Json; readonly result: Json | undefined; readonly error: ErrorInfo | undefined }): number {
  const text = (value: unknown) => (value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value)));
  return text(job.payload) + text(job.result) + text(job.error);
}
