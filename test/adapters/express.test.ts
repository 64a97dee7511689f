import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, expect, it } from "vitest";
import { attachStatusSocket, jobgraphRouter } from "../../adapters/express.js";
import { Queue } from "../../src/index.js";
import { upgradeAnswer } from "./harness.js";
import { describeHttpAdapter } from "./http-suite.js";
import { startExpressApp } from "./support.js";

describeHttpAdapter("express", startExpressApp);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it("leaves upgrades outside its prefix to the application's own upgrade listener, and answers 404 under its prefix", async () => {
  const queue = new Queue();
  const app = express();
  app.use("/api", jobgraphRouter(queue));
  const server = createServer(app);
  const socket = attachStatusSocket(server, queue, { prefix: "/api" });
  server.on("upgrade", (req, raw) => {
    if (req.url !== "/app-socket") return;
    raw.end("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    socket.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await queue.shutdown();
  });
  const origin = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mine = await upgradeAnswer(`${origin}/app-socket`);
  expect(mine.head).toMatch(/^HTTP\/1\.1 418 /);
  expect(mine.head).not.toMatch(/404/);
  const unserved = await upgradeAnswer(`${origin}/api/ws/x`);
  expect(unserved.head).toMatch(/^HTTP\/1\.1 404 /);
  expect(unserved.closed).toBe(true);
});
