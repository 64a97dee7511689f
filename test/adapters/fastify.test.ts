import { expect, it } from "vitest";
import { Queue } from "../../src/index.js";
import { describeHttpAdapter } from "./http-suite.js";
import { request, startFastifyApp } from "./support.js";

describeHttpAdapter("fastify", startFastifyApp);

it("answers an unknown path under its prefix with our error shape: 404 NOT_FOUND", async () => {
  const queue = new Queue();
  const app = await startFastifyApp(queue);
  try {
    for (const path of ["/nope", "/jobs/x/y"]) {
      const res = await request("GET", `${app.api}${path}`);
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: { code: "NOT_FOUND", message: expect.stringContaining(path) } });
    }
  } finally {
    await app.close();
    await queue.shutdown();
  }
});
