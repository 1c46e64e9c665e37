/** Calls the Worker under test as a client would: through its fetch handler, with or without the admin key. */
import { env } from "cloudflare:workers";
import { fetchWorker } from "./worker";

export const ADMIN_KEY = env.ADMIN_API_KEY as string;

export interface CallOptions {
  method?: string;
  body?: unknown;
  rawBody?: BodyInit;
  headers?: Record<string, string>;
  auth?: boolean;
}

/** Sends a request to the Worker; JSON bodies are encoded and the admin key attached unless `auth: false`. */
export async function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.auth !== false) headers.authorization ??= `Bearer ${ADMIN_KEY}`;
  let body: BodyInit | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return fetchWorker(new Request(`https://nurture.test${path}`, { method: options.method ?? "GET", headers, body }));
}

/** Sends a request and parses its JSON answer. */
export async function callJson<T = any>(path: string, options: CallOptions = {}): Promise<{ status: number; body: T; response: Response }> {
  const response = await call(path, options);
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T, response };
}
