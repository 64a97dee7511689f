import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIST_PAGE_BYTES, Queue } from "../../src/index.js";
import { assertNoStack, request, StatusClient, type StartApp } from "./support.js";
import { BrokenReadStorage, CountingStorage, harness, parsePrometheus, rawUpgrade, upgradeAnswer } from "./harness.js";
import { checkConventions, parseExposition, PROMETHEUS_FAMILIES, typesOf, valueOf } from "./prometheus-text.js";
import { describeStatusSocket } from "./stream-suite.js";

/** Every family `GET /metrics` answers in Prometheus text, and its type. */
/** The one suite every adapter passes: routes, status codes, bad input, auth, the status socket. */
export function describeHttpAdapter(name: string, start: StartApp): void {
  describe(`${name} adapter`, () => {
    const setup = harness(start);

    describe("POST /jobs", () => {
      it("enqueues a job: 201 with the job, dates as ISO strings", async () => {
        const { api, queue } = await setup({}, { run: false });
        const runAt = "2030-01-02T03:04:05.000Z";
        const res = await request("POST", `${api}/jobs`, { type: "email.send", payload: { to: "a@b.c" }, options: { priority: "high", runAt, idempotencyKey: "k1", maxAttempts: 2 } });
        expect(res.status).toBe(201);
        const job = res.json.job;
        expect(job).toMatchObject({ type: "email.send", status: "pending", priority: "high", payload: { to: "a@b.c" }, runAt, idempotencyKey: "k1", maxAttempts: 2, result: null, error: null, startedAt: null });
        expect(new Date(job.createdAt).toISOString()).toBe(job.createdAt);
        expect((await queue.getJob(job.id))?.status).toBe("pending");
      });

      it("enqueues by type name without a local handler (producers need none)", async () => {
        const { api } = await setup();
        const res = await request("POST", `${api}/jobs`, { type: "report.build" });
        expect(res.status).toBe(201);
        expect(res.json.job).toMatchObject({ type: "report.build", status: "pending", payload: null });
      });

      it.each([
        ["missing type", {}],
        ["type of the wrong kind", { type: 5 }],
        ["empty type", { type: "" }],
        ["unknown field", { type: "report.build", colour: "red" }],
        ["unknown option", { type: "report.build", options: { prioritty: "high" } }],
        ["bad priority", { type: "report.build", options: { priority: "urgent" } }],
        ["runAt not a date", { type: "report.build", options: { runAt: "tomorrow" } }],
        ["maxAttempts out of range", { type: "report.build", options: { maxAttempts: 0 } }],
        ["dependsOn not ids", { type: "report.build", options: { dependsOn: ["nope"] } }],
        ["payload against the handler's schema", { type: "email.send", payload: { to: 42 } }],
        ["a JSON array body", [1, 2]],
        ["a JSON string body", "\"job\""],
        ["a type with forbidden characters", { type: "a b" }],
        ["a payload nested 2,500 deep", `{"type":"report.build","payload":${"[".repeat(2_500)}${"]".repeat(2_500)}}`],
        ["a payload nested 20,000 deep", `{"type":"report.build","payload":${"[".repeat(20_000)}${"]".repeat(20_000)}}`],
        ["runAt in year 0", { type: "report.build", options: { runAt: "0000-06-01T00:00:00Z" } }],
        ["runAt in year 0 once its offset is applied", { type: "report.build", options: { runAt: "0001-01-01T00:00:00+23:59" } }],
        ["runAt past year 9999 once its offset is applied", { type: "report.build", options: { runAt: "9999-12-31T23:00:00-02:00" } }],
      ])("400 VALIDATION on %s, nothing stored", async (_label, body) => {
        const { api, queue } = await setup();
        const res = await request("POST", `${api}/jobs`, body);
        expect(res.status).toBe(400);
        expect(res.json.error.code).toBe("VALIDATION");
        expect(typeof res.json.error.message).toBe("string");
        assertNoStack(res.text);
        expect((await queue.listJobs()).jobs).toHaveLength(0);
      });

      it("lists field issues in details", async () => {
        const { api } = await setup();
        const res = await request("POST", `${api}/jobs`, { type: 5, extra: true });
        expect(res.json.error.details.issues.length).toBeGreaterThanOrEqual(2);
        expect(res.json.error.details.issues.map((i: { path: string }) => i.path)).toContain("body.type");
      });

      it("400 UNKNOWN_DEPENDENCY for a dependency that does not exist", async () => {
        const { api } = await setup();
        const res = await request("POST", `${api}/jobs`, { type: "report.build", options: { dependsOn: [randomUUID()] } });
        expect(res.status).toBe(400);
        expect(res.json.error.code).toBe("UNKNOWN_DEPENDENCY");
      });

      it("409 DUPLICATE_JOB with existingJobId; return-existing answers the live job", async () => {
        const { api } = await setup();
        const first = await request("POST", `${api}/jobs`, { type: "report.build", options: { idempotencyKey: "once" } });
        const second = await request("POST", `${api}/jobs`, { type: "report.build", options: { idempotencyKey: "once" } });
        expect(second.status).toBe(409);
        expect(second.json.error).toMatchObject({ code: "DUPLICATE_JOB", details: { existingJobId: first.json.job.id, existingStatus: "pending" } });
        const third = await request("POST", `${api}/jobs`, { type: "report.build", options: { idempotencyKey: "once", onDuplicate: "return-existing" } });
        expect(third.status).toBe(201);
        expect(third.json.job.id).toBe(first.json.job.id);
      });

      it("422 UNKNOWN_JOB_TYPE for a type outside allowedTypes", async () => {
        const { api, queue } = await setup({ allowedTypes: ["email.send"] });
        const res = await request("POST", `${api}/jobs`, { type: "report.build" });
        expect(res.status).toBe(422);
        expect(res.json.error).toMatchObject({ code: "UNKNOWN_JOB_TYPE", details: { type: "report.build" } });
        const batch = await request("POST", `${api}/jobs/batch`, { jobs: [{ key: "a", type: "email.send", payload: { to: "x" } }, { key: "b", type: "report.build" }] });
        expect(batch.status).toBe(422);
        expect((await queue.listJobs()).jobs).toHaveLength(0);
        expect((await request("POST", `${api}/jobs`, { type: "email.send", payload: { to: "x" } })).status).toBe(201);
      });

      it("400 MALFORMED_JSON on malformed JSON, 415 on a body that is not JSON", async () => {
        const { api } = await setup();
        for (const text of ["{", "{\"type\":", "nope", "{'type':'x'}"]) {
          const res = await request("POST", `${api}/jobs`, text);
          expect(res.status).toBe(400);
          expect(res.json.error.code).toBe("MALFORMED_JSON");
          assertNoStack(res.text);
        }
        for (const [text, key] of [
          ['{"type":"t","payload":{"__proto__":{"admin":true}}}', "__proto__"],
          ['{"type":"t","payload":{"constructor":{"prototype":{"admin":true}}}}', "constructor.prototype"],
          ['{"__proto__":{"limit":1}}', "__proto__"],
        ] as const) {
          // Valid JSON, refused for what it holds: the answer names the key, not a syntax error.
          const res = await request("POST", `${api}/jobs`, text);
          expect(res.status).toBe(400);
          expect(res.json.error).toEqual({ code: "VALIDATION", message: `the request body has a forbidden key: ${key}` });
          const retry = await request("POST", `${api}/jobs/retry`, text);
          expect(retry.json.error.code).toBe("VALIDATION");
          expect(retry.json.error.message).toContain(key);
        }
        const empty = await request("POST", `${api}/jobs/${randomUUID()}/cancel`, "", { "content-type": "application/json" });
        expect(empty.json.error.code).toBe("JOB_NOT_FOUND");
        const xml = await request("POST", `${api}/jobs`, "<job/>", { "content-type": "application/xml" });
        expect(xml.status).toBe(415);
        expect(xml.json.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      });

      it("400 BAD_REQUEST in the error shape for a path that does not percent-decode", async () => {
        const { api } = await setup({}, { run: false });
        for (const [method, path] of [["GET", "/jobs/%ff"], ["GET", "/jobs/%zz/logs"], ["POST", "/jobs/%e0%a4%a/cancel"]] as const) {
          const res = await request(method, `${api}${path}`);
          expect(res.status, path).toBe(400);
          expect(res.json, path).toEqual({ error: { code: "BAD_REQUEST", message: "the request URL is malformed" } });
        }
      });

      it("413 PAYLOAD_TOO_LARGE past bodyLimitBytes, and past the 1 MiB default", async () => {
        const small = await setup({ bodyLimitBytes: 1_024 });
        const res = await request("POST", `${small.api}/jobs`, { type: "report.build", payload: { blob: "x".repeat(2_000) } });
        expect(res.status).toBe(413);
        expect(res.json.error.code).toBe("PAYLOAD_TOO_LARGE");
        expect((await request("POST", `${small.api}/jobs`, { type: "report.build", payload: { blob: "x".repeat(500) } })).status).toBe(201);
        const big = await setup();
        const huge = await request("POST", `${big.api}/jobs/batch`, { jobs: [{ key: "a", type: "report.build", payload: "y".repeat(1_100_000) }] });
        expect(huge.status).toBe(413);
        assertNoStack(huge.text);
        expect((await small.queue.listJobs()).jobs).toHaveLength(1);
        expect((await big.queue.listJobs()).jobs).toHaveLength(0);
      });
    });

    describe("POST /jobs/batch", () => {
      it("stores a graph: 201 with the jobs in input order, dependents blocked", async () => {
        const { api } = await setup({}, { run: false });
        const res = await request("POST", `${api}/jobs/batch`, {
          jobs: [
            { key: "post", type: "report.build", dependsOn: ["price"] },
            { key: "fetch", type: "report.build" },
            { key: "price", type: "report.build", dependsOn: ["fetch"], options: undefined },
          ],
        });
        expect(res.status).toBe(201);
        const [post, fetchJob, price] = res.json.jobs;
        expect([post.status, fetchJob.status, price.status]).toEqual(["blocked", "pending", "blocked"]);
        expect(price.dependsOn).toEqual([fetchJob.id]);
        expect(post.dependsOn).toEqual([price.id]);
      });

      it("400 DEPENDENCY_CYCLE with the cycle path in details, nothing stored", async () => {
        const { api, queue } = await setup();
        const res = await request("POST", `${api}/jobs/batch`, {
          jobs: [
            { key: "a", type: "report.build", dependsOn: ["b"] },
            { key: "b", type: "report.build", dependsOn: ["c"] },
            { key: "c", type: "report.build", dependsOn: ["a"] },
          ],
        });
        expect(res.status).toBe(400);
        expect(res.json.error).toMatchObject({ code: "DEPENDENCY_CYCLE", details: { cycle: ["a", "b", "c", "a"] } });
        expect((await queue.listJobs()).jobs).toHaveLength(0);
      });

      it.each([
        ["no jobs", { jobs: [] }],
        ["jobs not a list", { jobs: { a: 1 } }],
        ["a node without key", { jobs: [{ type: "report.build" }] }],
        ["duplicate keys", { jobs: [{ key: "a", type: "report.build" }, { key: "a", type: "report.build" }] }],
        ["unknown top-level field", { jobs: [{ key: "a", type: "report.build" }], atomic: false }],
        ["bad onDuplicate", { jobs: [{ key: "a", type: "report.build" }], onDuplicate: "ignore" }],
        ["too many jobs", { jobs: Array.from({ length: 1_001 }, (_, i) => ({ key: `k${i}`, type: "t" })) }],
      ])("400 on %s", async (_label, body) => {
        const { api, queue } = await setup();
        const res = await request("POST", `${api}/jobs/batch`, body);
        expect(res.status).toBe(400);
        expect(["VALIDATION", "UNKNOWN_DEPENDENCY"]).toContain(res.json.error.code);
        expect((await queue.listJobs()).jobs).toHaveLength(0);
      });

      it("400 UNKNOWN_DEPENDENCY for a reference that is neither a key nor a job", async () => {
        const { api } = await setup();
        const res = await request("POST", `${api}/jobs/batch`, { jobs: [{ key: "a", type: "report.build", dependsOn: ["ghost"] }] });
        expect(res.status).toBe(400);
        expect(res.json.error).toMatchObject({ code: "UNKNOWN_DEPENDENCY", details: { dependency: "ghost" } });
      });
    });

    describe("reading jobs", () => {
      it("GET /jobs filters by status and type (comma-separated or repeated) and pages with a cursor", async () => {
        const { api } = await setup({}, { run: false });
        for (const type of ["a.one", "b.two", "c.three", "a.one", "b.two"]) await request("POST", `${api}/jobs`, { type });
        const all = await request("GET", `${api}/jobs`);
        expect(all.status).toBe(200);
        expect(all.json.jobs).toHaveLength(5);
        expect(all.json.nextCursor).toBeNull();
        expect((await request("GET", `${api}/jobs?type=a.one,b.two`)).json.jobs).toHaveLength(4);
        expect((await request("GET", `${api}/jobs?type=a.one&type=c.three`)).json.jobs).toHaveLength(3);
        expect((await request("GET", `${api}/jobs?status=completed`)).json.jobs).toHaveLength(0);
        expect((await request("GET", `${api}/jobs?status=pending,blocked&type=c.three`)).json.jobs).toHaveLength(1);
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 10; page++) {
          const res: Awaited<ReturnType<typeof request>> = await request("GET", `${api}/jobs?limit=2${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`);
          expect(res.json.jobs.length).toBeLessThanOrEqual(2);
          seen.push(...res.json.jobs.map((j: { id: string }) => j.id));
          cursor = res.json.nextCursor;
          if (cursor === null) break;
        }
        expect(seen).toEqual(all.json.jobs.map((j: { id: string }) => j.id));
      });

      it("GET /jobs bounds a page by bytes too: big jobs come a few per page, every job exactly once", async () => {
        const { api, queue } = await setup({}, { run: false });
        const ids: string[] = [];
        for (let i = 0; i < 12; i++) ids.push((await queue.enqueue("report.build", { blob: `${i}`.padEnd(900_000, "x") })).id);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        for (; pages < 20; pages++) {
          const res: Awaited<ReturnType<typeof request>> = await request("GET", `${api}/jobs?limit=1000${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`);
          expect(res.status).toBe(200);
          expect(res.json.jobs.length).toBeGreaterThan(0);
          expect(res.text.length).toBeLessThanOrEqual(DEFAULT_LIST_PAGE_BYTES + 65_536);
          seen.push(...res.json.jobs.map((j: { id: string }) => j.id));
          cursor = res.json.nextCursor;
          if (cursor === null) break;
        }
        expect(cursor).toBeNull();
        expect(seen).toEqual([...ids].reverse());
        expect(pages + 1).toBe(3); // 4 jobs of 900,000 bytes fit in 4 MiB, a fifth does not
      });

      it.each([
        ["an unknown status", "status=done"],
        ["a limit that is not a number", "limit=ten"],
        ["a limit of 0", "limit=0"],
        ["a limit too large", "limit=5000"],
        ["an unknown parameter", "sort=asc"],
        ["a repeated limit", "limit=1&limit=2"],
      ])("GET /jobs answers 400 for %s", async (_label, query) => {
        const { api } = await setup();
        const res = await request("GET", `${api}/jobs?${query}`);
        expect(res.status).toBe(400);
        expect(res.json.error.code).toBe("VALIDATION");
      });

      it("GET /jobs/:id: 200, 404 for an unknown id, 400 for an invalid one", async () => {
        const { api } = await setup();
        const created = (await request("POST", `${api}/jobs`, { type: "report.build" })).json.job;
        const found = await request("GET", `${api}/jobs/${created.id}`);
        expect(found.status).toBe(200);
        expect(found.json.job).toEqual(created);
        expect((await request("GET", `${api}/jobs/${created.id.toUpperCase()}`)).json.job.id).toBe(created.id);
        const missing = await request("GET", `${api}/jobs/${randomUUID()}`);
        expect(missing.status).toBe(404);
        expect(missing.json.error.code).toBe("JOB_NOT_FOUND");
        for (const bad of ["123", "not-a-uuid", "%27%20or%201%3D1--", `${created.id}x`]) {
          const res = await request("GET", `${api}/jobs/${bad}`);
          expect(res.status).toBe(400);
          expect(res.json.error.code).toBe("VALIDATION");
        }
      });

      it("GET /jobs/:id/logs: the history in order; 404 and 400", async () => {
        const { api, queue } = await setup();
        const created = (await request("POST", `${api}/jobs`, { type: "email.send", payload: { to: "x" } })).json.job;
        await queue.waitFor(created.id);
        const res = await request("GET", `${api}/jobs/${created.id}/logs`);
        expect(res.status).toBe(200);
        const statuses = res.json.logs.filter((l: { kind: string }) => l.kind === "status").map((l: { message: string }) => l.message);
        expect(statuses).toEqual(["pending", "running", "completed"]);
        // The attempts, in the job's HTTP form: dates as ISO strings, nothing absent sent as a key.
        const { attempts } = (await request("GET", `${api}/jobs/${created.id}`)).json.job;
        expect(attempts).toEqual([{ attempt: 1, startedAt: expect.any(String), finishedAt: expect.any(String), outcome: "completed", workerId: expect.any(String) }]);
        for (const date of [attempts[0].startedAt, attempts[0].finishedAt]) expect(new Date(date).toISOString()).toBe(date);
        expect((await request("GET", `${api}/jobs/${randomUUID()}/logs`)).status).toBe(404);
        expect((await request("GET", `${api}/jobs/zzz/logs`)).status).toBe(400);
      });
    });

    describe("cancel and retry", () => {
      it("cancels a pending job; retries it; 409 when retrying a pending job; 404 and 400", async () => {
        const { api } = await setup();
        const created = (await request("POST", `${api}/jobs`, { type: "report.build" })).json.job;
        const cancelled = await request("POST", `${api}/jobs/${created.id}/cancel`);
        expect(cancelled.status).toBe(200);
        expect(cancelled.json.job.status).toBe("cancelled");
        const retried = await request("POST", `${api}/jobs/${created.id}/retry`);
        expect(retried.status).toBe(200);
        expect(retried.json.job.status).toBe("pending");
        const again = await request("POST", `${api}/jobs/${created.id}/retry`);
        expect(again.status).toBe(409);
        expect(again.json.error).toMatchObject({ code: "INVALID_STATE", details: { status: "pending" } });
        for (const action of ["cancel", "retry"]) {
          expect((await request("POST", `${api}/jobs/${randomUUID()}/${action}`)).status).toBe(404);
          expect((await request("POST", `${api}/jobs/1/${action}`)).status).toBe(400);
        }
      });

      it("retries a failed job", async () => {
        const { api, queue } = await setup();
        const created = (await request("POST", `${api}/jobs`, { type: "fail.always" })).json.job;
        await queue.waitFor(created.id);
        const failed = await request("GET", `${api}/jobs/${created.id}`);
        expect(failed.json.job).toMatchObject({ status: "failed", error: { name: "PermanentError", message: "card declined" } });
        expect((await request("POST", `${api}/jobs/${created.id}/retry`)).status).toBe(200);
      });
    });

    describe("redrive and the graph", () => {
      /** Jobs of `fail.always`, failed. */
      async function failedJobs(api: string, queue: Queue, count: number): Promise<string[]> {
        const ids: string[] = [];
        for (let i = 0; i < count; i++) ids.push((await request("POST", `${api}/jobs`, { type: "fail.always" })).json.job.id);
        for (const id of ids) expect((await queue.waitFor(id)).status).toBe("failed");
        return ids;
      }

      it("POST /jobs/retry retries the failed jobs matching the filter and answers how many", async () => {
        const { api, queue } = await setup();
        const [first] = await failedJobs(api, queue, 2);
        const finished = (await queue.getJob(first!))!.finishedAt!.toISOString();
        expect((await request("POST", `${api}/jobs/retry`, { type: "report.build" })).json).toEqual({ retried: 0 });
        expect((await request("POST", `${api}/jobs/retry`, { status: "failed", finishedBefore: finished })).json).toEqual({ retried: 0 });
        const res = await request("POST", `${api}/jobs/retry`, { status: ["failed"], type: "fail.always", finishedAfter: "2000-01-01T00:00:00Z", limit: 10 });
        expect(res.status).toBe(200);
        expect(res.json).toEqual({ retried: 2 });
        const history = await queue.getJobLogs(first!);
        expect(history.filter((entry) => entry.kind === "status" && entry.message === "pending").map((entry) => entry.data)).toContainEqual({ from: "failed" });
      });

      it("POST /jobs/retry: a request without a body is the empty filter; a malformed or blank-but-present body is still a 400", async () => {
        const { api, queue } = await setup();
        const ids = await failedJobs(api, queue, 2);
        expect((await request("POST", `${api}/jobs/retry`, "{", { "content-type": "application/json" })).json.error.code).toBe("MALFORMED_JSON");
        expect((await request("POST", `${api}/jobs/retry`, "null", { "content-type": "application/json" })).json.error.code).toBe("VALIDATION");
        for (const id of ids) expect((await queue.getJob(id))?.status).toBe("failed");
        const empty = await request("POST", `${api}/jobs/retry`, "", { "content-type": "application/json" });
        expect(empty.status).toBe(200);
        expect(empty.json).toEqual({ retried: 2 });
        for (const id of ids) expect((await queue.waitFor(id)).status).toBe("failed");
        const none = await request("POST", `${api}/jobs/retry`, undefined);
        expect(none.status).toBe(200);
        expect(none.json).toEqual({ retried: 2 });
      });

      it.each([
        ["a status that is not failed or cancelled", { status: "pending" }],
        ["an empty status list", { status: [] }],
        ["an unknown field", { type: "fail.always", olderThan: "1d" }],
        ["a date that is not ISO 8601", { finishedAfter: "yesterday" }],
        ["a date past year 9999 once its offset is applied", { finishedBefore: "9999-12-31T23:00:00-02:00" }],
        ["finishedAfter later than finishedBefore", { finishedAfter: "2030-01-02T00:00:00Z", finishedBefore: "2030-01-01T00:00:00Z" }],
        ["a limit of 0", { limit: 0 }],
        ["a limit past 10,000", { limit: 10_001 }],
        ["a limit as text", { limit: "5" }],
        ["a type of the wrong kind", { type: 5 }],
        ["a JSON array body", [{ status: "failed" }]],
        ["a JSON string body", "\"failed\""],
        ["null", "null"],
      ])("POST /jobs/retry: 400 VALIDATION on %s, nothing retried", async (_label, body) => {
        const { api, queue } = await setup();
        const [id] = await failedJobs(api, queue, 1);
        const res = await request("POST", `${api}/jobs/retry`, body);
        expect(res.status).toBe(400);
        expect(res.json.error.code).toBe("VALIDATION");
        assertNoStack(res.text);
        expect((await queue.getJob(id!))?.status).toBe("failed");
      });

      it("GET /jobs/:id/graph: ancestors and descendants with edges as [dependent, dependency]; 404 and 400", async () => {
        const { api } = await setup({}, { run: false });
        const batch = await request("POST", `${api}/jobs/batch`, {
          jobs: [
            { key: "top", type: "report.build" },
            { key: "left", type: "report.build", dependsOn: ["top"] },
            { key: "right", type: "report.build", dependsOn: ["top"] },
            { key: "bottom", type: "report.build", dependsOn: ["left", "right"] },
          ],
        });
        const [top, left, , bottom] = batch.json.jobs.map((job: { id: string }) => job.id);
        const res = await request("GET", `${api}/jobs/${left}/graph`);
        expect(res.status).toBe(200);
        expect(res.json.jobs.map((job: { id: string }) => job.id)).toEqual([left, top, bottom]);
        expect(res.json.jobs[0]).toMatchObject({ id: left, status: "blocked", dependsOn: [top] });
        expect(res.json.edges).toEqual([[left, top], [bottom, left]]);
        expect(res.json.truncated).toBe(false);
        expect((await request("GET", `${api}/jobs/${randomUUID()}/graph`)).json.error.code).toBe("JOB_NOT_FOUND");
        expect((await request("GET", `${api}/jobs/${randomUUID()}/graph`)).status).toBe(404);
        expect((await request("GET", `${api}/jobs/nope/graph`)).status).toBe(400);
        expect((await request("GET", `${api}/jobs/${left}/graph?depth=2`)).status).toBe(400);
      });

      it("a refusing authorize retries nothing and shows no graph", async () => {
        const { api, queue } = await setup({ authorize: (req) => (req.headers.authorization === "Bearer admin" ? true : { status: 403 }) });
        const { id } = await queue.enqueue("fail.always");
        expect((await queue.waitFor(id)).status).toBe("failed");
        const refused = await request("POST", `${api}/jobs/retry`, {});
        expect(refused.status).toBe(403);
        expect(refused.json.error.code).toBe("FORBIDDEN");
        expect((await queue.getJob(id!))?.status).toBe("failed");
        expect((await request("GET", `${api}/jobs/${id}/graph`)).status).toBe(403);
        expect((await request("GET", `${api}/jobs/${id}/graph`, undefined, { authorization: "Bearer admin" })).status).toBe(200);
      });
    });

    describe("metrics, health, openapi", () => {
      it("GET /metrics answers JSON by default and Prometheus text on Accept: text/plain", async () => {
        const { api } = await setup({}, { run: false });
        await request("POST", `${api}/jobs`, { type: "report.build", options: { priority: "critical" } });
        const asJson = await request("GET", `${api}/metrics`);
        expect(asJson.status).toBe(200);
        expect(asJson.json.jobs.byStatus.pending).toBe(1);
        const asText = await request("GET", `${api}/metrics`, undefined, { accept: "text/plain" });
        expect(asText.status).toBe(200);
        expect(asText.contentType).toMatch(/^text\/plain/);
        const samples = parsePrometheus(asText.text);
        expect(samples.get('jobgraph_jobs{status="pending"}')).toBe(1);
        expect(samples.get('jobgraph_queue_length{priority="critical"}')).toBe(1);
        expect(samples.get('jobgraph_resource_capacity{resource="cpu"}')).toBe(4);
        // A Prometheus scraper's Accept header.
        const scraped = await request("GET", `${api}/metrics`, undefined, { accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1" });
        expect(parsePrometheus(scraped.text).get('jobgraph_jobs{status="pending"}')).toBe(1);
      });

      it("GET /metrics in Prometheus text counts the jobs in the store once per scrape, not once per family", async () => {
        const storage = new CountingStorage();
        const { api } = await setup({}, { run: false, storage });
        await request("POST", `${api}/jobs`, { type: "report.build" });
        for (const scrape of [1, 2, 3]) {
          const answer = await request("GET", `${api}/metrics`, undefined, { accept: "text/plain" });
          expect(parsePrometheus(answer.text).get('jobgraph_jobs{status="pending"}')).toBe(1);
          expect(storage.countJobsCalls, `after scrape ${scrape}`).toBe(scrape);
        }
        // Scrapes that overlap may share one count; each still gets one.
        const overlapping = await Promise.all([1, 2].map(() => request("GET", `${api}/metrics`, undefined, { accept: "text/plain" })));
        for (const answer of overlapping) expect(parsePrometheus(answer.text).get('jobgraph_jobs{status="pending"}')).toBe(1);
        expect(storage.countJobsCalls).toBeGreaterThanOrEqual(4);
        expect(storage.countJobsCalls).toBeLessThanOrEqual(5);
      });

      it("GET /metrics in Prometheus text: counters, histograms in seconds and gauges, moving as jobs complete and fail", async () => {
        const { api, queue } = await setup();
        const scrape = async () => {
          const answer = await request("GET", `${api}/metrics`, undefined, { accept: "text/plain" });
          expect(answer.status).toBe(200);
          const families = parseExposition(answer.text);
          checkConventions(families);
          return families;
        };
        const before = await scrape();
        expect(typesOf(before)).toEqual(PROMETHEUS_FAMILIES);
        expect(valueOf(before, "jobgraph_jobs_completed_total", "jobgraph_jobs_completed_total", { type: "email.send" })).toBe(0);
        expect(valueOf(before, "jobgraph_run_time_seconds", "jobgraph_run_time_seconds_count", { type: "email.send" })).toBe(0);

        // The events follow the counts, whereas a final status is readable in the store a moment before.
        let finished = 0;
        let allFinished!: () => void;
        const three = new Promise<void>((resolve) => (allFinished = resolve));
        const onFinished = () => void (++finished === 3 && allFinished());
        queue.on("job:completed", onFinished);
        queue.on("job:failed", onFinished);
        await request("POST", `${api}/jobs`, { type: "email.send", payload: { to: "a@b.c" } });
        await request("POST", `${api}/jobs`, { type: "email.send", payload: { to: "d@e.f" } });
        await request("POST", `${api}/jobs`, { type: "fail.always" });
        await three;
        const after = await scrape();
        expect(typesOf(after)).toEqual(PROMETHEUS_FAMILIES);
        const value = (family: string, sample: string, labels: Record<string, string>) => valueOf(after, family, sample, labels);
        expect(value("jobgraph_jobs_completed_total", "jobgraph_jobs_completed_total", { type: "email.send" })).toBe(2);
        expect(value("jobgraph_jobs_completed_total", "jobgraph_jobs_completed_total", { type: "fail.always" })).toBe(0);
        expect(value("jobgraph_jobs_failed_total", "jobgraph_jobs_failed_total", { type: "fail.always" })).toBe(1);
        expect(value("jobgraph_jobs_failed_total", "jobgraph_jobs_failed_total", { type: "email.send" })).toBe(0);
        expect(value("jobgraph_jobs_retried_total", "jobgraph_jobs_retried_total", { type: "fail.always" })).toBe(0);
        for (const [type, count] of [["email.send", 2], ["fail.always", 1]] as const) {
          for (const histogram of ["jobgraph_wait_time_seconds", "jobgraph_run_time_seconds"]) {
            expect(value(histogram, `${histogram}_count`, { type })).toBe(count);
            expect(value(histogram, `${histogram}_bucket`, { type, le: "+Inf" })).toBe(count);
          }
        }
        expect(value("jobgraph_jobs", "jobgraph_jobs", { status: "completed" })).toBe(2);
        expect(value("jobgraph_jobs", "jobgraph_jobs", { status: "failed" })).toBe(1);
      });

      it("GET /health: 200 with the worker state; 503 once the store is closed", async () => {
        const running = await setup();
        expect((await request("GET", `${running.api}/health`)).json).toEqual({ status: "ok", storage: "ok", worker: "running" });
        const stopped = await setup({}, { run: false });
        const res = await request("GET", `${stopped.api}/health`);
        expect(res.status).toBe(200);
        expect(res.json.worker).toBe("stopped");
        await stopped.queue.shutdown();
        const down = await request("GET", `${stopped.api}/health`);
        expect(down.status).toBe(503);
        expect(down.json).toEqual({ status: "unavailable", storage: "unreachable", worker: "stopped" });
      });

      it("503 QUEUE_CLOSED for writes after shutdown", async () => {
        const { api, queue } = await setup();
        await queue.shutdown();
        const res = await request("POST", `${api}/jobs`, { type: "report.build" });
        expect(res.status).toBe(503);
        expect(res.json.error.code).toBe("QUEUE_CLOSED");
      });

      it("GET /openapi.json: an OpenAPI 3.1 document of every route under the mount prefix", async () => {
        const { api } = await setup();
        const res = await request("GET", `${api}/openapi.json`);
        expect(res.status).toBe(200);
        expect(res.json.openapi).toBe("3.1.0");
        expect(Object.keys(res.json.paths).sort()).toEqual(
          [
            "/api/health", "/api/jobs", "/api/jobs/batch", "/api/jobs/retry", "/api/jobs/{id}", "/api/jobs/{id}/cancel", "/api/jobs/{id}/graph",
            "/api/jobs/{id}/logs", "/api/jobs/{id}/retry", "/api/metrics", "/api/openapi.json",
          ].sort(),
        );
        const redrive = res.json.paths["/api/jobs/retry"].post;
        expect(redrive["x-jobgraph-action"]).toBe("jobs:retry");
        expect(Object.keys(redrive.requestBody.content["application/json"].schema.properties)).toEqual(["status", "type", "finishedAfter", "finishedBefore", "limit"]);
        expect(redrive.responses["200"].content["application/json"].schema.properties.retried.type).toBe("integer");
        const graph = res.json.paths["/api/jobs/{id}/graph"].get;
        expect(graph["x-jobgraph-action"]).toBe("jobs:read");
        expect(Object.keys(graph.responses["200"].content["application/json"].schema.properties)).toEqual(["jobs", "edges", "truncated"]);
        const create = res.json.paths["/api/jobs"].post;
        expect(create.requestBody.content["application/json"].schema.required).toEqual(["type"]);
        expect(create.requestBody.content["application/json"].schema.additionalProperties).toBe(false);
        expect(res.json.paths["/api/jobs"].get.parameters.map((p: { name: string }) => p.name)).toEqual(["status", "type", "limit", "cursor"]);
        expect(res.json.paths["/api/jobs/{id}"].get.parameters[0]).toMatchObject({ name: "id", in: "path", required: true });
      });
    });

    describe("errors leak nothing", () => {
      for (const env of [undefined, "development"]) {
        it(`a store failure is a generic 500 and no answer carries a stack (NODE_ENV=${env ?? "unset"})`, async () => {
          const saved = process.env.NODE_ENV;
          if (env === undefined) delete process.env.NODE_ENV;
          else process.env.NODE_ENV = env;
          try {
            const errors: unknown[] = [];
            const { api } = await setup({ onError: (e) => errors.push(e), bodyLimitBytes: 100 }, { storage: new BrokenReadStorage() });
            const res = await request("GET", `${api}/jobs/${BrokenReadStorage.brokenId}`);
            expect(res.status).toBe(500);
            expect(res.json).toEqual({ error: { code: "INTERNAL", message: "internal error" } });
            expect(errors).toHaveLength(1);
            const answers = [
              res,
              await request("POST", `${api}/jobs`, "{oops"),
              await request("POST", `${api}/jobs`, { type: "t", payload: "z".repeat(500) }),
              await request("POST", `${api}/jobs`, { type: 1 }),
              await request("GET", `${api}/jobs/nope`),
              await request("POST", `${api}/jobs/batch`, { jobs: [{ key: "a", type: "t", dependsOn: ["a"] }] }),
            ];
            for (const answer of answers) {
              expect(answer.contentType).toMatch(/^application\/json/);
              expect(Object.keys(answer.json)).toEqual(["error"]);
              assertNoStack(answer.text);
              expect(answer.text).not.toContain("relation");
            }
          } finally {
            if (saved === undefined) delete process.env.NODE_ENV;
            else process.env.NODE_ENV = saved;
          }
        });
      }
    });

    describe("authorization", () => {
      const authorize = (req: { headers: Record<string, string | string[] | undefined> }, action: string) => {
        const token = req.headers.authorization;
        if (token === undefined) return { status: 401 as const };
        if (token === "Bearer boom") throw new Error("auth backend down at db.internal:5432");
        if (token === "Bearer reader") return action === "jobs:read" || action === "status:subscribe";
        return token === "Bearer admin";
      };

      it("every route answers 401 without credentials, 403 without the right, and passes the action", async () => {
        const actions: string[] = [];
        const { api } = await setup({ authorize: (req, action) => (actions.push(action), authorize(req, action)) });
        const id = randomUUID();
        const routes: [string, string, string, unknown?][] = [
          ["POST", "/jobs", "jobs:create", { type: "t" }],
          ["POST", "/jobs/batch", "jobs:create", { jobs: [{ key: "a", type: "t" }] }],
          ["GET", "/jobs", "jobs:read"],
          ["GET", `/jobs/${id}`, "jobs:read"],
          ["GET", `/jobs/${id}/logs`, "jobs:read"],
          ["POST", `/jobs/${id}/cancel`, "jobs:cancel"],
          ["POST", `/jobs/${id}/retry`, "jobs:retry"],
          ["POST", "/jobs/retry", "jobs:retry", {}],
          ["GET", `/jobs/${id}/graph`, "jobs:read"],
          ["GET", "/metrics", "metrics:read"],
          ["GET", "/health", "health:read"],
          ["GET", "/openapi.json", "openapi:read"],
        ];
        for (const [method, path, action, body] of routes) {
          actions.length = 0;
          const anonymous = await request(method, `${api}${path}`, body);
          expect(anonymous.status, `${method} ${path}`).toBe(401);
          expect(anonymous.json.error.code).toBe("UNAUTHORIZED");
          expect(actions).toEqual([action]);
          const reader = await request(method, `${api}${path}`, body, { authorization: "Bearer reader" });
          if (action === "jobs:read") expect(reader.status).not.toBe(403);
          else {
            expect(reader.status, `${method} ${path}`).toBe(403);
            expect(reader.json.error.code).toBe("FORBIDDEN");
          }
          const admin = await request(method, `${api}${path}`, body, { authorization: "Bearer admin" });
          expect([200, 201, 404]).toContain(admin.status);
        }
      });

      it("refuses before reading the body, and an authorize that throws refuses with a bare 500", async () => {
        const { api, queue } = await setup({ authorize, bodyLimitBytes: 100 });
        const big = await request("POST", `${api}/jobs`, { type: "t", payload: "x".repeat(1_000) });
        expect(big.status).toBe(401);
        const boom = await request("POST", `${api}/jobs`, { type: "t" }, { authorization: "Bearer boom" });
        expect(boom.status).toBe(500);
        expect(boom.json).toEqual({ error: { code: "INTERNAL", message: "internal error" } });
        expect((await queue.listJobs()).jobs).toHaveLength(0);
      });

      it("refuses unknown options at mount, so a misspelt authorize cannot leave the routes open", async () => {
        const queue = new Queue();
        await expect(start(queue, { authorise: () => true } as never)).rejects.toThrow(/authorise/);
        await queue.shutdown();
      });

      it("a falsy or odd verdict refuses (fail closed)", async () => {
        for (const verdict of [undefined, "yes", 1, {}, { status: 403 }]) {
          const { api } = await setup({ authorize: () => verdict as never });
          expect((await request("GET", `${api}/jobs`)).status).toBe(403);
        }
      });

      it("refuses the WebSocket upgrade with 401 or 403 and closes nothing else", async () => {
        const { app } = await setup({ authorize });
        const admitted = await StatusClient.connect(app.ws, { authorization: "Bearer reader" });
        await admitted.subscribe();
        await expect(StatusClient.connect(app.ws)).rejects.toMatchObject({ status: 401 });
        await expect(StatusClient.connect(app.ws, { authorization: "Bearer nobody" })).rejects.toMatchObject({ status: 403 });
        await expect(StatusClient.connect(app.ws, { authorization: "Bearer reader", origin: "https://evil.example" })).rejects.toMatchObject({ status: 403 });
        const raw = await rawUpgrade(app.ws, {});
        expect(raw.head).toMatch(/^HTTP\/1\.1 401 /);
        expect(raw.head).not.toMatch(/keep-alive/i);
        await admitted.subscribe(); // still open and answering
        admitted.close();
      });

      it("OPTIONS calls authorize like reading the path: 401 without credentials, 204 with Allow once allowed", async () => {
        const actions: string[] = [];
        const { api } = await setup({ authorize: (req, action) => (actions.push(action), authorize(req, action)) });
        const anonymous = await request("OPTIONS", `${api}/jobs`);
        expect(anonymous.status).toBe(401);
        expect(actions).toEqual(["jobs:read"]);
        const reader = await request("OPTIONS", `${api}/jobs`, undefined, { authorization: "Bearer reader" });
        expect(reader.status).toBe(204);
        expect(reader.contentType).toBe("");
        const cancel = await request("OPTIONS", `${api}/jobs/${randomUUID()}/cancel`, undefined, { authorization: "Bearer reader" });
        expect(cancel.status).toBe(403);
        const admin = await fetch(`${api}/jobs/${randomUUID()}/cancel`, { method: "OPTIONS", headers: { authorization: "Bearer admin" } });
        expect(admin.status).toBe(204);
        expect(admin.headers.get("allow")).toBe("POST, OPTIONS");
      });

      it("answers an upgrade to a path it does not serve with 404 and closes the socket", async () => {
        const { app } = await setup({ authorize });
        const origin = new URL(app.ws).origin;
        for (const path of ["/other", "/api/ws/x", "/api/nothing"]) {
          const answer = await upgradeAnswer(`${origin}${path}`);
          expect(answer.head, path).toMatch(/^HTTP\/1\.1 404 /);
          expect(answer.closed, `${path}: socket closed`).toBe(true);
        }
      });

      it("allows a browser origin listed in allowedOrigins", async () => {
        const { app } = await setup({ statusStream: { allowedOrigins: ["https://ops.example"] } });
        const client = await StatusClient.connect(app.ws, { origin: "https://ops.example" });
        await client.subscribe();
        client.close();
      });
    });

    describeStatusSocket(setup);
  });
}
