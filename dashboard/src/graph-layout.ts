import { Graph, layout } from "@dagrejs/dagre";
import type { JobGraphJson, JobJson } from "./api-client.js";

export const NODE_WIDTH = 168;
export const NODE_HEIGHT = 44;

export interface PlacedNode {
  readonly job: JobJson;
  /** Centre. */
  readonly x: number;
  readonly y: number;
}

export interface PlacedEdge {
  readonly dependent: string;
  readonly dependency: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

export interface GraphLayout {
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
  readonly width: number;
  readonly height: number;
}

/** Lays a job graph out left to right, dependencies before their dependents (dagre). */
export function layoutGraph(graph: Pick<JobGraphJson, "jobs" | "edges">): GraphLayout {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 56, marginx: 16, marginy: 16, ...(graph.jobs.length > 150 ? { ranker: "longest-path" } : {}) });
  g.setDefaultEdgeLabel(() => ({}));
  const byId = new Map(graph.jobs.map((job) => [job.id, job]));
  for (const job of graph.jobs) g.setNode(job.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const edges = graph.edges.filter(([dependent, dependency]) => byId.has(dependent) && byId.has(dependency));
  for (const [dependent, dependency] of edges) g.setEdge(dependency, dependent);
  layout(g);
  const nodes = graph.jobs.map((job) => {
    const node = g.node(job.id);
    return { job, x: node.x, y: node.y };
  });
  const placedEdges = edges.map(([dependent, dependency]) => ({ dependent, dependency, points: g.edge(dependency, dependent).points ?? [] }));
  const label = g.graph();
  return { nodes, edges: placedEdges, width: label.width ?? 0, height: label.height ?? 0 };
}
