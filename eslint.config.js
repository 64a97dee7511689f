// ESLint 9 flat config: @eslint/js and typescript-eslint's recommended rules, without type
// information (the type-checked presets need a TypeScript program per file and make `npm run lint`
// several times slower; `tsc --noEmit` already checks types). Every rule changed below says why.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "coverage/**", "test-results/**", "**/node_modules/**", "bench/results/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a parameter an interface requires but this implementation does not
      // read (`_now` of the Storage methods, `_req` of a route), or a property taken out of a rest
      // spread on purpose (`const { $schema: _dialect, ...rest }`).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  {
    files: ["src/storage/postgres/**/*.ts"],
    rules: {
      // `{}` is postgres.js's own type argument for "no custom types" (`postgres.Sql<{}>`); `object`
      // or `Record<string, never>` would not match the `Sql` the application hands in.
      "@typescript-eslint/no-empty-object-type": "off",
    },
  },
  {
    files: ["adapters/prometheus.ts"],
    rules: {
      // prom-client calls `collect` with the metric as `this`, so the exporter is reached through an alias.
      "@typescript-eslint/no-this-alias": "off",
    },
  },
);
