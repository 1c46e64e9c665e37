/**
 * The islands' only way to the server: the admin API (/v1/*) with the dashboard's
 * session cookie and its CSRF token in `X-CSRF-Token` (read from the page's
 * `<meta name="csrf-token">`), so an editor uses the same routes and validation as
 * curl does. Errors come back as the SPEC's error shape, never thrown as strings.
 */

/** One zod issue as the API reports it. */
export interface ApiIssue {
  path: (string | number)[];
  message: string;
  code?: string;
}

/** The SPEC's error body. */
export interface ApiProblem {
  status: number;
  code: string;
  message: string;
  issues: ApiIssue[];
}

/** An API answer: the parsed body, or the problem. */
export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; problem: ApiProblem };

function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

/** Calls the admin API; `body` is sent as JSON. */
export async function callApi<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": csrfToken(),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    return { ok: false, problem: { status: 0, code: "network", message: "The server could not be reached.", issues: [] } };
  }
  const parsed: unknown = await response.json().catch(() => null);
  if (response.ok) return { ok: true, status: response.status, body: parsed as T };
  const error = (parsed as { error?: Partial<ApiProblem> } | null)?.error;
  return {
    ok: false,
    problem: {
      status: response.status,
      code: error?.code ?? "http_error",
      message: error?.message ?? `The server answered ${response.status}.`,
      issues: Array.isArray(error?.issues) ? error.issues : [],
    },
  };
}
