import { defineConfig } from "tsup";

const target = "node20";

export default defineConfig([
  {
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
    // Everything but the command line's bundle, which the second build (running beside this one) writes.
    clean: ["!cli.js", "!cli.js.map"],
    target,
    // ESM-only packages, bundled so that the CommonJS build can require them.
    noExternal: ["p-timeout", "uuid"],
    // `import.meta.url` in the CommonJS build (adapters/peer.ts requires the optional peers from there).
    shims: true,
    external: ["postgres", "express", "fastify", "@fastify/websocket", "ws", "prom-client"],
  },
  {
    // `npx jobgraph`: ESM only, and the library through the package's own entries ("jobgraph",
    // "jobgraph/postgres", ...), so a handlers module that imports "jobgraph" shares its classes
    // (PermanentError, QueueError) with the queue that runs it.
    entry: { cli: "cli/main.ts" },
    format: ["esm"],
    sourcemap: true,
    clean: false,
    target,
    external: [/^jobgraph(\/|$)/, "postgres", "fastify", "@fastify/websocket", "ws"],
    // The adapters' modules the command line shares (job-json, peer) import the library as
    // "../src/index.js": here it is "jobgraph" too, or the bundle would carry a second copy of it.
    esbuildPlugins: [
      {
        name: "adapters-import-jobgraph",
        setup(build) {
          build.onResolve({ filter: /^\.\.\/src\/index\.js$/ }, (args) => (/[\\/]adapters[\\/][^\\/]+$/.test(args.importer) ? { path: "jobgraph", external: true } : undefined));
        },
      },
    ],
  },
]);
