import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

// The dashboard's built files (dist/dashboard), served by both adapters under `<prefix>/ui/`. Every
// file is read once, at mount, into a table keyed by its path: a request only ever looks a key up
// in that table, so no request path reaches the file system and none can leave the folder.

/** The Content-Security-Policy of every dashboard answer: the page loads nothing but its own files. */
export const DASHBOARD_CSP = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/** A file name with a content hash (`main-3F2KX7QZ.js`): its content never changes under that name. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+$/;
const IMMUTABLE = "public, max-age=31536000, immutable";

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly contentType: string;
  readonly cacheControl: string;
  readonly etag: string;
}

/** What to answer: status, headers and body (empty for 304 and 301). */
export interface StaticAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** The request, as far as serving a file needs it. */
export interface StaticRequest {
  /** The path below `<prefix>/ui`, still percent-encoded, without the query: "", "/", "/assets/main-ABCD1234.js". */
  readonly path: string;
  readonly method: string;
  readonly acceptEncoding: string | undefined;
  readonly ifNoneMatch: string | undefined;
}

/** The request to `answer`, from a raw URL whose first `skip` characters of path lead to `/ui` (the mount and `/ui` itself). */
export function staticRequest(url: string, skip: number, method: string, headers: IncomingHttpHeaders): StaticRequest {
  const end = url.search(/[?#]/);
  const path = (end === -1 ? url : url.slice(0, end)).slice(skip);
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(",") : value;
  };
  return { path, method, acceptEncoding: header("accept-encoding"), ifNoneMatch: header("if-none-match") };
}

/** Thrown at mount when `dashboard: true` but the built files are not there. */
export class DashboardAssetsMissingError extends Error {
  constructor(searched: readonly string[]) {
    super(
      `jobgraph dashboard: the built dashboard (dashboard/index.html) was not found; looked in ${searched.join(", ")}. ` +
        "Run `npm run build` in a checkout of jobgraph, or reinstall the package.",
    );
    this.name = "DashboardAssetsMissingError";
  }
}

/**
 * Where the built dashboard is: next to the built adapter (dist/express.js -> dist/dashboard), or,
 * when the adapters run from source (adapters/*.ts under vitest or tsx), in the package's dist/.
 */
export function findDashboardDir(moduleUrl: string = import.meta.url): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(here, "dashboard"), join(here, "..", "dist", "dashboard")];
  const found = candidates.find((dir) => existsSync(join(dir, "index.html")));
  if (found === undefined) throw new DashboardAssetsMissingError(candidates);
  return found;
}

/** The dashboard's files, loaded once; `answer` serves one request. */
export class DashboardAssets {
  private readonly files = new Map<string, Asset>();

  constructor(dir: string = findDashboardDir()) {
    if (!existsSync(join(dir, "index.html"))) throw new DashboardAssetsMissingError([dir]);
    for (const file of listFiles(dir)) {
      if (file.endsWith(".gz")) continue;
      const body = readFileSync(file);
      const key = relative(dir, file).split(sep).join("/");
      const gzipFile = `${file}.gz`;
      const extension = /\.[a-z0-9]+$/i.exec(key)?.[0].toLowerCase() ?? "";
      this.files.set(key, {
        body,
        gzip: existsSync(gzipFile) ? readFileSync(gzipFile) : undefined,
        contentType: CONTENT_TYPES[extension] ?? "application/octet-stream",
        cacheControl: HASHED.test(key) ? IMMUTABLE : "no-cache",
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
      });
    }
  }

  /**
   * Answers one request. `""` redirects to `/ui/` (the page's relative URLs need the slash); a file
   * of the table is served; any other path without a file extension gets index.html (the page
   * routes itself); the rest is 404.
   */
  answer(request: StaticRequest, uiPath: string): StaticAnswer {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return plain(405, "method not allowed", { allow: "GET, HEAD" });
    }
    if (request.path === "") return { status: 301, headers: { location: `${uiPath}/`, "content-security-policy": DASHBOARD_CSP }, body: Buffer.alloc(0) };
    const key = decodeKey(request.path);
    const asset = key === undefined ? undefined : (this.files.get(key === "" ? "index.html" : key) ?? (isPagePath(key) ? this.files.get("index.html") : undefined));
    if (asset === undefined) return plain(404, "not found");
    const base = { "content-type": asset.contentType, "cache-control": asset.cacheControl, etag: asset.etag, vary: "Accept-Encoding" };
    if (request.ifNoneMatch !== undefined && request.ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === asset.etag)) {
      return { status: 304, headers: withSecurity(base), body: Buffer.alloc(0) };
    }
    const gzip = asset.gzip !== undefined && acceptsGzip(request.acceptEncoding);
    const body = gzip ? (asset.gzip as Buffer) : asset.body;
    const headers = withSecurity({ ...base, "content-length": String(body.length), ...(gzip ? { "content-encoding": "gzip" } : {}) });
    // For HEAD too: Node's HTTP server sends no body on a HEAD answer, and the headers stay right.
    return { status: 200, headers, body };
  }
}

/** `/assets/a.js` -> `assets/a.js`; undefined for anything that does not decode to a plain relative path. */
function decodeKey(path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  const key = decoded.replace(/^\/+/, "");
  if (key.length > 512 || /[\\\0]/.test(key) || key.split("/").some((part) => part === ".." || part === ".")) return undefined;
  return key;
}

/** A page the client-side router may show (no file extension), as opposed to a missing file. */
function isPagePath(key: string): boolean {
  return !/\.[a-z0-9]+$/i.test(key);
}

function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return (coding === "gzip" || coding === "*") && (q === undefined || Number(q.slice(2)) > 0);
  });
}

function withSecurity(headers: Record<string, string>): Record<string, string> {
  return { ...headers, "content-security-policy": DASHBOARD_CSP, "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" };
}

function plain(status: number, text: string, extra: Record<string, string> = {}): StaticAnswer {
  const body = Buffer.from(text);
  return { status, headers: withSecurity({ "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache", "content-length": String(body.length), ...extra }), body };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
