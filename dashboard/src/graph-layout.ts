import { Graph, layout } from "@dagrejs/dagre";
import { NODE_HEIGHT, NODE_WIDTH, type GraphLayout, type GraphShape } from "./graph-shape.js";

// Pure layout, no DOM: runs in the layout worker (graph-layout-worker.ts), so a big graph never
// freezes the page while dagre works.

/** Lays a job graph out left to right, dependencies before their dependents (dagre). */
export function layoutGraph(graph: GraphShape): GraphLayout {
  const g = new Graph({ multigraph: false });
  g.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 56, marginx: 16, marginy: 16, ...(graph.ids.length > 150 ? { ranker: "longest-path" } : {}) });
  g.setDefaultEdgeLabel(() => ({}));
  const known = new Set(graph.ids);
  for (const id of known) g.setNode(id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const edges = graph.edges.filter(([dependent, dependency]) => known.has(dependent) && known.has(dependency));
  for (const [dependent, dependency] of edges) g.setEdge(dependency, dependent);
  layout(g);
  const nodes = [...known].map((id) => {
    const node = g.node(id);
    return { id, x: node.x, y: node.y };
  });
  const placedEdges = edges.map(([dependent, dependency]) => ({ dependent, dependency, points: g.edge(dependency, dependent).points ?? [] }));
  const label = g.graph();
  return { nodes, edges: placedEdges, width: label.width ?? 0, height: label.height ?? 0 };
}
