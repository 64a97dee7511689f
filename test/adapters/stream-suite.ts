import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { request, StatusClient } from "./support.js";
import { parsePrometheus, type harness } from "./harness.js";

/** The status socket part of the shared suite: streaming, subscriptions, bad messages, slow and silent clients, shutdown. */
export function describeStatusSocket(setup: ReturnType<typeof harness>): void {
    describe("status socket", () => {
      it("streams pending -> running -> completed for a job", async () => {
        const { app, api, gates } = await setup();
        const client = await StatusClient.connect(app.ws);
        await client.subscribe();
        const job = (await request("POST", `${api}/jobs`, { type: "gate", payload: { name: "g1" } })).json.job;
        const running = await client.next((m) => m.id === job.id && m.status === "running", "running");
        expect(running).toMatchObject({ type: "job", jobType: "gate", attempt: 1 });
        gates.open("g1");
        const completed = await client.next((m) => m.id === job.id && m.status === "completed", "completed");
        expect(new Date(completed.at).toISOString()).toBe(completed.at);
        expect(client.statusesOf(job.id)).toEqual(["pending", "running", "completed"]);
        client.close();
      });

      it("a client subscribed to job ids receives only those; unsubscribe stops them", async () => {
        const { app, api, queue } = await setup({}, { run: false });
        const [a, b] = [(await request("POST", `${api}/jobs`, { type: "report.build" })).json.job, (await request("POST", `${api}/jobs`, { type: "report.build" })).json.job];
        const client = await StatusClient.connect(app.ws);
        await client.subscribe([a.id]);
        await queue.cancel(b.id);
        await queue.cancel(a.id);
        await client.next((m) => m.id === a.id && m.status === "cancelled", "a cancelled");
        expect(client.statusesOf(b.id)).toEqual([]);
        client.send({ type: "unsubscribe", jobIds: [a.id] });
        await client.next((m) => m.type === "unsubscribed", "unsubscribe acknowledgement");
        await client.subscribe([b.id]);
        await queue.retry(a.id);
        await queue.retry(b.id);
        await client.next((m) => m.id === b.id && m.status === "pending", "b pending");
        expect(client.statusesOf(a.id)).toEqual(["cancelled"]);
        client.close();
      });

      it("answers a bad message with an error and stays open; too many bad messages close that client", async () => {
        const { app } = await setup({ statusStream: { maxBadMessages: 3 } });
        const client = await StatusClient.connect(app.ws);
        const other = await StatusClient.connect(app.ws);
        client.send("{not json");
        expect(await client.next((m) => m.type === "error")).toMatchObject({ error: { code: "MALFORMED_JSON" } });
        client.send({ type: "subscribe", jobIds: ["nope"] });
        await client.next((m) => m.type === "error" && m.error.code === "VALIDATION");
        await client.subscribe();
        client.send({ type: "dance" });
        expect((await client.closed).code).toBe(1008);
        await other.subscribe();
        other.close();
      });

      it("closes a client that sends a message over the size limit (1009), not the server", async () => {
        const { app } = await setup();
        const client = await StatusClient.connect(app.ws);
        client.send({ type: "subscribe", jobIds: ["x".repeat(100_000)] });
        expect((await client.closed).code).toBe(1009);
        const next = await StatusClient.connect(app.ws);
        await next.subscribe();
        next.close();
      });

      it("drops a client that stops reading once its buffer passes the bound; others keep receiving", async () => {
        const drops: string[] = [];
        const { app, api, queue } = await setup({ statusStream: { maxBufferedBytes: 64 * 1024, onClientDropped: (reason) => drops.push(reason) } }, { run: false });
        const slow = await StatusClient.connect(app.ws);
        const normal = await StatusClient.connect(app.ws);
        await slow.subscribe();
        await normal.subscribe();
        (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
        const nodes = Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, type: "bulk", payload: { padding: "p".repeat(200) } }));
        // Each round publishes 500 changes; the paused client's kernel buffers fill, then ws buffers, then it is dropped.
        for (let round = 0; round < 400 && drops.length === 0; round++) {
          await queue.enqueueMany(nodes);
          await new Promise((resolve) => setImmediate(resolve));
        }
        expect(drops).toEqual(["slow"]);
        const after = (await request("POST", `${api}/jobs`, { type: "report.build" })).json.job;
        await normal.next((m) => m.id === after.id && m.status === "pending", "a change after the drop");
        (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
        expect((await slow.closed).code).toBe(1006);
        normal.close();
      });

      it("pings clients and drops one that stops answering; one that answers stays", async () => {
        const drops: string[] = [];
        let dropped!: () => void;
        const firstDrop = new Promise<void>((resolve) => (dropped = resolve));
        const { app, api } = await setup({ statusStream: { pingIntervalMs: 30, onClientDropped: (reason) => (drops.push(reason), dropped()) } });
        const silent = await StatusClient.connect(app.ws);
        const alive = await StatusClient.connect(app.ws);
        await silent.subscribe();
        await alive.subscribe();
        let pings = 0;
        alive.socket.on("ping", () => (pings += 1));
        (silent.socket as unknown as { _socket: { pause(): void } })._socket.pause();
        await firstDrop;
        expect(drops).toEqual(["unresponsive"]);
        expect(pings).toBeGreaterThanOrEqual(1);
        const job = (await request("POST", `${api}/jobs`, { type: "report.build" })).json.job;
        await alive.next((m) => m.id === job.id, "a change after the drop");
        alive.close();
        silent.close();
      });

      it("exposes the Prometheus gauges on a registry the app passes in", async () => {
        const registry = new Registry();
        const { api } = await setup({ registry }, { run: false });
        await request("POST", `${api}/jobs`, { type: "report.build" });
        expect(parsePrometheus(await registry.metrics()).get('jobgraph_jobs{status="pending"}')).toBe(1);
      });

      it("closes every client with 1001 when the queue shuts down", async () => {
        const { app, queue } = await setup();
        const clients = [await StatusClient.connect(app.ws), await StatusClient.connect(app.ws)];
        for (const client of clients) await client.subscribe();
        await queue.shutdown();
        for (const client of clients) expect((await client.closed).code).toBe(1001);
        const late = await StatusClient.connect(app.ws);
        expect((await late.closed).code).toBe(1001);
      });
    });
}
