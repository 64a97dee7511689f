import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    postgres: "src/storage/postgres/index.ts",
    express: "adapters/express.ts",
    fastify: "adapters/fastify.ts",
  },
  format: ["esm", "cjs"],
  dts: { compilerOptions: { ignoreDeprecations: "6.0" } },
  splitting: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  noExternal: ["p-limit", "p-timeout"],
  external: ["postgres", "express", "fastify", "@fastify/websocket", "ws", "prom-client"],
});
