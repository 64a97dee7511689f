import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { jobgraphRouter } from "../../adapters/express.js";
import { jobgraphPlugin } from "../../adapters/fastify.js";
import { DASHBOARD_CSP, DashboardAssets, DashboardAssetsMissingError, findDashboardDir } from "../../adapters/dashboard-assets.js";
import { Queue } from "../../src/index.js";
import { harness } from "../adapters/harness.js";
import { FRAMEWORKS } from "../adapters/support.js";

/** A GET with the path sent exactly as given (fetch would normalise `..` and percent-escapes away). */
function rawGet(url: string, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.hostname, port: target.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** An error answer under /ui: the error shape, as JSON, with every security header of the dashboard. */
function expectDashboardError(answer: Awaited<ReturnType<typeof rawGet>>, path: string, status: number, code: string, message: string): void {
  expect(answer.status, path).toBe(status);
  expect(answer.headers["content-type"], path).toMatch(/^application\/json/);
  expect(JSON.parse(answer.body.toString()), path).toEqual({ error: { code, message } });
  expect(answer.headers["content-security-policy"], path).toBe(DASHBOARD_CSP);
  expect(answer.headers["x-content-type-options"], path).toBe("nosniff");
  expect(answer.headers["referrer-policy"], path).toBe("no-referrer");
}

const assetPaths = (html: string) => [...html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1] as string);

describe.each(FRAMEWORKS)("dashboard served by %s", (_name, start) => {
  const setup = harness(start);

  it("serves index.html at /ui/ with no-cache and a strict CSP, and no inline script or style", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    const page = await rawGet(api, "/api/ui/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["cache-control"]).toBe("no-cache");
    expect(page.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toMatch(/^default-src 'self'(;|$)/);
    const html = page.body.toString();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    expect(assetPaths(html).some((p) => p.endsWith(".js"))).toBe(true);
    expect(assetPaths(html).some((p) => p.endsWith(".css"))).toBe(true);
  });

  it("serves hashed assets immutable, gzipped when the client accepts it, and 304 on a matching ETag", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    const html = (await rawGet(api, "/api/ui/")).body.toString();
    for (const asset of assetPaths(html)) {
      const plain = await rawGet(api, `/api/ui/${asset}`);
      expect(plain.status).toBe(200);
      expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect(plain.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
      expect(plain.headers["content-encoding"]).toBeUndefined();
      const zipped = await rawGet(api, `/api/ui/${asset}`, { "accept-encoding": "br, gzip;q=0.8" });
      expect(zipped.headers["content-encoding"]).toBe("gzip");
      expect(zipped.headers.vary).toMatch(/Accept-Encoding/i);
      expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
      const refused = await rawGet(api, `/api/ui/${asset}`, { "accept-encoding": "gzip;q=0" });
      expect(refused.headers["content-encoding"]).toBeUndefined();
      const head = await rawGet(api, `/api/ui/${asset}`, {}, "HEAD");
      expect(head.status).toBe(200);
      expect(head.headers["content-length"]).toBe(String(plain.body.length));
      expect(head.body.length).toBe(0);
      const again = await rawGet(api, `/api/ui/${asset}`, { "if-none-match": String(plain.headers.etag) });
      expect(again.status).toBe(304);
      expect(again.body.length).toBe(0);
    }
  });

  it("redirects /ui to /ui/ and serves only /ui/, /ui/index.html and exact file names: every other path is a 404", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    const bare = await rawGet(api, "/api/ui");
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe("/api/ui/");
    const index = (await rawGet(api, "/api/ui/")).body.toString();
    expect((await rawGet(api, "/api/ui/index.html")).body.toString()).toBe(index);
    const script = assetPaths(index).find((p) => p.endsWith(".js")) as string;
    expect((await rawGet(api, `/api/ui/${script}`)).status).toBe(200);
    const missing = [
      "/api/ui/jobs/123",
      "/api/ui/nonexistent",
      "/api/ui/assets/",
      "/api/ui/assets/nope-ABCDEFGH.js",
      `/api/ui/x/${script}`,
      `/api/ui/${script.replace("/", "%2f")}`,
      `/api/ui/${script.replace("/", "%2F")}`,
      `/api/ui//${script}`,
    ];
    for (const path of missing) {
      const answer = await rawGet(api, path);
      expectDashboardError(answer, path, 404, "NOT_FOUND", "no dashboard file at this path");
    }
  });

  it("answers a path that does not percent-decode with a 400 in the error shape, with the dashboard's headers", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    for (const path of ["/api/ui/%ff", "/api/ui/%zz", "/api/ui/assets/%e0%a4%a"]) {
      const answer = await rawGet(api, path);
      expectDashboardError(answer, path, 400, "BAD_REQUEST", "the request URL is malformed");
    }
  });

  it("gives the gzip and identity representations different ETags, each answered 304 on its own", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    const html = (await rawGet(api, "/api/ui/")).body.toString();
    for (const path of ["/api/ui/", ...assetPaths(html).map((asset) => `/api/ui/${asset}`)]) {
      const plain = await rawGet(api, path);
      const zipped = await rawGet(api, path, { "accept-encoding": "gzip" });
      expect(zipped.headers["content-encoding"], path).toBe("gzip");
      expect(plain.headers.etag, path).toMatch(/^"[\w-]+"$/);
      expect(zipped.headers.etag, path).toBe(String(plain.headers.etag).replace(/"$/, '-gz"'));
      expect((await rawGet(api, path, { "accept-encoding": "gzip", "if-none-match": String(zipped.headers.etag) })).status, path).toBe(304);
      expect((await rawGet(api, path, { "if-none-match": String(plain.headers.etag) })).status, path).toBe(304);
      // A tag of the other representation is not a match.
      expect((await rawGet(api, path, { "if-none-match": String(zipped.headers.etag) })).status, path).toBe(200);
      expect((await rawGet(api, path, { "accept-encoding": "gzip", "if-none-match": String(plain.headers.etag) })).status, path).toBe(200);
    }
  });

  it("answers OPTIONS under /ui with 204 and Allow, behind dashboard:read", async () => {
    const actions: string[] = [];
    const { api } = await setup({ dashboard: true, authorize: (request, action) => (actions.push(action), request.headers["x-user"] === "ok") }, { run: false });
    for (const path of ["/api/ui/", "/api/ui", "/api/ui/index.html"]) {
      const answer = await rawGet(api, path, { "x-user": "ok" }, "OPTIONS");
      expect(answer.status, path).toBe(204);
      expect(answer.headers.allow, path).toBe("GET, HEAD, OPTIONS");
      expect(answer.headers["content-security-policy"], path).toBe(DASHBOARD_CSP);
      expect((await rawGet(api, path, {}, "OPTIONS")).status, path).toBe(403);
    }
    expect(new Set(actions)).toEqual(new Set(["dashboard:read"]));
  });

  it("never serves a file outside its folder, whatever the path", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    const hostile = [
      "/api/ui/../../package.json",
      "/api/ui/../package.json",
      "/api/ui/%2e%2e/%2e%2e/package.json",
      "/api/ui/assets/..%2f..%2f..%2fpackage.json",
      "/api/ui/..%5c..%5cpackage.json",
      "/api/ui/assets/%2e%2e%5c%2e%2e%5c..%5cpackage.json",
      "/api/ui//etc/passwd",
      "/api/ui/%2fetc%2fpasswd",
      "/api/ui/index.html%00.js",
      "/api/ui/%zz",
      "/api/ui/./index.html",
      "/api/ui/C:%5cWindows%5cwin.ini",
      `/api/ui/${"a/".repeat(3000)}x.js`,
      "/api/ui/../../../../../../../../etc/passwd",
      "/api/ui/assets/../../dashboard-assets.ts",
    ];
    for (const path of hostile) {
      const answer = await rawGet(api, path);
      const text = answer.body.toString();
      expect(text, path).not.toMatch(/"name": "jobgraph"|root:x:|\[fonts\]|DashboardAssets/);
      expect([200, 400, 404, 414, 431], path).toContain(answer.status);
      // No fallback to index.html: nothing here names a file.
      expect(answer.status, path).not.toBe(200);
    }
  });

  it("keeps the page out when authorize refuses dashboard:read, asking with that action", async () => {
    const actions: string[] = [];
    const { api } = await setup({ dashboard: true, authorize: (_request, action) => (actions.push(action), action !== "dashboard:read") }, { run: false });
    for (const path of ["/api/ui/", "/api/ui", "/api/ui/assets/x.js", "/api/ui/jobs/1"]) {
      const answer = await rawGet(api, path);
      expect(answer.status, path).toBe(403);
      expect(answer.body.toString()).not.toMatch(/<!doctype|<script/i);
      expect(answer.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
      expect(answer.headers["x-content-type-options"], path).toBe("nosniff");
      expect(answer.headers["referrer-policy"], path).toBe("no-referrer");
    }
    expect(new Set(actions)).toEqual(new Set(["dashboard:read"]));
  });

  it("serves no dashboard unless asked", async () => {
    const { api } = await setup({}, { run: false });
    const answer = await rawGet(api, "/api/ui/");
    expect(answer.status).toBe(404);
    expect(answer.body.toString()).not.toMatch(/jobgraph dashboard|id="app"/);
  });
});

/** A server with the routes mounted at `prefix` exactly as given (trailing slash and all); its base URL. */
async function mountAt(framework: "express" | "fastify", prefix: string, queue: Queue): Promise<{ url: string; close: () => Promise<void> }> {
  if (framework === "express") {
    const app = express();
    if (prefix === "") app.use(jobgraphRouter(queue, { dashboard: true }));
    else app.use(prefix, jobgraphRouter(queue, { dashboard: true }));
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
  const app = Fastify({ logger: false });
  await app.register(jobgraphPlugin, { queue, prefix, dashboard: true });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

describe.each(["express", "fastify"] as const)("dashboard mounted by %s at a prefix with a trailing slash", (framework) => {
  it.each([
    ["/", "/ui/"],
    ["/a/b/", "/a/b/ui/"],
    ["", "/ui/"],
    ["/a/b", "/a/b/ui/"],
  ])("prefix %j: /ui redirects to %s, which serves the page; no Location ever starts with //", async (prefix, page) => {
    const queue = new Queue();
    const server = await mountAt(framework, prefix, queue);
    try {
      const bare = await rawGet(server.url, page.slice(0, -1));
      expect(bare.status).toBe(301);
      expect(bare.headers.location).toBe(page);
      const index = await rawGet(server.url, page);
      expect(index.status).toBe(200);
      expect(index.body.toString()).toMatch(/^<!doctype html>/);
      const script = assetPaths(index.body.toString()).find((p) => p.endsWith(".js")) as string;
      expect((await rawGet(server.url, `${page}${script}`)).status).toBe(200);
      expect((await rawGet(server.url, `${page.slice(0, -1)}?x=1`)).headers.location).toBe(page);
    } finally {
      await server.close();
      await queue.shutdown();
    }
  });
});

describe("dashboard assets", () => {
  it("says where it looked and what to run when the built dashboard is missing", () => {
    const empty = mkdtempSync(join(tmpdir(), "jobgraph-ui-"));
    try {
      expect(() => new DashboardAssets(empty)).toThrow(DashboardAssetsMissingError);
      expect(() => findDashboardDir(pathToFileURL(join(empty, "express.js")).href)).toThrow(/npm run build/);
      expect(() => findDashboardDir(pathToFileURL(join(empty, "express.js")).href)).toThrow(empty);
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it("finds dist/dashboard next to a built adapter and from the adapters' source", () => {
    const built = findDashboardDir();
    expect(built).toMatch(/dist[\\/]dashboard$/);
    expect(findDashboardDir(pathToFileURL(join(built, "..", "express.js")).href)).toBe(built);
  });

  it("serves only the files of its folder, read at mount: a file added later is not served", () => {
    const dir = mkdtempSync(join(tmpdir(), "jobgraph-ui-"));
    try {
      writeFileSync(join(dir, "index.html"), "<!doctype html>");
      const assets = new DashboardAssets(dir);
      writeFileSync(join(dir, "late.js"), "x");
      const get = (path: string) => assets.answer({ path, method: "GET", acceptEncoding: undefined, ifNoneMatch: undefined }, "/ui");
      expect(get("/late.js").status).toBe(404);
      expect(get("/index.html").status).toBe(200);
      expect(get("/").headers["cache-control"]).toBe("no-cache");
      expect(assets.answer({ path: "/", method: "POST", acceptEncoding: undefined, ifNoneMatch: undefined }, "/ui").status).toBe(405);
      expect(get("/").body.toString()).toBe("<!doctype html>");
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("refuses a dashboard option that is not a boolean", async () => {
    const queue = new Queue();
    expect(() => jobgraphRouter(queue, { dashboard: "yes" } as never)).toThrow(/dashboard/);
    await queue.shutdown();
  });
});
