import { useState } from "preact/hooks";
import { api, JOB_STATUSES, type JobJson, type JobStatus } from "./api-client.js";
import { ErrorMessage } from "./error-message.js";
import { formatDate, shortId } from "./format.js";
import { jobHref, navigate } from "./hash-route.js";
import { useLiveStream } from "./live-stream.js";
import { StatusBadge } from "./status-badge.js";
import { TableHead } from "./table-head.js";
import { useAsync, useThrottled } from "./use-async.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Jobs by status and type, newest first, a page at a time, with the counts per status; kept live. */
export function JobsList({ status, type }: { readonly status?: string | undefined; readonly type?: string | undefined }) {
  const statusFilter = JOB_STATUSES.includes(status as JobStatus) ? (status as JobStatus) : undefined;
  const [typeInput, setTypeInput] = useState(type ?? "");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsync(() => api.listJobs({ status: statusFilter, type, cursor }), [statusFilter, type, cursor]);
  const counts = useAsync(() => api.metrics().then((metrics) => metrics.jobs.byStatus), []);
  const [changed, setChanged] = useState<ReadonlyMap<string, JobStatus>>(new Map());
  const refresh = useThrottled(() => {
    setChanged(new Map());
    if (cursor === undefined) page.reload();
    counts.reload();
  }, 500);
  useLiveStream(
    (event) => {
      if (event.kind === "change") setChanged((previous) => new Map(previous).set(event.change.id, event.change.status));
      refresh();
    },
    [refresh],
  );

  const go = (next: { status?: string | undefined; type?: string | undefined }) => {
    const query = new URLSearchParams();
    if (next.status !== undefined && next.status !== "") query.set("status", next.status);
    if (next.type !== undefined && next.type !== "") query.set("type", next.type);
    setCursors([]);
    navigate(`#/jobs?${query.toString()}`);
  };

  return (
    <section aria-labelledby="jobs-heading">
      <h1 id="jobs-heading">Jobs</h1>
      <nav class="counts" aria-label="Jobs by status">
        <a href="#/jobs" class={statusFilter === undefined ? "count current" : "count"} aria-current={statusFilter === undefined ? "page" : undefined}>
          all
        </a>
        {JOB_STATUSES.map((s) => (
          <a key={s} href={`#/jobs?status=${s}`} class={`count status-${s}${statusFilter === s ? " current" : ""}`} aria-current={statusFilter === s ? "page" : undefined}>
            {s} <span class="number">{counts.value?.[s] ?? "…"}</span>
          </a>
        ))}
      </nav>
      <div class="toolbar">
        <form
          role="search"
          aria-label="Filter jobs"
          onSubmit={(event) => {
            event.preventDefault();
            go({ status: statusFilter, type: typeInput.trim() });
          }}
        >
          <label>
            Status{" "}
            <select aria-label="Status" value={statusFilter ?? ""} onChange={(event) => go({ status: event.currentTarget.value, type })}>
              <option value="">any</option>
              {JOB_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Type <input aria-label="Type" value={typeInput} placeholder="e.g. email.send" onInput={(event) => setTypeInput(event.currentTarget.value)} />
          </label>
          <button type="submit">Filter</button>
        </form>
        <JobSearch />
      </div>
      {page.error !== undefined && <ErrorMessage error={page.error} what="list the jobs" />}
      <JobsTable jobs={page.value?.jobs ?? []} changed={changed} loading={page.loading && page.value === undefined} />
      <div class="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors([])}>
          First page
        </button>
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button type="button" disabled={page.value?.nextCursor == null} onClick={() => page.value?.nextCursor != null && setCursors([...cursors, page.value.nextCursor])}>
          Next page
        </button>
      </div>
    </section>
  );
}

function JobSearch() {
  const [id, setId] = useState("");
  const valid = UUID.test(id.trim());
  return (
    <form
      role="search"
      aria-label="Find a job by id"
      onSubmit={(event) => {
        event.preventDefault();
        if (valid) navigate(jobHref(id.trim()));
      }}
    >
      <label>
        Job id <input aria-label="Job id" value={id} placeholder="UUID" onInput={(event) => setId(event.currentTarget.value)} />
      </label>
      <button type="submit" disabled={!valid}>
        Open job
      </button>
    </form>
  );
}

function JobsTable({ jobs, changed, loading }: { readonly jobs: readonly JobJson[]; readonly changed: ReadonlyMap<string, JobStatus>; readonly loading: boolean }) {
  if (loading) return <p aria-busy="true">Loading…</p>;
  if (jobs.length === 0) return <p class="empty">No jobs match.</p>;
  return (
    <table class="jobs" aria-label="Jobs">
      <TableHead columns={["Id", "Type", "Status", "Priority", "Attempt", "Created", "Finished"]} />
      <tbody>
        {jobs.map((job) => (
          <tr key={job.id} data-job-id={job.id}>
            <td>
              <a href={jobHref(job.id)} class="mono" title={job.id}>
                {shortId(job.id)}
              </a>
            </td>
            <td>{job.type}</td>
            <td>
              <StatusBadge status={changed.get(job.id) ?? job.status} />
            </td>
            <td>{job.priority}</td>
            <td>
              {job.attempt}/{job.maxAttempts}
            </td>
            <td>{formatDate(job.createdAt)}</td>
            <td>{formatDate(job.finishedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
