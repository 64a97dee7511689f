import { z } from "zod";
import type { Route } from "./route.js";

type JsonSchema = Record<string, unknown>;

/** The JSON Schema of what a client sends (`io: "input"`: before transforms, e.g. `limit` as text). */
function inputSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as JsonSchema;
  return rest;
}

function outputSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: "output", unrepresentable: "any", target: "draft-2020-12" }) as JsonSchema;
  return rest;
}

/** Path and query parameters from an object schema's properties. */
function parameters(schema: z.ZodType | undefined, where: "path" | "query"): JsonSchema[] {
  if (schema === undefined) return [];
  const object = inputSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const isList = Array.isArray(property.anyOf);
    return {
      name,
      in: where,
      required: where === "path" || (object.required ?? []).includes(name),
      schema: property,
      ...(isList ? { description: "comma-separated, or repeated", style: "form", explode: true } : {}),
    };
  });
}

/** An OpenAPI 3.1 document of `routes` mounted at `basePath`, made from their zod schemas. */
export function buildOpenApiDocument(routes: readonly Route[], basePath: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = `${basePath}${route.path}`.replace(/:([A-Za-z_]+)/g, "{$1}");
    const responses = Object.fromEntries(
      Object.entries(route.responses).map(([status, { description, schema }]) => [
        status,
        schema === undefined ? { description } : { description, content: { "application/json": { schema: outputSchema(schema) } } },
      ]),
    );
    if (route.path === "/metrics") {
      const ok = responses["200"] as { content: Record<string, unknown> };
      ok.content["text/plain"] = { schema: { type: "string", description: "Prometheus text exposition" } };
    }
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      summary: route.summary,
      operationId: `${route.method.toLowerCase()}${route.path.replace(/[/:.]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      "x-jobgraph-action": route.action,
      parameters: [...parameters(route.params, "path"), ...parameters(route.query, "query")],
      ...(route.body === undefined ? {} : { requestBody: { required: true, content: { "application/json": { schema: inputSchema(route.body) } } } }),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "jobgraph", version: "1", description: "Jobs, their history and metrics. Live status: WebSocket at <prefix>/ws." },
    paths,
  };
}
