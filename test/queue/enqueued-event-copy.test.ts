import { afterEach, describe, expect, it } from "vitest";
import { closeAll, newQueue } from "../queue/support.js";

afterEach(closeAll);

describe("job:enqueued listener and the caller", () => {
  it("a listener that changes the job it was given does not change what enqueue answers", async () => {
    const { queue } = newQueue();
    queue.on("job:enqueued", ({ job }) => {
      (job.payload as { amount: number }).amount = 0;
      (job as { status: string }).status = "completed";
    });
    const job = await queue.enqueue("payments.settle", { amount: 100 });
    const stored = await queue.getJob(job.id);
    expect(stored).toMatchObject({ status: "pending", payload: { amount: 100 } });
    expect(job).toMatchObject({ status: "pending", payload: { amount: 100 } });
  });
});
