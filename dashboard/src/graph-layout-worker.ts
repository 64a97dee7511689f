import { layoutGraph } from "./graph-layout.js";
import type { GraphShape } from "./graph-shape.js";

// The layout worker: a script of its own (assets/layout-worker-<hash>.js), so dagre runs off the
// page's thread. It answers each message, a GraphShape, with its GraphLayout.

const scope = self as unknown as { onmessage: ((event: MessageEvent<GraphShape>) => void) | null; postMessage(message: unknown): void };
scope.onmessage = (event) => scope.postMessage(layoutGraph(event.data));
