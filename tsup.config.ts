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
  // ESM-only packages, bundled so that the CommonJS build can require them.
  noExternal: ["p-timeout"],
  // `import.meta.url` in the CommonJS build (adapters/peer.ts requires the optional peers from there).
  shims: true,
  external: ["postgres", "express", "fastify", "@fastify/websocket", "ws", "prom-client"],
});
