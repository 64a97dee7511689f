import { useEffect, useState } from "preact/hooks";
import type { GraphLayout, GraphShape } from "./graph-shape.js";

/** Where the build put the layout worker: index.html names it in `<meta name="jobgraph-layout-worker">`. */
function workerUrl(): string | undefined {
  return document.querySelector<HTMLMetaElement>('meta[name="jobgraph-layout-worker"]')?.content;
}

function layoutInWorker(shape: GraphShape): Promise<GraphLayout> {
  const url = workerUrl();
  if (url === undefined) return Promise.reject(new Error("the page does not name its layout worker"));
  return new Promise((resolve, reject) => {
    const worker = new Worker(url);
    worker.onmessage = (event: MessageEvent<GraphLayout>) => {
      worker.terminate();
      resolve(event.data);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || "the layout worker failed"));
    };
    worker.postMessage(shape);
  });
}

/** The layout of `shape`, computed off the page's thread; undefined until it is ready. */
export function useLayout(shape: GraphShape | undefined): { layout: GraphLayout | undefined; error: Error | undefined } {
  const [state, setState] = useState<{ layout: GraphLayout | undefined; error: Error | undefined }>({ layout: undefined, error: undefined });
  useEffect(() => {
    if (shape === undefined) return;
    let current = true;
    layoutInWorker(shape).then(
      (layout) => current && setState({ layout, error: undefined }),
      (error: unknown) => current && setState({ layout: undefined, error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return () => {
      current = false;
    };
  }, [shape]);
  return state;
}
