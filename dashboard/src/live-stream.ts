import { useEffect, useState } from "preact/hooks";
import { apiBase, type JobStatus } from "./api-client.js";

/** One status change from the status WebSocket. */
export interface JobChange {
  readonly id: string;
  readonly jobType: string;
  readonly status: JobStatus;
  readonly attempt: number;
  readonly at: string;
}

/** What listeners hear: a change, or "reset" (changes may have been missed: re-read what you show). */
export type StreamEvent = { readonly kind: "change"; readonly change: JobChange } | { readonly kind: "reset" };

export type StreamState = "connecting" | "live" | "offline";

/**
 * The status stream (`<prefix>/ws`), subscribed to every job, shared by all views. It reconnects
 * with a growing delay and tells listeners to re-read ("reset") after every reconnect.
 */
class LiveStream {
  private socket: WebSocket | undefined;
  private readonly listeners = new Set<(event: StreamEvent) => void>();
  private readonly stateListeners = new Set<(state: StreamState) => void>();
  private retryMs = 500;
  private everOpened = false;
  state: StreamState = "connecting";

  listen(listener: (event: StreamEvent) => void): () => void {
    this.listeners.add(listener);
    this.connect();
    return () => this.listeners.delete(listener);
  }

  watchState(listener: (state: StreamState) => void): () => void {
    this.stateListeners.add(listener);
    this.connect();
    return () => this.stateListeners.delete(listener);
  }

  private connect(): void {
    if (this.socket !== undefined) return;
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${apiBase()}/ws`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retryMs = 500;
      socket.send(JSON.stringify({ type: "subscribe" }));
    });
    socket.addEventListener("message", (message) => {
      let data: { type?: string } & Partial<JobChange>;
      try {
        data = JSON.parse(String(message.data)) as typeof data;
      } catch {
        return;
      }
      if (data.type === "subscribed") {
        this.setState("live");
        if (this.everOpened) this.emit({ kind: "reset" });
        this.everOpened = true;
      } else if (data.type === "reset") this.emit({ kind: "reset" });
      else if (data.type === "job" && typeof data.id === "string" && typeof data.status === "string") this.emit({ kind: "change", change: data as JobChange });
    });
    socket.addEventListener("close", () => {
      this.socket = undefined;
      this.setState("offline");
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15_000);
    });
  }

  private emit(event: StreamEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private setState(state: StreamState): void {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }
}

export const liveStream = new LiveStream();

/** Calls `onEvent` for every stream event while the component is mounted. */
export function useLiveStream(onEvent: (event: StreamEvent) => void, deps: readonly unknown[]): void {
  useEffect(() => liveStream.listen(onEvent), deps);
}

/** The stream's connection state. */
export function useStreamState(): StreamState {
  const [state, setState] = useState<StreamState>(liveStream.state);
  useEffect(() => liveStream.watchState(setState), []);
  return state;
}
