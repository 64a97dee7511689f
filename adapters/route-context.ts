import type { Registry } from "prom-client";
import { z } from "zod";
import type { Queue } from "../src/index.js";
import type { Authorize } from "./authorize.js";
import { DashboardAssets } from "./dashboard-assets.js";
import { importPeer } from "./peer.js";
import type { PrometheusExporter } from "./prometheus.js";
import type { StatusStreamOptions } from "./status-stream.js";

/** Options shared by the Express and Fastify adapters. `Req` is the framework's request type. */
export interface JobgraphHttpOptions<Req> {
  /** Called for every route and the WebSocket upgrade; only `true` lets the request through. Default: everything allowed. */
  readonly authorize?: Authorize<Req>;
  /** Job types that may be enqueued over HTTP; others answer 422. Default: any type. */
  readonly allowedTypes?: readonly string[];
  /** Largest request body, in bytes (default 1 MiB); larger ones answer 413. */
  readonly bodyLimitBytes?: number;
  /** The prom-client registry for `GET /metrics` in Prometheus text (default: a new one per adapter). */
  readonly registry?: PrometheusRegistry;
  readonly statusStream?: StatusStreamOptions;
  /** Serve the web dashboard at `<prefix>/ui/`, behind `authorize` with the action "dashboard:read" (default false). */
  readonly dashboard?: boolean;
  /** Told about every error answered as a generic 500 (the client never sees it). Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

/**
 * A prom-client `Registry`, as far as the options name it: spelt out so that the adapters' types
 * compile without prom-client installed (an optional peer). Any prom-client 15 `Registry` fits.
 */
export interface PrometheusRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Options with their defaults, and what the routes share. */
export interface RouteContext {
  readonly queue: Queue;
  readonly allowedTypes: ReadonlySet<string> | undefined;
  readonly bodyLimitBytes: number;
  /** The exporter, loaded with prom-client; rejects with a `PeerDependencyMissingError` when prom-client is not installed. */
  readonly prometheus: () => Promise<PrometheusExporter>;
  readonly onError: (error: unknown) => void;
  /** The dashboard's files, loaded at mount when `dashboard: true`. */
  readonly dashboard: DashboardAssets | undefined;
}

const optionsSchema = z
  .object({
    authorize: z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function").optional(),
    allowedTypes: z.array(z.string().min(1)).optional(),
    bodyLimitBytes: z.number().int().positive().optional(),
    registry: z.custom<PrometheusRegistry>((v) => typeof v === "object" && v !== null && typeof (v as PrometheusRegistry).metrics === "function", "must be a prom-client Registry").optional(),
    statusStream: z
      .object({
        maxBufferedBytes: z.number().int().positive().optional(),
        pingIntervalMs: z.number().int().positive().max(2_147_483_647).optional(),
        maxJobIdsPerClient: z.number().int().positive().optional(),
        maxBadMessages: z.number().int().positive().optional(),
        allowedOrigins: z.array(z.string()).optional(),
        onClientDropped: z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function").optional(),
      })
      .strict()
      .optional(),
    onError: z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function").optional(),
    dashboard: z.boolean().optional(),
  })
  .strict();

/**
 * Checks the options once, at mount. Unknown keys are an error: a misspelt `authorize` must not
 * leave the routes open.
 */
export function createRouteContext(queue: Queue, options: object): RouteContext {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new TypeError(`invalid jobgraph adapter options: ${parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`).join("; ")}`);
  const typed = options as JobgraphHttpOptions<unknown>;
  return {
    queue,
    allowedTypes: typed.allowedTypes === undefined ? undefined : new Set(typed.allowedTypes),
    bodyLimitBytes: typed.bodyLimitBytes ?? 1024 * 1024,
    prometheus: loadExporter(queue, typed.registry),
    onError: typed.onError ?? ((error) => console.error("jobgraph: internal error answered as 500", error)),
    dashboard: typed.dashboard === true ? new DashboardAssets() : undefined,
  };
}

/**
 * Loads prom-client (through ./prometheus.js, a chunk of its own) only when the adapter mounts, not
 * when it is imported, so the routes work without it. The load starts at once, so the gauges are on
 * a registry the application passed in right after mount; only `GET /metrics` in Prometheus text
 * needs the outcome, and answers 501 naming the package when prom-client is missing.
 */
function loadExporter(queue: Queue, registry: PrometheusRegistry | undefined): () => Promise<PrometheusExporter> {
  const exporter = importPeer("prom-client", "Prometheus metrics", () => import("./prometheus.js")).then(
    ({ PrometheusExporter }) => new PrometheusExporter(queue, registry as Registry | undefined),
  );
  exporter.catch(() => undefined); // a missing prom-client matters only when Prometheus text is asked for
  return () => exporter;
}
