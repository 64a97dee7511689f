import { performance } from "node:perf_hooks";
import pg from "pg";
import { BASE_URL, withClient } from "./db.ts";
import type { System } from "./systems.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Fails a workload that has not finished by then, instead of hanging the run. */
function deadline(ms: number): () => void {
  const until = Date.now() + ms;
  return () => {
    if (Date.now() > until) throw new Error(`workload exceeded ${ms} ms`);
  };
}

/** Waits until `handled()` reaches `n`, then until the database holds no unfinished job. */
export async function waitAllDone(system: System, handled: () => number, n: number, limitMs: number): Promise<number> {
  const check = deadline(limitMs);
  while (handled() < n) {
    check();
    await sleep(2);
  }
  const client = new pg.Client({ connectionString: system.url });
  await client.connect();
  try {
    for (let i = 0; i < 100_000; i++) {
      check();
      const left = Number((await client.query(system.unfinishedSql)).rows[0].n);
      if (left === 0) return performance.now();
      await sleep(10);
    }
    throw new Error("unreachable");
  } finally {
    await client.end();
  }
}

/** Empties the system's tables and flushes dirty pages, so no measurement pays for the previous one's checkpoint. */
export async function resetSystem(system: System): Promise<void> {
  await system.reset();
  await withClient(BASE_URL, (c) => c.query("checkpoint"));
}

export async function withProducer<T>(system: System, work: () => Promise<T>): Promise<T> {
  await resetSystem(system);
  await system.openProducer();
  try {
    return await work();
  } finally {
    await system.close();
  }
}

/** (1) jobs/s, one enqueue at a time. */
export async function sequentialEnqueue(system: System, n: number): Promise<number> {
  return withProducer(system, async () => {
    for (let i = 0; i < 50; i++) await system.enqueueOne({ warmup: i });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await system.enqueueOne({ i });
    return (n / (performance.now() - t0)) * 1000;
  });
}

/** (2) jobs/s, `producers` loops enqueueing one at a time through one client. */
export async function concurrentEnqueue(system: System, n: number, producers: number): Promise<number> {
  return withProducer(system, async () => {
    for (let i = 0; i < 50; i++) await system.enqueueOne({ warmup: i });
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: producers }, async () => {
        while (next < n) {
          const i = next++;
          await system.enqueueOne({ i });
        }
      }),
    );
    return (n / (performance.now() - t0)) * 1000;
  });
}

/** (3) jobs/s, one batch call. */
export async function bulkEnqueue(system: System, n: number): Promise<number> {
  return withProducer(system, async () => {
    await system.enqueueBulk(Array.from({ length: 50 }, (_, i) => ({ warmup: i })));
    const payloads = Array.from({ length: n }, (_, i) => ({ i }));
    const t0 = performance.now();
    await system.enqueueBulk(payloads);
    return (n / (performance.now() - t0)) * 1000;
  });
}

/** (4) jobs/s from the first handler call until every job is completed in the database. */
export async function processJobs(system: System, n: number, concurrency: number): Promise<number> {
  await withProducer(system, () => system.enqueueBulk(Array.from({ length: n }, (_, i) => ({ i }))));
  let handled = 0;
  let first = 0;
  try {
    await system.startWorker(concurrency, () => {
      if (handled++ === 0) first = performance.now();
    });
    const end = await waitAllDone(system, () => handled, n, 300_000);
    return (n / (end - first)) * 1000;
  } finally {
    await system.stopWorker();
  }
}

/** (5) ms from the enqueue call to the handler's start, one job every `everyMs`. */
export async function latency(system: System, n: number, everyMs: number): Promise<{ p50: number; p95: number; p99: number }> {
  await resetSystem(system);
  const sent = new Float64Array(n);
  const seen: number[] = [];
  try {
    await system.startWorker(10, (payload) => {
      const i = payload.i as number;
      if (typeof i === "number") seen.push(performance.now() - sent[i]!);
    });
    await system.openProducer();
    for (let i = 0; i < 20; i++) await system.enqueueOne({ warmup: i });
    await sleep(500);
    const start = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const wait = start + i * everyMs - performance.now();
      if (wait > 0) await sleep(wait);
      sent[i] = performance.now();
      inFlight.push(system.enqueueOne({ i }));
    }
    await Promise.all(inFlight);
    const check = deadline(30_000);
    while (seen.length < n) {
      check();
      await sleep(5);
    }
  } finally {
    await system.close();
  }
  seen.sort((a, b) => a - b);
  const at = (q: number) => seen[Math.min(seen.length - 1, Math.floor(q * seen.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** (6) ms from the first handler call until every job of `diamonds` diamonds (1 → 3 → 1) is completed. */
export async function dag(system: System, diamonds: number, concurrency: number): Promise<number | undefined> {
  if (system.enqueueDiamond === undefined) return undefined;
  await withProducer(system, async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < diamonds) await system.enqueueDiamond!(next++);
      }),
    );
  });
  let handled = 0;
  let first = 0;
  try {
    await system.startWorker(concurrency, () => {
      if (handled++ === 0) first = performance.now();
    });
    const end = await waitAllDone(system, () => handled, diamonds * 5, 300_000);
    return end - first;
  } finally {
    await system.stopWorker();
  }
}
