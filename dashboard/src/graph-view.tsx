import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, JOB_STATUSES, type JobJson, type JobStatus } from "./api-client.js";
import { ErrorMessage } from "./error-message.js";
import { shortId } from "./format.js";
import { NODE_HEIGHT, NODE_WIDTH, type GraphLayout, type PlacedNode } from "./graph-shape.js";
import { jobHref, navigate } from "./hash-route.js";
import { useLiveStream } from "./live-stream.js";
import { fitView, usePanZoom } from "./pan-zoom.js";
import { useAsync } from "./use-async.js";
import { useLayout } from "./use-layout.js";

/** A job's connected graph, laid out by dagre, coloured by status and recoloured live. */
export function GraphView({ id }: { readonly id: string }) {
  const graph = useAsync(() => api.getGraph(id), [id]);
  const shape = useMemo(() => (graph.value === undefined ? undefined : { ids: graph.value.jobs.map((job) => job.id), edges: graph.value.edges }), [graph.value]);
  const jobs = useMemo(() => new Map((graph.value?.jobs ?? []).map((job) => [job.id, job])), [graph.value]);
  const { layout: drawn, error: layoutError } = useLayout(shape);
  const [live, setLive] = useState<ReadonlyMap<string, JobStatus>>(new Map());
  useEffect(() => setLive(new Map()), [graph.value]);
  useLiveStream(
    (event) => {
      if (event.kind === "reset") graph.reload();
      else setLive((previous) => new Map(previous).set(event.change.id, event.change.status));
    },
    [graph.reload],
  );

  return (
    <section aria-labelledby="graph-heading" class="graph-page">
      <h1 id="graph-heading">
        Graph of <a href={jobHref(id)} class="mono">{shortId(id)}</a>
      </h1>
      {graph.error !== undefined && <ErrorMessage error={graph.error} what="load the graph" />}
      {layoutError !== undefined && <ErrorMessage error={layoutError} what="lay the graph out" />}
      {graph.value?.truncated === true && (
        <p class="notice" role="note">
          This graph is larger than the server returns at once: only part of it is shown.
        </p>
      )}
      <Legend />
      {drawn === undefined ? (
        graph.error === undefined && layoutError === undefined && <p aria-busy="true">{graph.value === undefined ? "Loading…" : `Laying out ${graph.value.jobs.length} jobs…`}</p>
      ) : (
        <GraphCanvas drawn={drawn} jobs={jobs} live={live} focus={id} />
      )}
    </section>
  );
}

function Legend() {
  return (
    <ul class="legend" aria-label="Status colours">
      {JOB_STATUSES.map((status) => (
        <li key={status} class={`status-${status}`}>
          {status}
        </li>
      ))}
    </ul>
  );
}

function GraphCanvas({ drawn, jobs, live, focus }: { readonly drawn: GraphLayout; readonly jobs: ReadonlyMap<string, JobJson>; readonly live: ReadonlyMap<string, JobStatus>; readonly focus: string }) {
  const box = useRef<SVGSVGElement>(null);
  const { view, setView, zoomAt, handlers } = usePanZoom({ x: 0, y: 0, scale: 1 });
  const fit = () => {
    const rect = box.current?.getBoundingClientRect();
    if (rect !== undefined) setView(fitView(drawn.width, drawn.height, rect.width, rect.height));
  };
  useEffect(fit, [drawn]); // fit once per layout
  const centre = (factor: number) => {
    const rect = box.current?.getBoundingClientRect();
    zoomAt(factor, (rect?.width ?? 0) / 2, (rect?.height ?? 0) / 2);
  };
  return (
    <div class="graph">
      <div class="toolbar" role="toolbar" aria-label="Graph view">
        <button type="button" onClick={() => centre(1.25)} aria-label="Zoom in">
          +
        </button>
        <button type="button" onClick={() => centre(0.8)} aria-label="Zoom out">
          −
        </button>
        <button type="button" onClick={fit}>
          Fit
        </button>
        <span class="hint">{drawn.nodes.length} jobs · drag to pan, scroll to zoom</span>
      </div>
      <svg ref={box} class="graph-canvas" role="group" aria-label="Dependency graph" {...handlers}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
          </marker>
        </defs>
        <g transform={`translate(${view.x} ${view.y}) scale(${view.scale})`}>
          {drawn.edges.map((edge) => (
            <path
              key={`${edge.dependent}<${edge.dependency}`}
              class="edge"
              d={edge.points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ")}
              marker-end="url(#arrow)"
            />
          ))}
          {drawn.nodes.map((node) => {
            const job = jobs.get(node.id);
            return job === undefined ? null : <GraphNode key={node.id} node={node} job={job} status={live.get(node.id) ?? job.status} focus={node.id === focus} />;
          })}
        </g>
      </svg>
    </div>
  );
}

function GraphNode({ node, job, status, focus }: { readonly node: PlacedNode; readonly job: JobJson; readonly status: JobStatus; readonly focus: boolean }) {
  const open = () => navigate(jobHref(job.id));
  return (
    <g
      class={`node status-${status}${focus ? " focus" : ""}`}
      data-job-id={job.id}
      data-status={status}
      transform={`translate(${node.x - NODE_WIDTH / 2} ${node.y - NODE_HEIGHT / 2})`}
      role="link"
      tabIndex={0}
      aria-label={`${job.type} ${shortId(job.id)}: ${status}`}
      onClick={open}
      onKeyDown={(event) => event.key === "Enter" && open()}
    >
      <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx={6} />
      <text x={10} y={18} class="node-type">
        {job.type.length > 22 ? `${job.type.slice(0, 21)}…` : job.type}
      </text>
      <text x={10} y={34} class="node-sub">
        {shortId(job.id)} · {status}
      </text>
    </g>
  );
}
