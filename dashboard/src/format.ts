// How values are shown: dates in the reader's locale, durations short, JSON indented.

export function formatDate(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** From `from` to `to` (or now), when both are known. */
export function between(from: string | null | undefined, to: string | null | undefined): string {
  if (from === null || from === undefined || to === null || to === undefined) return "—";
  return formatDuration(new Date(to).getTime() - new Date(from).getTime());
}

export function formatJson(value: unknown): string {
  if (value === undefined || value === null) return "null";
  return JSON.stringify(value, null, 2);
}

export const shortId = (id: string) => id.slice(0, 8);
