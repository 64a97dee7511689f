// What the layout worker is given and answers, and the size of a node: shared by the page and the
// worker, without dagre (which only the worker loads).

export const NODE_WIDTH = 168;
export const NODE_HEIGHT = 44;

export interface PlacedNode {
  readonly id: string;
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

/** What is laid out: job ids and `[dependent, dependency]` edges. */
export interface GraphShape {
  readonly ids: readonly string[];
  readonly edges: readonly (readonly [string, string])[];
}
