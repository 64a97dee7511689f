import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, JOB_STATUSES, type JobStatus } from "./api-client.js";
import { ErrorMessage } from "./error-message.js";
import { shortId } from "./format.js";
import { layoutGraph, NODE_HEIGHT, NODE_WIDTH, type GraphLayout, type PlacedNode } from "./graph-layout.js";
import { jobHref, navigate } from "./hash-route.js";
import { useLiveStream } from "./live-stream.js";
import { fitView, usePanZoom } from "./pan-zoom.js";
import { useAsync } from "./use-async.js";

/** A job's connected graph, laid out by dagre, coloured by status and recoloured live. */
export function GraphView({ id }: { readonly id: string }) {
  const graph = useAsync(() => api.getGraph(id), [id]);
  const drawn = useMemo(() => (graph.value === undefined ? undefined : layoutGraph(graph.value)), [graph.value]);
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
      {graph.value?.truncated === true && (
        <p class="notice" role="note">
          This graph is larger than the server returns at once: only part of it is shown.
        </p>
      )}
      <Legend />
      {drawn === undefined ? graph.error === undefined && <p aria-busy="true">Loading…</p> : <GraphCanvas drawn={drawn} live={live} focus={id} />}
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

function GraphCanvas({ drawn, live, focus }: { readonly drawn: GraphLayout; readonly live: ReadonlyMap<string, JobStatus>; readonly focus: string }) {
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
          {drawn.nodes.map((node) => (
            <GraphNode key={node.job.id} node={node} status={live.get(node.job.id) ?? node.job.status} focus={node.job.id === focus} />
          ))}
        </g>
      </svg>
    </div>
  );
}

function GraphNode({ node, status, focus }: { readonly node: PlacedNode; readonly status: JobStatus; readonly focus: boolean }) {
  const open = () => navigate(jobHref(node.job.id));
  return (
    <g
      class={`node status-${status}${focus ? " focus" : ""}`}
      data-job-id={node.job.id}
      data-status={status}
      transform={`translate(${node.x - NODE_WIDTH / 2} ${node.y - NODE_HEIGHT / 2})`}
      role="link"
      tabIndex={0}
      aria-label={`${node.job.type} ${shortId(node.job.id)}: ${status}`}
      onClick={open}
      onKeyDown={(event) => event.key === "Enter" && open()}
    >
      <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx={6} />
      <text x={10} y={18} class="node-type">
        {node.job.type.length > 22 ? `${node.job.type.slice(0, 21)}…` : node.job.type}
      </text>
      <text x={10} y={34} class="node-sub">
        {shortId(node.job.id)} · {status}
      </text>
    </g>
  );
}
