/**
 * jobgraph mounted on Express: the routes at /api, live job status at ws://localhost:3000/api/ws.
 *
 *   npx tsx examples/express-server.ts          # MemoryStorage
 *   DATABASE_URL=postgres://... API_TOKEN=secret npx tsx examples/express-server.ts
 */
import { createServer } from "node:http";
import express from "express";
import { attachStatusSocket, jobgraphRouter } from "../adapters/express.js";
import { ALLOWED_TYPES, authorizeFromEnv, createServiceQueue } from "./service-queue.js";

const port = Number(process.env.PORT ?? 3000);
const { queue, label } = await createServiceQueue();

const app = express();
app.use("/api", jobgraphRouter(queue, { authorize: authorizeFromEnv, allowedTypes: ALLOWED_TYPES }));
const server = createServer(app);
const statusSocket = attachStatusSocket(server, queue, { prefix: "/api", authorize: authorizeFromEnv });

server.listen(port, () => console.log(`jobgraph on Express (${label}): http://localhost:${port}/api/jobs, ws://localhost:${port}/api/ws`));

const stop = async () => {
  statusSocket.close();
  await queue.shutdown(); // running jobs get their grace, then are released
  await queue.storage.close(); // a store passed to the queue stays open until its owner closes it
  server.close();
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
