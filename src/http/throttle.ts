/**
 * Rate limits for what a stranger can reach: snippet collection, sign-ups
 * (confirmation mails), double opt-in confirms, and failed admin logins and
 * bearer checks. Each (rule, key) pair is one small Durable Object holding a
 * fixed-window counter in its storage, erased by an alarm when the window ends.
 *
 * A Durable Object rather than Cloudflare's Rate Limiting binding: the binding
 * cannot tell whether a key is over its limit without counting one more hit
 * (an admin throttle must refuse a throttled client's next guess before
 * comparing it, right or wrong), its periods stop at 60 s, and it is
 * per-location and approximate by design. See CONTRIBUTING.md.
 */
import { DurableObject } from "cloudflare:workers";
import type { Context } from "hono";
import type { Env } from "../env";
import { ApiError } from "./errors";

/** Each rule: at most `limit` hits per `windowMs` for one key. */
export const THROTTLE_RULES = {
  /** `POST /v1/collect` requests per client IP. */
  collect: { limit: 120, windowMs: 60_000 },
  /** `identify` messages per address, whatever the IP. */
  identify: { limit: 10, windowMs: 3_600_000 },
  /** New addresses signed up (each gets a confirmation mail) per client IP. */
  signup: { limit: 10, windowMs: 3_600_000 },
  /** Double opt-in confirms per client IP. */
  confirm: { limit: 30, windowMs: 3_600_000 },
  /** Failed dashboard logins and bearer checks per client IP; past it every attempt is refused unchecked. */
  adminFailure: { limit: 10, windowMs: 600_000 },
} as const;
export type ThrottleRule = keyof typeof THROTTLE_RULES;

interface Window {
  start: number;
  count: number;
}

/** One key's counter for one rule. */
export class Throttle extends DurableObject<Env> {
  /** Counts a hit; false (and not counted) when the window's limit is already reached. */
  async hit(limit: number, windowMs: number): Promise<boolean> {
    const window = await this.current(windowMs);
    if (window.count >= limit) return false;
    await this.ctx.storage.put("window", { ...window, count: window.count + 1 });
    return true;
  }

  /** Whether the window's limit is reached, counting (and writing) nothing. */
  async exhausted(limit: number, windowMs: number): Promise<boolean> {
    const stored = await this.ctx.storage.get<Window>("window");
    return !!stored && stored.start + windowMs > Date.now() && stored.count >= limit;
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  private async current(windowMs: number): Promise<Window> {
    const now = Date.now();
    const stored = await this.ctx.storage.get<Window>("window");
    if (stored && stored.start + windowMs > now) return stored;
    const fresh = { start: now, count: 0 };
    await this.ctx.storage.put("window", fresh);
    await this.ctx.storage.setAlarm(now + windowMs);
    return fresh;
  }
}

function counter(env: Env, rule: ThrottleRule, key: string) {
  return env.THROTTLE.get(env.THROTTLE.idFromName(`${rule}:${key}`));
}

/** Counts a hit of `key` under `rule`; false when the key is over its limit. */
export function allowHit(env: Env, rule: ThrottleRule, key: string): Promise<boolean> {
  const { limit, windowMs } = THROTTLE_RULES[rule];
  return counter(env, rule, key).hit(limit, windowMs);
}

/** Whether `key` is over its limit under `rule`, counting nothing. */
export function isExhausted(env: Env, rule: ThrottleRule, key: string): Promise<boolean> {
  const { limit, windowMs } = THROTTLE_RULES[rule];
  return counter(env, rule, key).exhausted(limit, windowMs);
}

/**
 * The client's IP as Cloudflare's edge reports it (the edge sets `cf-connecting-ip` on every request and a
 * client cannot override it). Absent only off Cloudflare — tests, or a local run without it — where per-IP
 * limits do not apply.
 */
export function clientIp(c: Context): string | null {
  return c.req.header("cf-connecting-ip")?.trim().slice(0, 64) || null;
}

/** The 429 every throttled request gets, in the SPEC's error shape, with a `Retry-After` of the rule's window. */
export function rateLimited(c: Context, rule: ThrottleRule): ApiError {
  c.header("Retry-After", String(Math.ceil(THROTTLE_RULES[rule].windowMs / 1000)));
  return new ApiError(429, "rate_limited", "Too many requests; try again later");
}
