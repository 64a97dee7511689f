/**
 * jobgraph mounted on Express: the routes at /api, live job status at ws://127.0.0.1:3000/api/ws.
 * PORT sets the port (default 3000); HOST the address to listen on (default 127.0.0.1, this
 * machine only: HOST=0.0.0.0 to serve other machines, e.g. in a container).
 *
 *   npx tsx examples/express-server.ts          # MemoryStorage
 *   DATABASE_URL=postgres://... API_TOKEN=secret npx tsx examples/express-server.ts
 */
import { createServer } from "node:http";
import express from "express";
import { attachStatusSocket, jobgraphRouter } from "jobgraph/express";
import { ALLOWED_TYPES, authorizeFromEnv, createServiceQueue } from "./service-queue.js";

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST || "127.0.0.1"; // an empty HOST counts as unset
const { queue, label } = await createServiceQueue();

const app = express();
app.use("/api", jobgraphRouter(queue, { authorize: authorizeFromEnv, allowedTypes: ALLOWED_TYPES }));
const server = createServer(app);
const statusSocket = attachStatusSocket(server, queue, { prefix: "/api", authorize: authorizeFromEnv });

server.listen(port, host, () => {
  const { port: bound } = server.address() as { port: number };
  console.log(`jobgraph on Express (${label}): http://${host}:${bound}/api/jobs, ws://${host}:${bound}/api/ws`);
});

const stop = async () => {
  statusSocket.close();
  await queue.shutdown(); // running jobs get their grace, then are released
  await queue.storage.close(); // a store passed to the queue stays open until its owner closes it
  server.close();
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
