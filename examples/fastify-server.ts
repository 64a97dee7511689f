/**
 * jobgraph mounted on Fastify: the routes at /api, live job status at ws://127.0.0.1:3000/api/ws.
 * PORT sets the port (default 3000); HOST the address to listen on (default 127.0.0.1, this
 * machine only: HOST=0.0.0.0 to serve other machines, e.g. in a container).
 *
 *   npx tsx examples/fastify-server.ts          # MemoryStorage
 *   DATABASE_URL=postgres://... API_TOKEN=secret npx tsx examples/fastify-server.ts
 */
import Fastify from "fastify";
import { jobgraphPlugin } from "jobgraph/fastify";
import { ALLOWED_TYPES, authorizeFromEnv, createServiceQueue } from "./service-queue.js";

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST || "127.0.0.1"; // an empty HOST counts as unset
const { queue, label } = await createServiceQueue();

const app = Fastify({ logger: { level: "warn" } });
await app.register(jobgraphPlugin, { queue, prefix: "/api", authorize: authorizeFromEnv, allowedTypes: ALLOWED_TYPES, onError: (error) => app.log.error(error) });
await app.listen({ port, host });
const { port: bound } = app.server.address() as { port: number };
console.log(`jobgraph on Fastify (${label}): http://${host}:${bound}/api/jobs, ws://${host}:${bound}/api/ws`);

const stop = async () => {
  await queue.shutdown(); // closes the status sockets with 1001 once nothing runs
  await queue.storage.close(); // a store passed to the queue stays open until its owner closes it
  await app.close();
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
