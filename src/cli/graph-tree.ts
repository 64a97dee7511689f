import type { JobGraph, JobRecord } from "jobgraph";
import { shortId } from "./job-format.js";
import type { Output } from "./output.js";

/**
 * A job graph as an indented tree for terminals: each root (a job with no dependency in the graph)
 * first, then what depends on it, one level deeper. A job reached again (it waits for several jobs)
 * is named once more as "(above)" and not expanded twice; the asked-for job is marked with "*".
 */
export function graphTree(out: Output, graph: JobGraph, focusId: string): string {
  const byId = new Map(graph.jobs.map((job) => [job.id, job]));
  const dependents = new Map<string, string[]>();
  const hasDependency = new Set<string>();
  for (const [dependent, dependency] of graph.edges) {
    if (!byId.has(dependent) || !byId.has(dependency)) continue;
    dependents.set(dependency, [...(dependents.get(dependency) ?? []), dependent]);
    hasDependency.add(dependent);
  }
  const order = (ids: readonly string[]) => [...ids].sort((a, b) => compareJobs(byId.get(a), byId.get(b)));
  const roots = order(graph.jobs.map((job) => job.id).filter((id) => !hasDependency.has(id)));
  const shown = new Set<string>();
  const lines: string[] = [];
  const label = (job: JobRecord) => `${job.id === focusId ? "* " : ""}${shortId(job.id)}  ${job.type}  ${out.status(job.status)}`;
  const visit = (id: string, prefix: string, branch: string) => {
    const job = byId.get(id);
    if (job === undefined) return;
    if (shown.has(id)) {
      lines.push(`${prefix}${branch}${out.dim(`${shortId(id)}  ${job.type}  (above)`)}`);
      return;
    }
    shown.add(id);
    lines.push(`${prefix}${branch}${label(job)}`);
    const children = order(dependents.get(id) ?? []);
    const inner = prefix + (branch === "" ? "" : branch === "└─ " ? "   " : "│  ");
    children.forEach((child, i) => visit(child, inner, i === children.length - 1 ? "└─ " : "├─ "));
  };
  for (const root of roots) visit(root, "", "");
  // Only a truncated graph can leave jobs unreached from its roots: list them too.
  for (const job of graph.jobs) if (!shown.has(job.id)) visit(job.id, "", "");
  return lines.join("\n");
}

/** Oldest first, then by id: the same tree every time. */
function compareJobs(a: JobRecord | undefined, b: JobRecord | undefined): number {
  if (a === undefined || b === undefined) return 0;
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
