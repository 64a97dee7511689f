import { useEffect, useState } from "preact/hooks";

/** The page the dashboard shows, from the URL's fragment (`#/jobs/<id>/graph`): no server routing needed. */
export type Route =
  | { readonly page: "jobs"; readonly status?: string; readonly type?: string }
  | { readonly page: "job"; readonly id: string }
  | { readonly page: "graph"; readonly id: string }
  | { readonly page: "metrics" }
  | { readonly page: "redrive" };

export function parseRoute(hash: string): Route {
  const [path = "", search = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter((part) => part !== "").map((part) => decodeURIComponent(part));
  const params = new URLSearchParams(search);
  if (parts[0] === "jobs" && parts[1] !== undefined) return parts[2] === "graph" ? { page: "graph", id: parts[1] } : { page: "job", id: parts[1] };
  if (parts[0] === "metrics") return { page: "metrics" };
  if (parts[0] === "redrive") return { page: "redrive" };
  const status = params.get("status") ?? undefined;
  const type = params.get("type") ?? undefined;
  return { page: "jobs", ...(status === undefined ? {} : { status }), ...(type === undefined ? {} : { type }) };
}

export const jobHref = (id: string) => `#/jobs/${encodeURIComponent(id)}`;
export const graphHref = (id: string) => `#/jobs/${encodeURIComponent(id)}/graph`;

export function navigate(hash: string): void {
  location.hash = hash;
}

/** The current route, following the fragment. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
