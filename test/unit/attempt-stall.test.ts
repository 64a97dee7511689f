import postgres from "postgres";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PostgresAttemptTransaction } from "../../src/storage/postgres/attempt.js";
import type { Lease } from "../../src/storage/storage.js";

const lease: Lease = { jobId: "00000000-0000-4000-8000-000000000001", token: "00000000-0000-4000-8000-000000000002", attempt: 1 };

/** A pool whose BEGIN answers only when the test says so; `work` is the transaction's callback. */
function stuckPool() {
  let work: ((tx: postgres.TransactionSql) => Promise<unknown>) | undefined;
  // A real pool for building statements; nothing reaches a server, since BEGIN never answers.
  const sql = postgres("postgres://nobody@127.0.0.1:9/none", { max: 1 });
  // begin(mode, fn), as the store calls it (always READ COMMITTED), or begin(fn).
  Object.assign(sql, { begin: (modeOrFn: string | typeof work, fn?: typeof work) => ((work = typeof modeOrFn === "function" ? modeOrFn : fn), new Promise(() => undefined)) });
  return { sql, answerBegin: (tx: postgres.TransactionSql) => work!(tx) };
}

function attempt(sql: postgres.Sql, closes: { n: number }, stalls: { n: number }) {
  return new PostgresAttemptTransaction(
    sql,
    lease,
    () => closes.n,
    () => void stalls.n++,
    (work) => work,
    async () => { throw new Error("no settle in this test"); },
    async () => { throw new Error("no settle in this test"); },
    () => undefined,
  );
}

describe("PostgresAttemptTransaction: a BEGIN that never answers", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  it("keeps waiting while no connection of the pool closed (a busy pool is no stall)", async () => {
    const { sql } = stuckPool();
    const closes = { n: 0 };
    const stalls = { n: 0 };
    const tx = attempt(sql, closes, stalls);
    let outcome: unknown;
    tx.handle`select 1`.then((v) => (outcome = v), (e: unknown) => (outcome = e));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(outcome).toBeUndefined();
    expect(stalls.n).toBe(0);
  });

  it("fails the handler's statement, asks for a new pool, and rolls back at once after a close", async () => {
    const { sql, answerBegin } = stuckPool();
    const closes = { n: 0 };
    const stalls = { n: 0 };
    const tx = attempt(sql, closes, stalls);
    const statement = tx.handle`select 1`.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    closes.n++;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await statement).toMatchObject({ code: "STORAGE" });
    expect(stalls.n).toBe(1);
    // The executor's rollback returns although BEGIN never answered.
    await expect(tx.rollback()).resolves.toBeUndefined();
    // Should BEGIN answer after all, the transaction is rolled back, never committed.
    const late = answerBegin({} as postgres.TransactionSql);
    await expect(late).rejects.toBeInstanceOf(Error);
  });

  it("refuses to commit a transaction whose BEGIN was given up on", async () => {
    const { sql } = stuckPool();
    const closes = { n: 0 };
    const stalls = { n: 0 };
    const tx = attempt(sql, closes, stalls);
    const statement = tx.handle`select 1`.catch((e: unknown) => e);
    // The statement runs (and BEGIN is sent) a few promise steps after it is made.
    await vi.advanceTimersByTimeAsync(1);
    closes.n++;
    await vi.advanceTimersByTimeAsync(6_000);
    expect(await statement).toMatchObject({ code: "STORAGE" });
    await expect(tx.commit({ type: "completed", result: null })).rejects.toMatchObject({ code: "STORAGE" });
  });
});
