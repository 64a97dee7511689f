import { vi } from "vitest";
import { describeCallDeadline } from "./support/call-deadline.js";

// The store's own pool on postgres.js 3.4 (an application whose installed `postgres` is 3.4).
vi.mock("postgres", async () => await import("postgres3"));

describeCallDeadline(3);
