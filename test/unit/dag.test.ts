import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_GRAPH_NODES, isJobId, planGraph } from "../../src/dag.js";
import type { GraphNode, GraphPlan } from "../../src/dag.js";
import { DependencyCycleError, UnknownDependencyError, ValidationError } from "../../src/errors.js";

const ID_A = "0b5e2c1a-7d3f-4c8e-9a1b-2f3e4d5c6b7a";
const ID_B = "f47ac10b-58cc-4372-a567-0e02b2c3d479";

/** Shorthand: `n("a", "b", "c")` is node a depending on b and c. */
function n(key: string, ...dependsOn: string[]): GraphNode {
  return { key, dependsOn };
}

function orderedKeys(nodes: readonly GraphNode[], plan: GraphPlan): string[] {
  return plan.order.map((index) => nodes[index]!.key);
}

/** Every index exactly once, and every in-batch dependency placed before its dependent. */
function expectTopological(nodes: readonly GraphNode[], plan: GraphPlan): void {
  expect([...plan.order].sort((x, y) => x - y)).toEqual(nodes.map((_, index) => index));
  const position = new Array<number>(nodes.length);
  plan.order.forEach((index, at) => (position[index] = at));
  const misplaced: string[] = [];
  plan.internal.forEach((dependencies, dependent) => {
    for (const dependency of dependencies) {
      if (position[dependency]! >= position[dependent]!) misplaced.push(`${nodes[dependent]!.key} before ${nodes[dependency]!.key}`);
    }
  });
  expect(misplaced).toEqual([]);
}

function cycleOf(nodes: readonly GraphNode[]): readonly string[] {
  try {
    planGraph(nodes);
  } catch (err) {
    expect(err).toBeInstanceOf(DependencyCycleError);
    return (err as DependencyCycleError).cycle;
  }
  throw new Error("expected a DependencyCycleError");
}

/** Small deterministic PRNG (mulberry32) so the random graph is the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe("planGraph: order", () => {
  it.each<{ name: string; nodes: GraphNode[]; expected: string[] }>([
    { name: "empty graph", nodes: [], expected: [] },
    { name: "independent nodes keep input order", nodes: [n("x"), n("y"), n("z")], expected: ["x", "y", "z"] },
    { name: "chain given dependents first", nodes: [n("c", "b"), n("b", "a"), n("a")], expected: ["a", "b", "c"] },
    { name: "chain already in order is unchanged", nodes: [n("a"), n("b", "a"), n("c", "b")], expected: ["a", "b", "c"] },
    {
      name: "diamond",
      nodes: [n("d", "b", "c"), n("b", "a"), n("c", "a"), n("a")],
      expected: ["a", "b", "c", "d"],
    },
    {
      name: "forest: trees stay in input order",
      nodes: [n("a1"), n("b1"), n("a2", "a1"), n("b2", "b1"), n("a3", "a2")],
      expected: ["a1", "b1", "a2", "b2", "a3"],
    },
    {
      name: "a dependency moves just before its first dependent, others keep input order",
      nodes: [n("c", "z"), n("x"), n("z"), n("y")],
      expected: ["z", "c", "x", "y"],
    },
    {
      name: "dependencies in dependsOn order",
      nodes: [n("top", "q", "p"), n("p"), n("q")],
      expected: ["q", "p", "top"],
    },
    {
      name: "external references do not affect the order",
      nodes: [n("b", ID_A, "a"), n("a", ID_B)],
      expected: ["a", "b"],
    },
  ])("$name", ({ nodes, expected }) => {
    const plan = planGraph(nodes);
    expect(orderedKeys(nodes, plan)).toEqual(expected);
    expectTopological(nodes, plan);
  });
});

describe("planGraph: edges", () => {
  it("splits in-batch keys from existing job ids, per node", () => {
    const nodes = [n("fetch"), n("price", "fetch"), n("post", "price", ID_A, "fetch")];
    const plan = planGraph(nodes);
    expect(plan.internal).toEqual([[], [0], [1, 0]]);
    expect(plan.external).toEqual([[], [], [ID_A]]);
  });

  it("deduplicates both kinds of reference, keeping the first occurrence", () => {
    const nodes = [n("a"), n("b"), n("c", "b", ID_A, "a", "b", ID_B, ID_A, "a")];
    const plan = planGraph(nodes);
    expect(plan.internal[2]).toEqual([1, 0]);
    expect(plan.external[2]).toEqual([ID_A, ID_B]);
    expect(plan.references[2]).toEqual([1, ID_A, 0, ID_B]);
  });

  it("treats job ids case-insensitively and returns them lower-cased", () => {
    const plan = planGraph([n("a", ID_A.toUpperCase(), ID_A)]);
    expect(plan.external).toEqual([[ID_A]]);
  });

  it("resolves a reference to a key of the batch first, even when the key looks like a job id", () => {
    const plan = planGraph([n(ID_A), n("b", ID_A)]);
    expect(plan.internal).toEqual([[], [0]]);
    expect(plan.external).toEqual([[], []]);
  });

  it("matches keys exactly (case-sensitive)", () => {
    expect(() => planGraph([n("Fetch"), n("price", "fetch")])).toThrow(UnknownDependencyError);
  });
});

describe("planGraph: rejected input", () => {
  it.each<{ name: string; nodes: GraphNode[]; dependency: string; dependent: string }>([
    { name: "an unknown key", nodes: [n("a"), n("b", "a", "missing")], dependency: "missing", dependent: "b" },
    { name: "an empty reference", nodes: [n("a", "")], dependency: "", dependent: "a" },
    {
      name: "a UUID missing a digit",
      nodes: [n("a", "0b5e2c1a-7d3f-4c8e-9a1b-2f3e4d5c6b7")],
      dependency: "0b5e2c1a-7d3f-4c8e-9a1b-2f3e4d5c6b7",
      dependent: "a",
    },
    { name: "a UUID without dashes", nodes: [n("a", ID_A.replaceAll("-", ""))], dependency: ID_A.replaceAll("-", ""), dependent: "a" },
  ])("rejects $name with UnknownDependencyError naming it and its dependent", ({ nodes, dependency, dependent }) => {
    let caught: unknown;
    try {
      planGraph(nodes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnknownDependencyError);
    const error = caught as UnknownDependencyError;
    expect(error.code).toBe("UNKNOWN_DEPENDENCY");
    expect(error.dependency).toBe(dependency);
    expect(error.dependent).toBe(dependent);
  });

  it("rejects a duplicate key with a ValidationError naming it", () => {
    const run = () => planGraph([n("a"), n("dup"), n("b"), n("dup", "a")]);
    expect(run).toThrow(ValidationError);
    expect(run).toThrow(/"dup"/);
    try {
      run();
    } catch (err) {
      expect((err as ValidationError).code).toBe("VALIDATION");
      expect((err as ValidationError).issues).toEqual([{ path: "3.key", message: 'duplicate key "dup"' }]);
    }
  });

  it.each<{ name: string; count: number; maxNodes: number | undefined; ok: boolean }>([
    { name: "at an explicit limit", count: 3, maxNodes: 3, ok: true },
    { name: "past an explicit limit", count: 4, maxNodes: 3, ok: false },
    { name: "at the default limit", count: DEFAULT_MAX_GRAPH_NODES, maxNodes: undefined, ok: true },
    { name: "past the default limit", count: DEFAULT_MAX_GRAPH_NODES + 1, maxNodes: undefined, ok: false },
  ])("node count $name ($count)", ({ count, maxNodes, ok }) => {
    const nodes = Array.from({ length: count }, (_, i) => n(`k${i}`));
    const run = () => (maxNodes === undefined ? planGraph(nodes) : planGraph(nodes, { maxNodes }));
    if (ok) expect(run().order).toHaveLength(count);
    else expect(run).toThrow(ValidationError);
  });

  it("the default limit is 10,000", () => {
    expect(DEFAULT_MAX_GRAPH_NODES).toBe(10_000);
  });
});

describe("planGraph: cycles", () => {
  // The cycle reads in the dependency direction (each key depends on the next) and starts at the
  // first of its nodes the walk reaches: walks start from nodes in input order, follow dependsOn in order.
  it.each<{ name: string; nodes: GraphNode[]; cycle: string[] }>([
    { name: "self-edge", nodes: [n("a", "a")], cycle: ["a", "a"] },
    { name: "self-edge among other edges", nodes: [n("b"), n("a", "b", "a")], cycle: ["a", "a"] },
    { name: "2-cycle", nodes: [n("a", "b"), n("b", "a")], cycle: ["a", "b", "a"] },
    { name: "2-cycle entered from the other side", nodes: [n("b", "a"), n("a", "b")], cycle: ["b", "a", "b"] },
    {
      name: "3-cycle behind a lead-in: only the cycle is reported",
      nodes: [n("x", "a"), n("a", "b"), n("b", "c"), n("c", "a")],
      cycle: ["a", "b", "c", "a"],
    },
    {
      name: "the same graph in reverse input order starts where the walk enters",
      nodes: [n("c", "a"), n("b", "c"), n("a", "b"), n("x", "a")],
      cycle: ["c", "a", "b", "c"],
    },
    {
      name: "cycle reached only after a finished part of the graph",
      nodes: [n("ok"), n("d", "ok"), n("p", "d", "q"), n("q", "r"), n("r", "p")],
      cycle: ["p", "q", "r", "p"],
    },
    {
      name: "cycle through a node also reachable without one (diamond plus back edge)",
      nodes: [n("top", "l", "r"), n("l", "bottom"), n("r", "bottom"), n("bottom", "r")],
      cycle: ["bottom", "r", "bottom"],
    },
  ])("$name", ({ nodes, cycle }) => {
    const found = cycleOf(nodes);
    expect(found).toEqual(cycle);
  });

  it("puts the path in the error message and details", () => {
    try {
      planGraph([n("a", "b"), n("b", "a")]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DependencyCycleError);
      const error = err as DependencyCycleError;
      expect(error.code).toBe("DEPENDENCY_CYCLE");
      expect(error.message).toBe("dependency cycle: a -> b -> a");
      expect(error.details).toEqual({ cycle: ["a", "b", "a"] });
    }
  });

  it("reports unknown references before looking for cycles", () => {
    expect(() => planGraph([n("a", "b"), n("b", "a", "nope")])).toThrow(UnknownDependencyError);
  });
});

describe("planGraph: large graphs", () => {
  const size = 10_000;

  it("plans a 10,000-node chain given dependents first (deepest walk) without overflowing the stack", () => {
    const nodes = Array.from({ length: size }, (_, i) => (i === size - 1 ? n(`k${i}`) : n(`k${i}`, `k${i + 1}`)));
    const plan = planGraph(nodes);
    expect(plan.order).toEqual(Array.from({ length: size }, (_, i) => size - 1 - i));
    expectTopological(nodes, plan);
  });

  it("plans a 10,000-node chain given in order unchanged", () => {
    const nodes = Array.from({ length: size }, (_, i) => (i === 0 ? n("k0") : n(`k${i}`, `k${i - 1}`)));
    expect(planGraph(nodes).order).toEqual(Array.from({ length: size }, (_, i) => i));
  });

  it("reports a 10,000-node cycle in full", () => {
    const nodes = Array.from({ length: size }, (_, i) => n(`k${i}`, `k${(i + 1) % size}`));
    const cycle = cycleOf(nodes);
    expect(cycle).toHaveLength(size + 1);
    expect(cycle.slice(0, 3)).toEqual(["k0", "k1", "k2"]);
    expect(cycle.slice(-2)).toEqual([`k${size - 1}`, "k0"]);
  });

  it("plans a random 10,000-node DAG with ~30,000 edges", () => {
    const random = seededRandom(42);
    // Rank r may depend only on lower ranks (acyclic); input positions are shuffled so the input is not sorted.
    const positions = Array.from({ length: size }, (_, i) => i);
    for (let i = size - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [positions[i], positions[j]] = [positions[j]!, positions[i]!];
    }
    const dependsOn: string[][] = Array.from({ length: size }, () => []);
    let edges = 0;
    while (edges < 30_000) {
      const a = Math.floor(random() * size);
      const b = Math.floor(random() * size);
      if (a === b) continue;
      dependsOn[Math.max(a, b)]!.push(`r${Math.min(a, b)}`);
      edges++;
    }
    const nodes = new Array<GraphNode>(size);
    for (let rank = 0; rank < size; rank++) nodes[positions[rank]!] = { key: `r${rank}`, dependsOn: dependsOn[rank]! };

    const plan = planGraph(nodes);
    expectTopological(nodes, plan);
    const internalEdges = plan.internal.reduce((sum, list) => sum + list.length, 0);
    expect(internalEdges).toBeGreaterThan(29_000); // a few duplicates are merged
    expect(internalEdges).toBeLessThanOrEqual(30_000);
  });
});

describe("isJobId", () => {
  it.each<[string, boolean]>([
    [ID_A, true],
    [ID_B, true],
    [ID_B.toUpperCase(), true],
    ["00000000-0000-0000-0000-000000000000", true],
    ["", false],
    ["fetch", false],
    [ID_A.replaceAll("-", ""), false],
    [`{${ID_A}}`, false],
    [`${ID_A} `, false],
    [`${ID_A}\n`, false],
    ["0b5e2c1a-7d3f-4c8e-9a1b-2f3e4d5c6b7g", false],
    ["0b5e2c1a7-d3f-4c8e-9a1b-2f3e4d5c6b7a", false],
  ])("%j -> %s", (value, expected) => {
    expect(isJobId(value)).toBe(expected);
  });
});
