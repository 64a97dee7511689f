import { describe, expect, it } from "vitest";
import { graphTree } from "../../src/cli/graph-tree.js";
import { colourWanted, renderTable, type Output } from "../../src/cli/output.js";
import type { JobRecord, JobStatus } from "../../src/types.js";

/** An output that marks statuses with brackets instead of colours, so the tree's text is checked. */
const plain: Output = {
  json: false,
  line: () => undefined,
  printJson: () => undefined,
  note: () => undefined,
  status: (status, text = status) => `[${text}]`,
  dim: (text) => text,
};

let created = 0;
function job(id: string, type: string, status: JobStatus): JobRecord {
  created += 1;
  return { id, type, status, createdAt: new Date(created * 1_000) } as JobRecord;
}

// Ids whose first 8 characters (what the tree shows) are readable.
const FETCH = "fetch000-0000-4000-8000-000000000001";
const LEFT = "left0000-0000-4000-8000-000000000002";
const RIGHT = "right000-0000-4000-8000-000000000003";
const POST = "post0000-0000-4000-8000-000000000004";

describe("the CLI's text output", () => {
  it("draws a diamond as a tree from its root, naming the shared dependent again as (above)", () => {
    const graph = {
      jobs: [job(FETCH, "rates.fetch", "completed"), job(LEFT, "orders.price", "completed"), job(RIGHT, "orders.tax", "failed"), job(POST, "ledger.post", "cancelled")],
      edges: [
        [LEFT, FETCH],
        [RIGHT, FETCH],
        [POST, LEFT],
        [POST, RIGHT],
      ] as [string, string][],
      truncated: false,
    };
    expect(graphTree(plain, graph, RIGHT).split("\n")).toEqual([
      "fetch000  rates.fetch  [completed]",
      "├─ left0000  orders.price  [completed]",
      "│  └─ post0000  ledger.post  [cancelled]",
      "└─ * right000  orders.tax  [failed]",
      "   └─ post0000  ledger.post  (above)",
    ]);
  });

  it("lists jobs a truncated graph cut off from their roots, and ignores edges to jobs not listed", () => {
    const graph = { jobs: [job(LEFT, "a", "pending"), job(POST, "b", "blocked")], edges: [[LEFT, FETCH] as [string, string], [POST, LEFT] as [string, string]], truncated: true };
    expect(graphTree(plain, graph, POST).split("\n")).toEqual(["left0000  a  [pending]", "└─ * post0000  b  [blocked]"]);
  });

  it("pads table columns by visible width, colour codes taking no room", () => {
    const red = "\u001b[31mfailed\u001b[0m";
    expect(renderTable(["ID", "STATUS", "X"], [["a", red, "1"], ["bbbb", "ok", "22"]]).split("\n")).toEqual(["ID    STATUS  X", `a     ${red}  1`, "bbbb  ok      22"]);
  });

  it("colours only on a terminal and never with NO_COLOR", () => {
    expect(colourWanted({ isTTY: true }, {})).toBe(true);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: "" })).toBe(true);
    expect(colourWanted({ isTTY: false }, {})).toBe(false);
    expect(colourWanted({}, {})).toBe(false);
  });
});
