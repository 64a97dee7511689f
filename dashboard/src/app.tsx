import { GraphView } from "./graph-view.js";
import { useRoute } from "./hash-route.js";
import { JobPage } from "./job-page.js";
import { JobsList } from "./jobs-list.js";
import { useStreamState } from "./live-stream.js";
import { MetricsView } from "./metrics-view.js";
import { RedriveForm } from "./redrive-form.js";

/** The frame: navigation, the live-stream indicator, and the page of the current route. */
export function App() {
  const route = useRoute();
  const stream = useStreamState();
  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          jobgraph
        </a>
        <nav aria-label="Main">
          <a href="#/jobs" aria-current={route.page === "jobs" ? "page" : undefined}>
            Jobs
          </a>
          <a href="#/metrics" aria-current={route.page === "metrics" ? "page" : undefined}>
            Metrics
          </a>
          <a href="#/redrive" aria-current={route.page === "redrive" ? "page" : undefined}>
            Redrive
          </a>
        </nav>
        <span class={`stream stream-${stream}`} role="status" aria-label="Live updates">
          {stream === "live" ? "live" : stream === "connecting" ? "connecting…" : "offline, reconnecting…"}
        </span>
      </header>
      <main>
        {route.page === "jobs" && <JobsList key={`${route.status ?? ""}|${route.type ?? ""}`} status={route.status} type={route.type} />}
        {route.page === "job" && <JobPage key={route.id} id={route.id} />}
        {route.page === "graph" && <GraphView key={route.id} id={route.id} />}
        {route.page === "metrics" && <MetricsView />}
        {route.page === "redrive" && <RedriveForm />}
      </main>
    </>
  );
}
