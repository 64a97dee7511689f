import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { failure, type HttpErrorCode } from "./http-errors.js";

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
  /** The gzip representation's own strong ETag (RFC 9110: each content coding has its own). */
  readonly gzipEtag: string;
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
      const hash = createHash("sha256").update(body).digest("base64url").slice(0, 22);
      this.files.set(key, {
        body,
        gzip: existsSync(gzipFile) ? readFileSync(gzipFile) : undefined,
        contentType: CONTENT_TYPES[extension] ?? "application/octet-stream",
        cacheControl: HASHED.test(key) ? IMMUTABLE : "no-cache",
        etag: `"${hash}"`,
        gzipEtag: `"${hash}-gz"`,
      });
    }
  }

  /**
   * Answers one request. `""` redirects to `/ui/` (the page's relative URLs need the slash); `/` and
   * `/index.html` are the page; any other path is served only if it names a file exactly (the page
   * routes itself with the URL's fragment, so there is no fallback); the rest is 404. `OPTIONS` is
   * 204 with `Allow`. Errors are `{ error: { code, message } }`, with the same security headers.
   */
  answer(request: StaticRequest, uiPath: string): StaticAnswer {
    if (request.method === "OPTIONS") return { status: 204, headers: withSecurity({ allow: ALLOW }), body: Buffer.alloc(0) };
    if (request.method !== "GET" && request.method !== "HEAD") return errorAnswer(405, "BAD_REQUEST", "method not allowed", { allow: ALLOW });
    // Never `//host/...` (a protocol-relative URL leaves the site), whatever the mount prefix.
    if (request.path === "") return { status: 301, headers: withSecurity({ location: `/${uiPath.replace(/^\/+/, "")}/` }), body: Buffer.alloc(0) };
    const key = fileKey(request.path);
    if (key === null) return errorAnswer(400, "BAD_REQUEST", "the request URL is malformed");
    const asset = key === undefined ? undefined : this.files.get(key);
    if (asset === undefined) return errorAnswer(404, "NOT_FOUND", "no dashboard file at this path");
    const gzip = asset.gzip !== undefined && acceptsGzip(request.acceptEncoding);
    const etag = gzip ? asset.gzipEtag : asset.etag;
    const base = { "content-type": asset.contentType, "cache-control": asset.cacheControl, etag, vary: "Accept-Encoding" };
    if (request.ifNoneMatch !== undefined && request.ifNoneMatch.split(",").some((tag) => tag.trim().replace(/^W\//, "") === etag)) {
      return { status: 304, headers: withSecurity(base), body: Buffer.alloc(0) };
    }
    const body = gzip ? (asset.gzip as Buffer) : asset.body;
    const headers = withSecurity({ ...base, "content-length": String(body.length), ...(gzip ? { "content-encoding": "gzip" } : {}) });
    // For HEAD too: Node's HTTP server sends no body on a HEAD answer, and the headers stay right.
    return { status: 200, headers, body };
  }
}

const ALLOW = "GET, HEAD, OPTIONS";

/**
 * `/` -> `index.html`, `/assets/a.js` -> `assets/a.js`, each segment percent-decoded on its own;
 * undefined for a path that names no file (empty, `.` or `..` segments, a decoded `/`, `\` or NUL,
 * too long); null for one that does not percent-decode.
 */
function fileKey(path: string): string | undefined | null {
  if (path === "/") return "index.html";
  if (!path.startsWith("/") || path.length > 1024) return undefined;
  const segments: string[] = [];
  for (const raw of path.slice(1).split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === "" || segment === "." || segment === ".." || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments.join("/");
}

function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return (coding === "gzip" || coding === "*") && (q === undefined || Number(q.slice(2)) > 0);
  });
}

/** The headers every answer under `/ui` carries, errors included. */
export const DASHBOARD_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function withSecurity(headers: Record<string, string>): Record<string, string> {
  return { ...headers, ...DASHBOARD_SECURITY_HEADERS };
}

function errorAnswer(status: number, code: HttpErrorCode, message: string, extra: Record<string, string> = {}): StaticAnswer {
  const body = Buffer.from(JSON.stringify(failure(status, code, message).body));
  return { status, headers: withSecurity({ "content-type": "application/json; charset=utf-8", "cache-control": "no-cache", "content-length": String(body.length), ...extra }), body };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
