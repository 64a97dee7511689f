import { DependencyCycleError, UnknownDependencyError, ValidationError } from "./errors.js";

/** One job of a submitted graph: its batch-local key and what it depends on (keys of the batch or job ids). */
export interface GraphNode {
  readonly key: string;
  readonly dependsOn: readonly string[];
}

/** A validated graph: the order to insert it in and its edges, split into in-batch and existing jobs. */
export interface GraphPlan {
  /**
   * Node indices, every in-batch dependency before its dependents: the finishing order of a depth-first
   * walk from each node in input order, so an input already in dependency order comes back unchanged.
   */
  readonly order: readonly number[];
  /** Per node index, its in-batch dependencies as node indices (deduplicated, first occurrence kept). */
  readonly internal: readonly (readonly number[])[];
  /** Per node index, its references that are not keys of the batch: existing job ids, lower-cased and deduplicated. */
  readonly external: readonly (readonly string[])[];
  /** Per node index, all its references in the order given (deduplicated): a node index, or an existing job id lower-cased. */
  readonly references: readonly (readonly (number | string)[])[];
}

/** The most nodes a graph may have unless the caller says otherwise. */
export const DEFAULT_MAX_GRAPH_NODES = 10_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` has the textual form of a UUID (RFC 4122, any case): the shape of a job id. */
export function isJobId(value: string): boolean {
  return UUID.test(value);
}

/**
 * Validates a submitted graph and orders it, in time linear in nodes + edges, without recursion. A
 * reference equal to a key of the batch is an in-batch edge; any other must be a job id. The `cycle`
 * of a `DependencyCycleError` reads in the dependency direction (`["a", "b", "a"]`: a depends on b,
 * b on a) and starts at the first of its nodes the walk reaches.
 */
export function planGraph(nodes: readonly GraphNode[], options: { maxNodes?: number } = {}): GraphPlan {
  const maxNodes = options.maxNodes ?? DEFAULT_MAX_GRAPH_NODES;
  if (nodes.length > maxNodes) {
    throw new ValidationError(`a graph may hold at most ${maxNodes} jobs, got ${nodes.length}`);
  }

  const indexByKey = new Map<string, number>();
  nodes.forEach((node, index) => {
    if (indexByKey.has(node.key)) {
      throw new ValidationError(`duplicate key ${JSON.stringify(node.key)} in graph`, [
        { path: `${index}.key`, message: `duplicate key ${JSON.stringify(node.key)}` },
      ]);
    }
    indexByKey.set(node.key, index);
  });

  const { internal, external, references } = splitEdges(nodes, indexByKey);
  const order = topologicalOrder(nodes, internal);
  return { order, internal, external, references };
}

function splitEdges(
  nodes: readonly GraphNode[],
  indexByKey: ReadonlyMap<string, number>,
): { internal: number[][]; external: string[][]; references: (number | string)[][] } {
  // lastSeenBy[d] === i marks d as already listed for node i: deduplication without a Set per node.
  const lastSeenBy = new Int32Array(nodes.length).fill(-1);
  const internal: number[][] = [];
  const external: string[][] = [];
  const references: (number | string)[][] = [];
  nodes.forEach((node, index) => {
    const inBatch: number[] = [];
    const existing: string[] = [];
    const given: (number | string)[] = [];
    let seenIds: Set<string> | undefined;
    for (const reference of node.dependsOn) {
      const target = indexByKey.get(reference);
      if (target !== undefined) {
        if (lastSeenBy[target] !== index) {
          lastSeenBy[target] = index;
          inBatch.push(target);
          given.push(target);
        }
      } else if (isJobId(reference)) {
        const id = reference.toLowerCase();
        seenIds ??= new Set();
        if (!seenIds.has(id)) {
          seenIds.add(id);
          existing.push(id);
          given.push(id);
        }
      } else {
        throw new UnknownDependencyError(reference, node.key);
      }
    }
    internal.push(inBatch);
    external.push(existing);
    references.push(given);
  });
  return { internal, external, references };
}

const UNVISITED = 0;
const ON_PATH = 1;
const DONE = 2;

/** Iterative depth-first walk: post-order is a topological order; an edge back onto the path is a cycle. */
function topologicalOrder(nodes: readonly GraphNode[], internal: readonly (readonly number[])[]): number[] {
  const count = nodes.length;
  const state = new Uint8Array(count);
  const nextEdge = new Int32Array(count);
  const positionOnPath = new Int32Array(count);
  const path: number[] = [];
  const order: number[] = [];

  for (let root = 0; root < count; root++) {
    if (state[root] !== UNVISITED) continue;
    state[root] = ON_PATH;
    positionOnPath[root] = path.length;
    path.push(root);
    while (path.length > 0) {
      const current = path[path.length - 1]!;
      const dependencies = internal[current]!;
      const edge = nextEdge[current]!;
      if (edge < dependencies.length) {
        nextEdge[current] = edge + 1;
        const dependency = dependencies[edge]!;
        if (state[dependency] === UNVISITED) {
          state[dependency] = ON_PATH;
          positionOnPath[dependency] = path.length;
          path.push(dependency);
        } else if (state[dependency] === ON_PATH) {
          const cycle = path.slice(positionOnPath[dependency]!).map((index) => nodes[index]!.key);
          cycle.push(nodes[dependency]!.key);
          throw new DependencyCycleError(cycle);
        }
      } else {
        state[current] = DONE;
        path.pop();
        order.push(current);
      }
    }
  }
  return order;
}
