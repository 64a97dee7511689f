import { describe, expect, it } from "vitest";
import { attemptClosed, attemptOpened, deriveJobLogs, type HandlerLine, type JobHistory } from "../../src/job-history.js";

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
const line = (ms: number, attempt: number, message: string): HandlerLine => ({ at: at(ms), attempt, level: "info", message });
const shape = (history: JobHistory, lines: readonly HandlerLine[] = []) =>
  deriveJobLogs(history, lines).map((entry) => (entry.kind === "status" ? `${entry.message}@${entry.attempt}` : `log:${entry.message}`));

describe("deriveJobLogs", () => {
  it("derives the creation of a job created pending from its creation time alone", () => {
    expect(deriveJobLogs({ createdAt: at(0), attempts: [], transitions: [] }, [])).toEqual([
      { seq: 1, at: at(0), attempt: 0, kind: "status", message: "pending", data: { from: null } },
    ]);
  });

  it("replays attempts and transitions by status when their times are equal (a manual clock)", () => {
    // failed at t=0, retried at t=0, claimed and completed at t=0: only one order fits the statuses.
    let attempts = attemptOpened([], { attempt: 1, startedAt: at(0) });
    attempts = attemptClosed(attempts, { finishedAt: at(0), outcome: "failed", error: { name: "E", message: "x" } });
    attempts = attemptOpened(attempts, { attempt: 1, startedAt: at(0) });
    attempts = attemptClosed(attempts, { finishedAt: at(0), outcome: "completed" });
    const history: JobHistory = { createdAt: at(0), attempts, transitions: [{ at: at(0), from: "failed", to: "pending", attempt: 0 }] };
    expect(shape(history)).toEqual(["pending@0", "running@1", "failed@1", "pending@0", "running@1", "completed@1"]);
  });

  it("puts a line inside the attempt that wrote it, whatever its clock says, and after a retry in the later attempt of that number", () => {
    let attempts = attemptOpened([], { attempt: 1, startedAt: at(10) });
    attempts = attemptClosed(attempts, { finishedAt: at(20), outcome: "failed" });
    attempts = attemptOpened(attempts, { attempt: 1, startedAt: at(40) });
    const history: JobHistory = { createdAt: at(0), attempts, transitions: [{ at: at(30), from: "failed", to: "pending", attempt: 0 }] };
    // The first line's clock is behind the database's; the second was written by the attempt after the retry.
    expect(shape(history, [line(5, 1, "early clock"), line(50, 1, "second life")])).toEqual([
      "pending@0", "running@1", "log:early clock", "failed@1", "pending@0", "running@1", "log:second life",
    ]);
  });

  it("puts a line naming no attempt of the history after the last status change no later than it", () => {
    const attempts = attemptClosed(attemptOpened([], { attempt: 1, startedAt: at(10) }), { finishedAt: at(20), outcome: "completed" });
    expect(shape({ createdAt: at(0), attempts, transitions: [] }, [line(15, 7, "stray"), line(-5, 0, "before")])).toEqual([
      "pending@0", "log:before", "running@1", "log:stray", "completed@1",
    ]);
  });

  it("numbers entries by their position, ascending, and gives an interrupted attempt's number back", () => {
    const attempts = attemptClosed(attemptOpened([], { attempt: 1, startedAt: at(10) }), { finishedAt: at(20), outcome: "interrupted" });
    const logs = deriveJobLogs({ createdAt: at(0), attempts, transitions: [] }, []);
    expect(logs.map((entry) => [entry.seq, entry.message, entry.attempt])).toEqual([
      [1, "pending", 0], [2, "running", 1], [3, "pending", 0],
    ]);
  });

  it("takes history it cannot replay (a transition from a status the job was not in) in time order rather than dropping it", () => {
    const history: JobHistory = {
      createdAt: at(0),
      attempts: [{ attempt: 1, startedAt: at(30) }],
      transitions: [{ at: at(0), from: null, to: "blocked", attempt: 0 }, { at: at(10), from: "cancelled", to: "pending", attempt: 0 }],
    };
    expect(shape(history)).toEqual(["blocked@0", "pending@0", "running@1"]);
  });

  it("closing with no open attempt changes nothing", () => {
    expect(attemptClosed([], { finishedAt: at(0), outcome: "completed" })).toEqual([]);
  });
});
