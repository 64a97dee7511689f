import { useMemo, useState } from "preact/hooks";
import { api, ApiError, type JobJson, type LogEntryJson } from "./api-client.js";
import { ErrorMessage } from "./error-message.js";
import { between, formatDate, formatJson, shortId } from "./format.js";
import { graphHref, jobHref } from "./hash-route.js";
import { useLiveStream } from "./live-stream.js";
import { StatusBadge } from "./status-badge.js";
import { TableHead } from "./table-head.js";
import { useAsync, useThrottled } from "./use-async.js";

/** One job: what it is, how its attempts went, its history, its neighbours; cancel and retry. */
export function JobPage({ id }: { readonly id: string }) {
  const job = useAsync(() => api.getJob(id), [id]);
  const logs = useAsync(() => api.getLogs(id), [id]);
  const graph = useAsync(() => api.getGraph(id), [id]);
  const neighbours = useMemo(() => new Map((graph.value?.jobs ?? []).map((other) => [other.id, other])), [graph.value]);
  const dependents = (graph.value?.edges ?? []).filter(([, dependency]) => dependency === id).map(([dependent]) => dependent);
  const refresh = useThrottled(() => {
    job.reload();
    logs.reload();
    graph.reload();
  }, 300);
  useLiveStream((event) => (event.kind === "reset" || event.change.id === id || neighbours.has(event.change.id)) && refresh(), [id, refresh, neighbours]);

  if (job.error !== undefined && job.value === undefined) {
    return (
      <section aria-label="Job">
        <h1>Job {shortId(id)}</h1>
        <ErrorMessage error={job.error} what="load this job" />
      </section>
    );
  }
  if (job.value === undefined) return <p aria-busy="true">Loading…</p>;
  const value = job.value;
  return (
    <section aria-labelledby="job-heading">
      <h1 id="job-heading">
        {value.type} <StatusBadge status={value.status} />
      </h1>
      <p class="mono">{value.id}</p>
      <JobActions job={value} onDone={refresh} />
      <div class="columns">
        <JobFacts job={value} />
        <div>
          <Neighbours title="Depends on" ids={value.dependsOn} jobs={neighbours} />
          <Neighbours title="Dependents" ids={dependents} jobs={neighbours} />
          <p>
            <a href={graphHref(value.id)}>Show the graph</a>
          </p>
        </div>
      </div>
      <JsonBlock title="Payload" value={value.payload} />
      {value.status === "completed" && <JsonBlock title="Result" value={value.result} />}
      {value.error !== null && (
        <section aria-label="Error">
          <h2>Error</h2>
          <p class="error-text">
            {value.error.name}
            {value.error.code === undefined ? "" : ` (${value.error.code})`}: {value.error.message}
          </p>
        </section>
      )}
      {value.attempts !== undefined && <Attempts job={value} />}
      <History logs={logs.value ?? []} error={logs.error} />
    </section>
  );
}

function JobActions({ job, onDone }: { readonly job: JobJson; readonly onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const act = async (name: string, action: () => Promise<JobJson>) => {
    setBusy(true);
    setMessage(undefined);
    try {
      const after = await action();
      setMessage(`${name}: the job is ${after.status}.`);
    } catch (error) {
      setMessage(`${name} failed: ${error instanceof ApiError ? `${error.code}: ${error.message}` : String(error)}`);
    } finally {
      setBusy(false);
      onDone();
    }
  };
  const cancellable = job.status === "blocked" || job.status === "pending" || job.status === "running";
  const retryable = job.status === "failed" || job.status === "cancelled";
  return (
    <div class="actions">
      <button type="button" disabled={busy || !cancellable} onClick={() => void act("Cancel", () => api.cancel(job.id))}>
        Cancel job
      </button>
      <button type="button" disabled={busy || !retryable} onClick={() => void act("Retry", () => api.retry(job.id))}>
        Retry job
      </button>
      {message !== undefined && (
        <span role="status" class="action-message">
          {message}
        </span>
      )}
    </div>
  );
}

function JobFacts({ job }: { readonly job: JobJson }) {
  const resources = Object.entries(job.resources);
  const rows: [string, string][] = [
    ["Priority", job.priority],
    ["Attempt", `${job.attempt} of ${job.maxAttempts}`],
    ["Created", formatDate(job.createdAt)],
    ["Run at", formatDate(job.runAt)],
    ["Started", formatDate(job.startedAt)],
    ["Finished", formatDate(job.finishedAt)],
    ["Ran for", between(job.startedAt, job.finishedAt)],
    ["Timeout", job.timeoutMs === null ? "none" : `${job.timeoutMs} ms`],
    ["Resources", resources.length === 0 ? "none" : resources.map(([name, amount]) => `${name}: ${amount}`).join(", ")],
    ["Idempotency key", job.idempotencyKey ?? "none"],
  ];
  return (
    <dl class="facts" aria-label="Job details">
      {rows.map(([name, text]) => [<dt key={`${name}-t`}>{name}</dt>, <dd key={`${name}-d`}>{text}</dd>])}
    </dl>
  );
}

function Neighbours({ title, ids, jobs }: { readonly title: string; readonly ids: readonly string[]; readonly jobs: ReadonlyMap<string, JobJson> }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {ids.length === 0 ? (
        <p class="empty">none</p>
      ) : (
        <ul class="neighbours">
          {ids.map((id) => (
            <li key={id}>
              <a href={jobHref(id)} class="mono" title={id}>
                {shortId(id)}
              </a>
              {jobs.get(id) !== undefined && (
                <>
                  {" "}
                  {jobs.get(id)?.type} <StatusBadge status={(jobs.get(id) as JobJson).status} />
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function JsonBlock({ title, value }: { readonly title: string; readonly value: unknown }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      <pre class="json">{formatJson(value)}</pre>
    </section>
  );
}

function Attempts({ job }: { readonly job: JobJson }) {
  const attempts = job.attempts ?? [];
  return (
    <section aria-label="Attempts">
      <h2>Attempts</h2>
      {attempts.length === 0 ? (
        <p class="empty">Not run yet.</p>
      ) : (
        <table aria-label="Attempts">
          <TableHead columns={["#", "Started", "Finished", "Took", "Outcome", "Error", "Worker"]} />
          <tbody>
            {attempts.map((attempt) => (
              <tr key={attempt.attempt}>
                <td>{attempt.attempt}</td>
                <td>{formatDate(attempt.startedAt)}</td>
                <td>{formatDate(attempt.finishedAt)}</td>
                <td>{between(attempt.startedAt, attempt.finishedAt)}</td>
                <td>{attempt.outcome ?? "running"}</td>
                <td>{attempt.error == null ? "" : `${attempt.error.name}: ${attempt.error.message}`}</td>
                <td class="mono">{attempt.workerId ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function History({ logs, error }: { readonly logs: readonly LogEntryJson[]; readonly error: Error | undefined }) {
  return (
    <section aria-label="History">
      <h2>History</h2>
      {error !== undefined && <ErrorMessage error={error} what="load the history" />}
      {logs.length === 0 ? (
        <p class="empty">No entries.</p>
      ) : (
        <ol class="history">
          {logs.map((entry) => (
            <li key={entry.seq} class={`log-${entry.kind} level-${entry.level ?? "none"}`}>
              <time dateTime={entry.at}>{formatDate(entry.at)}</time> <span class="attempt">#{entry.attempt}</span>{" "}
              {entry.level !== undefined && <span class="level">{entry.level}</span>} {entry.message}
              {entry.data !== undefined && <code class="data">{JSON.stringify(entry.data)}</code>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
