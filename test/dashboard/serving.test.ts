import { request as httpRequest } from "node:http";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { jobgraphRouter } from "../../adapters/express.js";
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

  it("redirects /ui to /ui/, answers index.html for page paths and 404 for a missing file", async () => {
    const { api } = await setup({ dashboard: true }, { run: false });
    const bare = await rawGet(api, "/api/ui");
    expect(bare.status).toBe(301);
    expect(bare.headers.location).toBe("/api/ui/");
    const index = (await rawGet(api, "/api/ui/")).body.toString();
    const page = await rawGet(api, "/api/ui/jobs/123");
    expect(page.status).toBe(200);
    expect(page.body.toString()).toBe(index);
    const missing = await rawGet(api, "/api/ui/assets/nope-ABCDEFGH.js");
    expect(missing.status).toBe(404);
    expect(missing.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
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
      // Only page paths fall back to index.html; nothing else is ever a 200.
      if (answer.status === 200) expect(text, path).toMatch(/^<!doctype html>/);
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
