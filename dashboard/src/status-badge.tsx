import type { JobStatus } from "./api-client.js";

/** A job's status as a coloured label (the colour comes from the stylesheet, by class). */
export function StatusBadge({ status }: { readonly status: JobStatus }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}
