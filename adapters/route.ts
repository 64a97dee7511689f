import { z } from "zod";
import type { AuthorizeAction } from "./authorize.js";
import { HttpError, INTERNAL_ERROR, toHttpFailure } from "./http-errors.js";
import type { RouteContext } from "./route-context.js";
import { errorBody, noQuery } from "./schemas.js";

/** A request as the frameworks hand it over, before validation. */
export interface RawInput {
  readonly params: unknown;
  readonly query: unknown;
  readonly body: unknown;
  readonly hasBody: boolean;
  readonly contentType: string | undefined;
  readonly accept: string | undefined;
  /** Where the routes are mounted (`/api`), for the OpenAPI document. */
  readonly basePath: string;
}

/** What to answer: JSON unless `contentType` says otherwise (then `body` is text). */
export interface HttpResponse {
  readonly status: number;
  readonly body: unknown;
  readonly contentType?: string;
}

export interface ParsedInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly accept: string | undefined;
  readonly basePath: string;
}

/** One route: everything a framework needs to mount it, and the OpenAPI document to describe it. */
export interface Route {
  readonly method: "GET" | "POST";
  /** In `:param` form, relative to the mount prefix. */
  readonly path: string;
  readonly action: AuthorizeAction;
  readonly summary: string;
  readonly params: z.ZodType | undefined;
  readonly query: z.ZodType;
  /** Undefined: the route ignores any body. */
  readonly body: z.ZodType | undefined;
  readonly responses: Readonly<Record<number, { readonly description: string; readonly schema?: z.ZodType }>>;
  /** Validates the input and answers; never throws. */
  run(context: RouteContext, input: RawInput): Promise<HttpResponse>;
}

/** Builds a route whose handler gets its input typed by its schemas; `run` parses, then maps errors. */
export function defineRoute<P extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = typeof noQuery, B extends z.ZodType = z.ZodUndefined>(route: {
  method: Route["method"];
  path: string;
  action: AuthorizeAction;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  responses: Route["responses"];
  handle(context: RouteContext, input: ParsedInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<HttpResponse>;
}): Route {
  const query = route.query ?? noQuery;
  // A route whose body fields are all optional (`POST /jobs/retry`) takes a request without a body as `{}`.
  const emptyBody = route.body?.safeParse({}).success === true ? {} : undefined;
  return {
    method: route.method,
    path: route.path,
    action: route.action,
    summary: route.summary,
    params: route.params,
    query,
    body: route.body,
    responses: { ...route.responses, 500: { description: "internal error (no details)", schema: errorBody } },
    async run(context, input) {
      try {
        if (route.body !== undefined && input.hasBody && !isJson(input.contentType)) {
          throw new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json");
        }
        const parsed = {
          params: (route.params === undefined ? undefined : parse(route.params, input.params, "path")) as z.output<P>,
          query: parse(query, input.query ?? {}, "query") as z.output<Q>,
          body: (route.body === undefined ? undefined : parse(route.body, input.body === undefined && !input.hasBody ? emptyBody : input.body, "body")) as z.output<B>,
          accept: input.accept,
          basePath: input.basePath,
        };
        return await route.handle(context, parsed);
      } catch (error) {
        const known = toHttpFailure(error);
        if (known !== undefined) return known;
        context.onError(error);
        return INTERNAL_ERROR;
      }
    },
  };
}

function parse(schema: z.ZodType, value: unknown, where: string): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: [where, ...issue.path.map(String)].join("."), message: issue.message }));
  throw new HttpError(400, "VALIDATION", `invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, { issues });
}

function isJson(contentType: string | undefined): boolean {
  const type = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"));
}

