import { useState } from "preact/hooks";
import { api, ApiError, type RetryManyRequest } from "./api-client.js";

/** Redrive: run the failed (or cancelled) jobs of a type again, in bulk, after a confirmation. */
export function RedriveForm() {
  const [status, setStatus] = useState<"failed" | "cancelled">("failed");
  const [type, setType] = useState("");
  const [after, setAfter] = useState("");
  const [before, setBefore] = useState("");
  const [limit, setLimit] = useState("1000");
  const [confirming, setConfirming] = useState<RetryManyRequest | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const request = (): RetryManyRequest | string => {
    if (type.trim() === "") return "Name the job type to redrive.";
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1) return "The limit must be a whole number of at least 1.";
    const iso = (local: string) => (local === "" ? undefined : new Date(local).toISOString());
    const finishedAfter = iso(after);
    const finishedBefore = iso(before);
    return { status: [status], type: [type.trim()], limit: n, ...(finishedAfter === undefined ? {} : { finishedAfter }), ...(finishedBefore === undefined ? {} : { finishedBefore }) };
  };

  const run = async (body: RetryManyRequest) => {
    setBusy(true);
    try {
      const { retried } = await api.retryMany(body);
      setMessage(`Retried ${retried} ${retried === 1 ? "job" : "jobs"}.`);
    } catch (error) {
      setMessage(`Redrive failed: ${error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)}`);
    } finally {
      setBusy(false);
      setConfirming(undefined);
    }
  };

  return (
    <section aria-labelledby="redrive-heading">
      <h1 id="redrive-heading">Redrive</h1>
      <p class="hint">Runs matching jobs again, each as if retried on its own page, oldest first, up to the limit.</p>
      <form
        class="redrive"
        aria-label="Redrive jobs"
        onSubmit={(event) => {
          event.preventDefault();
          const built = request();
          if (typeof built === "string") setMessage(built);
          else {
            setMessage(undefined);
            setConfirming(built);
          }
        }}
      >
        <label>
          Status{" "}
          <select aria-label="Redrive status" value={status} onChange={(event) => setStatus(event.currentTarget.value as "failed" | "cancelled")}>
            <option value="failed">failed</option>
            <option value="cancelled">cancelled</option>
          </select>
        </label>
        <label>
          Type <input aria-label="Redrive type" required value={type} onInput={(event) => setType(event.currentTarget.value)} />
        </label>
        <label>
          Finished after <input aria-label="Finished after" type="datetime-local" value={after} onInput={(event) => setAfter(event.currentTarget.value)} />
        </label>
        <label>
          Finished before <input aria-label="Finished before" type="datetime-local" value={before} onInput={(event) => setBefore(event.currentTarget.value)} />
        </label>
        <label>
          At most <input aria-label="Limit" type="number" min="1" value={limit} onInput={(event) => setLimit(event.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Redrive…
        </button>
      </form>
      {confirming !== undefined && (
        <div role="alertdialog" aria-labelledby="confirm-text" class="confirm">
          <p id="confirm-text">
            Retry up to {confirming.limit} {confirming.status.join(", ")} jobs of type {confirming.type.join(", ")}?
          </p>
          <button type="button" disabled={busy} onClick={() => void run(confirming)}>
            Confirm redrive
          </button>
          <button type="button" disabled={busy} onClick={() => setConfirming(undefined)}>
            Keep them
          </button>
        </div>
      )}
      {message !== undefined && <p role="status">{message}</p>}
    </section>
  );
}
