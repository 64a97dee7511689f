import { ApiError } from "./api-client.js";

/** An error as a page shows it: what failed and the API's code. */
export function ErrorMessage({ error, what }: { readonly error: Error; readonly what: string }) {
  const detail = error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : error.message;
  return (
    <p class="error" role="alert">
      Could not {what}: {detail}
    </p>
  );
}
