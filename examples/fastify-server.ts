/**
 * jobgraph mounted on Fastify: the routes at /api, live job status at ws://localhost:3000/api/ws.
 *
 *   npx tsx examples/fastify-server.ts          # MemoryStorage
 *   DATABASE_URL=postgres://... API_TOKEN=secret npx tsx examples/fastify-server.ts
 */
import Fastify from "fastify";
import { jobgraphPlugin } from "../adapters/fastify.js";
import { ALLOWED_TYPES, authorizeFromEnv, createServiceQueue } from "./service-queue.js";

const port = Number(process.env.PORT ?? 3000);
const { queue, label } = await createServiceQueue();

const app = Fastify({ logger: { level: "warn" } });
await app.register(jobgraphPlugin, { queue, prefix: "/api", authorize: authorizeFromEnv, allowedTypes: ALLOWED_TYPES, onError: (error) => app.log.error(error) });
await app.listen({ port, host: "127.0.0.1" });
console.log(`jobgraph on Fastify (${label}): http://localhost:${port}/api/jobs, ws://localhost:${port}/api/ws`);

const stop = async () => {
  await queue.shutdown(); // closes the status sockets with 1001 once nothing runs
  await queue.storage.close(); // a store passed to the queue stays open until its owner closes it
  await app.close();
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
