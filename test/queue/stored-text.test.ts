import { afterEach, describe, it } from "vitest";
import { closeAll, newQueue, untilStatus } from "./support.js";
import { defineHugeText, expectBoundedText } from "./stored-text-scenario.js";

afterEach(closeAll);

describe("text the memory store keeps", () => {
  it("an 8 MiB error message and log line are stored cut to the bound, in the job, each attempt and the log", async () => {
    const tq = newQueue();
    defineHugeText(tq.queue);
    await tq.queue.start();
    const job = await tq.queue.enqueue("huge.text", {});
    await expectBoundedText(tq.queue, await untilStatus(tq, job.id, "failed"));
  });
});
