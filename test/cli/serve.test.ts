import { createServer } from "node:net";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { PostgresQueues } from "../postgres/support/queues.js";
import { describePostgres, eventually } from "../support/postgres.js";
import { assertBuilt, cliEnv, CliProcess, HANDLERS, runCli } from "./cli-process.js";

describePostgres("jobgraph serve on PostgreSQL", () => {
  const queues = new PostgresQueues();
  const running = new Set<CliProcess>();
  let env: NodeJS.ProcessEnv;

  /** `jobgraph serve` on a free port; answers the process and its base URL once it listens. */
  async function serve(...flags: string[]): Promise<{ server: CliProcess; base: string }> {
    const server = new CliProcess(["serve", "--port", "0", ...flags], env);
    running.add(server);
    const [, base] = await server.waitForLine(/^jobgraph serving (http:\/\/127\.0\.0\.1:\d+\/api)\/jobs \(status socket ws:\/\/127\.0\.0\.1:\d+\/api\/ws\)/, "the listening line");
    return { server, base: base as string };
  }

  beforeAll(() => {
    assertBuilt();
    env = cliEnv(queues.schema);
  });

  afterEach(async () => {
    for (const server of running) await server.kill();
    running.clear();
  });

  afterAll(async () => queues.cleanup());

  it("serves the HTTP API (migrating the schema first) and stops on SIGTERM with exit 0, promising no grace to jobs it does not run", async () => {
    const { server, base } = await serve();
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const page = await fetch(`${base}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/^default-src 'self'/);
    expect(await page.text()).toMatch(/<div id="app">/);
    expect(server.stdout).toMatch(new RegExp(`; dashboard ${base}/ui/$`, "m"));
    // A URL that does not percent-decode: jobgraph's error shape with the dashboard's headers, not Fastify's own answer.
    const undecodable = await fetch(`${base}/ui/%ff`);
    expect(undecodable.status).toBe(400);
    expect(undecodable.headers.get("content-security-policy")).toMatch(/^default-src 'self'/);
    expect(((await undecodable.json()) as { error: { code: string } }).error.code).toBe("BAD_REQUEST");
    const created = await fetch(`${base}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "test.echo", payload: { n: 3 } }) });
    expect(created.status).toBe(201);
    const { job } = (await created.json()) as { job: { id: string; status: string } };
    expect(job.status).toBe("pending");
    // No --worker: nothing runs it.
    const shown = (await (await fetch(`${base}/jobs/${job.id}`)).json()) as { job: { status: string } };
    expect(shown.job.status).toBe("pending");
    server.signal("SIGTERM");
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.stderr).toMatch(/^SIGTERM: stopping \(SIGTERM again exits at once\)$/m);
    expect(server.stderr).not.toMatch(/ms to finish/);
    await (await queues.producer()).cancel(job.id);
  });

  it("with --worker runs the jobs it is given, and streams their status over the socket", async () => {
    const { server, base } = await serve("--worker", "--handlers", HANDLERS, "--concurrency", "2");
    const socket = new WebSocket(`${base.replace(/^http/, "ws")}/ws`);
    const messages: { type: string; id?: string; status?: string }[] = [];
    socket.on("message", (data: Buffer) => messages.push(JSON.parse(data.toString()) as { type: string }));
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    socket.send(JSON.stringify({ type: "subscribe" }));
    // The subscription is in place once the server acknowledges it (or sends anything).
    await eventually(() => (messages.length > 0 ? true : undefined), "the subscription's answer");
    const created = await fetch(`${base}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "test.echo", payload: { n: 4 } }) });
    const { job } = (await created.json()) as { job: { id: string } };
    await eventually(() => (messages.some((m) => m.type === "job" && m.id === job.id && m.status === "completed") ? true : undefined), "the completed status on the socket");
    const shown = (await (await fetch(`${base}/jobs/${job.id}`)).json()) as { job: { status: string; result: unknown } };
    expect(shown.job).toMatchObject({ status: "completed", result: { echoed: { n: 4 } } });
    socket.close();
    server.signal("SIGINT");
    expect((await server.exited).code).toBe(0);
    expect(server.stderr).toMatch(/^SIGINT: no new jobs; running ones have 30000 ms to finish/m);
  });

  it("with --token refuses requests without the bearer token", async () => {
    const { base } = await serve("--token", "s3cret");
    expect((await fetch(`${base}/jobs`)).status).toBe(401);
    expect((await fetch(`${base}/jobs`, { headers: { authorization: "Bearer wrong!" } })).status).toBe(401);
    expect((await fetch(`${base}/jobs`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
  });

  it("with --json prints one listening event; --no-dashboard serves no dashboard", async () => {
    const server = new CliProcess(["serve", "--port", "0", "--json", "--no-dashboard"], env);
    running.add(server);
    const [line] = await server.waitForLine(/^\{"event":"listening".*$/, "the listening event");
    const event = JSON.parse(line) as { url: string; port: number };
    expect(event).toEqual({ event: "listening", url: `http://127.0.0.1:${event.port}/api`, port: expect.any(Number), schema: queues.schema, worker: false, dashboard: null });
    expect((await fetch(`${event.url}/health`)).status).toBe(200);
    expect((await fetch(`${event.url}/ui/`)).status).toBe(404);
  });

  it("a port already taken is a failure (exit 1) that says so", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = blocker.address() as { port: number };
      const result = await runCli(["serve", "--port", String(port)], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: cannot serve: .*EADDRINUSE/m);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
