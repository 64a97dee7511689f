import { dependencyError, indexDependents, planCascade, type CascadeRoot } from "../../cascade.js";
import type { JobId } from "../../types.js";
import type { ChangeSet } from "./change-set.js";
import { cancelDependents, selectCascadeCandidates } from "./sql/cascade.js";
import type { Db } from "./sql/fragments.js";

/**
 * Cancels every blocked or pending transitive dependent of `roots` (jobs this transaction just
 * failed or cancelled, their dependents already locked by `lockAffectedJobs`), as `planCascade`
 * plans it: one read of the jobs below, one update. Records each change, parents before children,
 * and answers the victims by root.
 */
export async function cascadeIn(sql: Db, schema: string, roots: readonly CascadeRoot[], changes: ChangeSet): Promise<Map<JobId, JobId[]>> {
  const byRoot = new Map<JobId, JobId[]>();
  if (roots.length === 0) return byRoot;
  const candidates = await selectCascadeCandidates(sql, schema, roots.map((root) => root.id));
  if (candidates.length === 0) return byRoot;

  const byId = new Map(candidates.map((row) => [row.id, { id: row.id, status: row.status, seq: Number(row.seq), dependsOn: row.depends_on }]));
  const dependents = indexDependents(byId.values());
  const victims = planCascade(roots, (id) => dependents.get(id) ?? [], (id) => byId.get(id));
  if (victims.length === 0) return byRoot;

  const cancelled = new Map(
    (await cancelDependents(sql, schema, victims.map((v) => ({ id: v.id, cause: v.cause, error: dependencyError(v.cause, v.causeStatus) })))).map(
      (row) => [row.id, row],
    ),
  );
  for (const victim of victims) {
    const row = cancelled.get(victim.id);
    if (row === undefined) continue;
    changes.status(row);
    const list = byRoot.get(victim.root);
    if (list === undefined) byRoot.set(victim.root, [victim.id]);
    else list.push(victim.id);
  }
  return byRoot;
}
