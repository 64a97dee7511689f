/** The examples' `report.build` handler, shared by the HTTP services' queue and `jobgraph worker`'s module. */
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { Queue } from "jobgraph";

export function defineReportHandler(queue: Queue): void {
  queue.defineHandler("report.build", {
    payload: z.object({ month: z.string().regex(/^\d{4}-\d{2}$/) }).strict(),
    resources: { cpu: 1 },
    run: async ({ month }, ctx) => {
      await sleep(2_000, undefined, { signal: ctx.signal });
      return { month, rows: 1_234, inputs: Object.keys(ctx.dependencies).length };
    },
  });
}
