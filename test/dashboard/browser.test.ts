import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobRecord, Storage } from "../../src/index.js";
import { harness } from "../adapters/harness.js";
import { FRAMEWORKS, type AppOptions } from "../adapters/support.js";
import { describeBrowser, launchChromium } from "../support/chromium.js";
import { describePostgres, eventually, newPostgresStorage } from "../support/postgres.js";

// The dashboard in a real browser (Debian's Chromium through playwright-core), served by each
// adapter from a queue on PostgreSQL. Set DASHBOARD_SCREENSHOTS=1 to refresh docs/dashboard-*.png.

const screenshots = process.env.DASHBOARD_SCREENSHOTS === "1";

describeBrowser("dashboard in Chromium", () => {
  describePostgres("on PostgreSQL", () => {
    let browser: Browser;
    const cleanups: (() => Promise<void>)[] = [];
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    describe.each(FRAMEWORKS)("served by %s", (framework, start) => {
      const setup = harness(start);

      /** An app with the dashboard on a fresh schema (the worker not started), and a page that records CSP violations and errors. */
      async function open(options: AppOptions = {}, store: "postgres" | "memory" = "postgres") {
        let storage: Storage | undefined;
        if (store === "postgres") {
          const made = await newPostgresStorage();
          cleanups.push(made.cleanup);
          storage = made.storage;
        }
        const h = await setup({ dashboard: true, ...options }, { ...(storage === undefined ? {} : { storage }), run: false });
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        const problems: string[] = [];
        page.on("console", (message) => {
          if (message.type() === "error" && /Content.Security.Policy|Refused to/i.test(message.text())) problems.push(message.text());
        });
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        cleanups.push(() => context.close());
        const ui = `${h.api}/ui/`;
        return { ...h, page, problems, ui };
      }

      const nodeStatus = (page: Page, id: string) => page.locator(`[data-job-id="${id}"]`).getAttribute("data-status");
      const waitForNode = (page: Page, id: string, status: string) => page.locator(`svg [data-job-id="${id}"][data-status="${status}"]`).waitFor({ timeout: 15_000 });

      it.each(["postgres", "memory"] as const)("draws a diamond graph and recolours its nodes live: pending -> running -> completed, without reloading (%s)", async (store) => {
        const { queue, gates, page, problems, ui } = await open({}, store);
        const [a, b, c, d] = (await queue.enqueueMany([
          { key: "a", type: "gate", payload: { name: "a" } },
          { key: "b", type: "gate", payload: { name: "b" }, dependsOn: ["a"] },
          { key: "c", type: "gate", payload: { name: "c" }, dependsOn: ["a"] },
          { key: "d", type: "gate", payload: { name: "d" }, dependsOn: ["b", "c"] },
        ])) as [JobRecord, JobRecord, JobRecord, JobRecord];
        await page.goto(`${ui}#/jobs/${d.id}/graph`);
        await waitForNode(page, a.id, "pending");
        for (const job of [b, c, d]) expect(await nodeStatus(page, job.id)).toBe("blocked");
        expect(await page.locator("svg [data-job-id]").count()).toBe(4);
        expect(await page.locator("svg path.edge").count()).toBe(4);
        // Every status each node shows, in order, recorded in the page; a reload would lose the record.
        await page.evaluate(RECORD_STATUSES);
        await page.getByRole("status", { name: "Live updates" }).filter({ hasText: "live" }).waitFor();

        await queue.start();
        await waitForNode(page, a.id, "running");
        gates.open("a");
        await waitForNode(page, a.id, "completed");
        await waitForNode(page, b.id, "running");
        await waitForNode(page, c.id, "running");
        expect(await nodeStatus(page, d.id)).toBe("blocked");
        gates.open("b");
        gates.open("c");
        await waitForNode(page, d.id, "running");
        gates.open("d");
        for (const job of [a, b, c, d]) await waitForNode(page, job.id, "completed");
        const seen = await page.evaluate(() => (globalThis as unknown as { seen: Record<string, string[]> }).seen);
        expect(seen[a.id]).toEqual(["pending", "running", "completed"]);
        // A dependent may be claimed before the page draws it pending; it is always seen running, and in order.
        for (const job of [b, c, d]) {
          expect(seen[job.id]?.filter((status) => status !== "pending")).toEqual(["blocked", "running", "completed"]);
          expect(["blocked,pending,running,completed", "blocked,running,completed"]).toContain(seen[job.id]?.join(","));
        }

        // A node opens its job.
        await page.locator(`svg [data-job-id="${b.id}"]`).click();
        await page.getByRole("heading", { name: /gate/ }).waitFor();
        expect(page.url()).toContain(`#/jobs/${b.id}`);
        await page.getByRole("region", { name: "Depends on" }).getByRole("link", { name: a.id.slice(0, 8) }).waitFor();
        await page.getByRole("region", { name: "Dependents" }).getByRole("link", { name: d.id.slice(0, 8) }).waitFor();
        const attempt = page.getByRole("table", { name: "Attempts" }).getByRole("row").nth(1);
        await attempt.getByRole("cell", { name: "completed", exact: true }).waitFor();
        expect(await attempt.getByRole("cell").first().textContent()).toBe("1");
        expect(problems).toEqual([]);
      });

      it("cancels a job from its page", async () => {
        const { api, queue, page, problems, ui } = await open();
        const job = await queue.enqueue("report.build", { month: "2026-11" });
        await page.goto(`${ui}#/jobs/${job.id}`);
        await page.getByRole("heading", { name: /report\.build/ }).waitFor();
        await expect(page.getByRole("button", { name: "Retry job" }).isDisabled()).resolves.toBe(true);
        await page.getByRole("button", { name: "Cancel job" }).click();
        await page.getByRole("status").filter({ hasText: "the job is cancelled" }).waitFor();
        await page.getByRole("heading", { name: /cancelled/ }).waitFor();
        expect((await queue.getJob(job.id))?.status).toBe("cancelled");
        await expect(page.getByRole("button", { name: "Cancel job" }).isDisabled()).resolves.toBe(true);
        await page.getByRole("button", { name: "Retry job" }).click();
        await eventually(async () => ((await queue.getJob(job.id))?.status === "pending" ? true : undefined), "pending again");
        expect(api).toContain("/api");
        expect(problems).toEqual([]);
      });

      it("lists jobs by status with their counts, live, and finds a job by id", async () => {
        const { queue, page, problems, ui } = await open();
        const first = await queue.enqueue("email.send", { to: "a@example.com" });
        await page.goto(ui);
        await page.getByRole("table", { name: "Jobs" }).locator(`[data-job-id="${first.id}"]`).waitFor();
        const second = await queue.enqueue("email.send", { to: "b@example.com" });
        await page.getByRole("table", { name: "Jobs" }).locator(`[data-job-id="${second.id}"]`).waitFor();
        await page.getByRole("navigation", { name: "Jobs by status" }).getByRole("link", { name: /pending 2/ }).waitFor();
        await queue.start();
        await page.getByRole("navigation", { name: "Jobs by status" }).getByRole("link", { name: /completed 2/ }).waitFor({ timeout: 15_000 });
        await page.getByRole("combobox", { name: "Status" }).selectOption("completed");
        await page.getByRole("table", { name: "Jobs" }).locator(`[data-job-id="${first.id}"]`).getByText("completed").waitFor();
        await page.getByRole("textbox", { name: "Job id" }).fill(second.id);
        await page.getByRole("button", { name: "Open job" }).click();
        await page.getByText(second.id, { exact: true }).waitFor();
        await page.getByRole("region", { name: "Payload" }).getByText("b@example.com").waitFor();
        expect(problems).toEqual([]);
      });

      it("charts the metrics over time", async () => {
        const { queue, page, problems, ui } = await open();
        await queue.start();
        await queue.enqueue("email.send", { to: "a@example.com" });
        await page.goto(`${ui}#/metrics`);
        for (const title of ["Queue length by status", "Wait time", "Failure rate", "Throughput", "Resources in use and capacity"]) {
          await page.getByRole("img", { name: `${title} over time` }).locator("canvas").waitFor();
        }
        await page.getByRole("definition").filter({ hasText: "/s" }).first().waitFor();
        expect(problems).toEqual([]);
      });

      it("redrives the failed jobs of a type after a confirmation", async () => {
        const { queue, page, problems, ui } = await open();
        const failing = await Promise.all([1, 2, 3].map((n) => queue.enqueue("fail.always", { n })));
        const other = await queue.enqueue("email.send", { to: "x@example.com" });
        await queue.start();
        for (const job of failing) await queue.waitFor(job.id, { timeoutMs: 15_000 });
        await queue.waitFor(other.id, { timeoutMs: 15_000 });
        await page.goto(`${ui}#/redrive`);
        await page.getByRole("textbox", { name: "Redrive type" }).fill("fail.always");
        await page.getByRole("button", { name: "Redrive…" }).click();
        const dialog = page.getByRole("alertdialog");
        await dialog.getByText(/failed jobs of type fail\.always/).waitFor();
        const runs = async (id: string) => (await queue.getJobLogs(id)).filter((entry) => entry.kind === "status" && entry.message === "running").length;
        expect(await runs(failing[0]!.id)).toBe(1);
        await dialog.getByRole("button", { name: "Confirm redrive" }).click();
        await page.getByRole("status").filter({ hasText: "Retried 3 jobs." }).waitFor();
        for (const job of failing) await eventually(async () => ((await runs(job.id)) === 2 ? true : undefined), "a second run");
        expect(await runs(other.id)).toBe(1);
        expect(problems).toEqual([]);
      });

      it.runIf(framework === "express")("draws a graph of 1,000 jobs, and pans and zooms it", async () => {
        const { queue, page, problems, ui } = await open();
        const middle = Array.from({ length: 998 }, (_, i) => ({ key: `m${i}`, type: "report.build", payload: { i }, dependsOn: ["root"] }));
        const jobs = await queue.enqueueMany([{ key: "root", type: "report.build" }, ...middle, { key: "sink", type: "report.build", dependsOn: middle.map((m) => m.key) }]);
        await page.goto(`${ui}#/jobs/${jobs[0]!.id}/graph`);
        await page.locator(`svg [data-job-id="${jobs[999]!.id}"]`).waitFor({ timeout: 60_000 });
        expect(await page.locator("svg [data-job-id]").count()).toBe(1_000);
        const transform = () => page.locator("svg.graph-canvas > g").getAttribute("transform");
        const fitted = await transform();
        await page.getByRole("button", { name: "Zoom in" }).click();
        const zoomed = await transform();
        expect(zoomed).not.toBe(fitted);
        const box = (await page.locator("svg.graph-canvas").boundingBox())!;
        await page.mouse.move(box.x + 50, box.y + 50);
        await page.mouse.down();
        await page.mouse.move(box.x + 250, box.y + 150, { steps: 5 });
        await page.mouse.up();
        expect(await transform()).not.toBe(zoomed);
        await page.getByRole("button", { name: "Fit" }).click();
        expect(await transform()).toBe(fitted);
        expect(problems).toEqual([]);
      });

      it.runIf(screenshots && framework === "express")("refreshes docs/dashboard-*.png (DASHBOARD_SCREENSHOTS=1)", async () => {
        const { queue, gates, page, ui } = await open();
        for (const type of ["etl.extract", "etl.transform", "etl.load", "report.build"]) {
          queue.defineHandler(type, { resources: { cpu: 1 }, run: async (payload) => void (await gates.wait((payload as { gate: string }).gate)) });
        }
        queue.defineHandler("report.publish", { run: async () => Promise.reject(new Error("upload refused: 503 from storage")) });
        const jobs = await queue.enqueueMany([
          { key: "orders", type: "etl.extract", payload: { gate: "done", source: "orders" } },
          { key: "customers", type: "etl.extract", payload: { gate: "done", source: "customers" } },
          { key: "products", type: "etl.extract", payload: { gate: "slow", source: "products" } },
          { key: "join", type: "etl.transform", payload: { gate: "done" }, dependsOn: ["orders", "customers"] },
          { key: "prices", type: "etl.transform", payload: { gate: "slow" }, dependsOn: ["products"] },
          { key: "load", type: "etl.load", payload: { gate: "slow" }, dependsOn: ["join", "prices"] },
          { key: "report", type: "report.build", payload: { gate: "slow" }, dependsOn: ["load"] },
          { key: "notify", type: "email.send", payload: { to: "ops@example.com" }, dependsOn: ["report", "publish"] },
          { key: "publish", type: "report.publish", dependsOn: ["join"], maxAttempts: 1 },
        ]);
        gates.open("done");
        await queue.start();
        for (let i = 0; i < 12; i++) await queue.enqueue("email.send", { to: `user${i}@example.com` });
        await queue.enqueue("fail.always", { card: "4242" });
        await page.goto(`${ui}#/jobs/${jobs[7]!.id}/graph`);
        await page.locator(`svg [data-job-id="${jobs[8]!.id}"][data-status="failed"]`).waitFor({ timeout: 15_000 });
        await page.locator(`svg [data-job-id="${jobs[2]!.id}"][data-status="running"]`).waitFor({ timeout: 15_000 });
        await shoot(page, "graph");
        await page.goto(`${ui}#/jobs/${jobs[3]!.id}`);
        await page.getByRole("region", { name: "History" }).getByText("completed").first().waitFor();
        await shoot(page, "job");
        await page.goto(ui);
        await page.getByRole("navigation", { name: "Jobs by status" }).getByRole("link", { name: /failed 2/ }).waitFor({ timeout: 15_000 });
        await shoot(page, "jobs");
        await page.goto(`${ui}#/metrics`);
        for (let i = 0; i < 8; i++) {
          await queue.enqueue("email.send", { to: `later${i}@example.com` });
          await page.waitForResponse((response) => response.url().endsWith("/api/metrics"));
        }
        await shoot(page, "metrics");
        gates.open("slow");
      });

      it("a refusing authorize keeps the page and the jobs out", async () => {
        const secret = "secret-payload-value";
        const everything = await open({ authorize: () => false });
        await everything.queue.enqueue("email.send", { to: secret });
        const refused = await everything.page.goto(everything.ui);
        expect(refused?.status()).toBe(403);
        expect(await everything.page.content()).not.toContain(secret);
        expect(await everything.page.locator("#app").count()).toBe(0);

        // The page itself allowed, the data refused: the page says so and shows none of it.
        const data = await open({ authorize: (_request, action) => action === "dashboard:read" || action === "status:subscribe" });
        const job = await data.queue.enqueue("email.send", { to: secret });
        await data.page.goto(data.ui);
        await data.page.getByRole("alert").filter({ hasText: "403 FORBIDDEN" }).waitFor();
        await data.page.goto(`${data.ui}#/jobs/${job.id}`);
        await data.page.getByRole("alert").filter({ hasText: "403 FORBIDDEN" }).waitFor();
        expect(await data.page.content()).not.toContain(secret);
        expect(data.problems).toEqual([]);
      });
    });
  });
});

/** Runs in the page: keeps every status each graph node shows, in order, in `globalThis.seen`. */
const RECORD_STATUSES = `(() => {
  const seen = {};
  const record = (node) => {
    const id = node.getAttribute("data-job-id");
    const status = node.getAttribute("data-status");
    const list = (seen[id] ??= []);
    if (list[list.length - 1] !== status) list.push(status);
  };
  const svg = document.querySelector("svg.graph-canvas");
  svg.querySelectorAll("[data-job-id]").forEach(record);
  new MutationObserver((mutations) => mutations.forEach((m) => record(m.target))).observe(svg, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
  globalThis.seen = seen;
})()`;

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync("docs", { recursive: true });
  await page.screenshot({ path: `docs/dashboard-${name}.png` });
}
