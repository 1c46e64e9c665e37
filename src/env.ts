/**
 * The Worker's bindings and configuration, parsed in one place. Anything that
 * reads a var or secret goes through `readConfig`, which fails loudly on
 * misconfiguration instead of letting a bad value surface deep in a request.
 */
import { z } from "zod";
import type { ContactTimer } from "./contact/contact-timer";
import { SYSTEM_ATTRIBUTES } from "./flows/conditions";
import type { Throttle } from "./http/throttle";
import type { QueuedEngagement } from "./tracking/engagement";

export interface Env {
  DB: D1Database;
  CONTACT_TIMER: DurableObjectNamespace<ContactTimer>;
  THROTTLE: DurableObjectNamespace<Throttle>;
  /** Opens and clicks on their way to being recorded (tracking/enqueue.ts → tracking/consumer.ts). */
  TRACKING: Queue<QueuedEngagement>;
  ADMIN_API_KEY?: string;
  SITE_KEY?: string;
  IDENTITY_SECRET?: string;
  SNIPPET_TRAITS?: string;
  SIGNUP_OPT_IN?: string;
  TURNSTILE_SITE_KEY?: string;
  TURNSTILE_SECRET_KEY?: string;
  TURNSTILE_VERIFY_URL?: string;
  ALLOWED_ORIGINS?: string;
  SIGNING_SECRET?: string;
  PUBLIC_URL?: string;
  RESEND_API_KEY?: string;
  RESEND_BASE_URL?: string;
  RESEND_WEBHOOK_SECRET?: string;
  SHOPIFY_WEBHOOK_SECRET?: string;
  WOOCOMMERCE_WEBHOOK_SECRET?: string;
  STRIPE_WEBHOOK_SECRET?: string;
  FROM_EMAIL?: string;
  POSTAL_ADDRESS?: string;
  SHOP_NAME?: string;
  SHOP_URL?: string;
  SEND_RATE_PER_SECOND?: string;
  ATTRIBUTION_CLICK_WINDOW?: string;
  ATTRIBUTION_OPEN_WINDOW?: string;
  MONTHLY_COST?: string;
  CURRENCY?: string;
  RETENTION_DAYS?: string;
  WORKERS_PLAN?: string;
}

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));

const WINDOW_UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** An attribution window such as `5d` or `12h`, in milliseconds. */
const windowMs = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const m = /^([1-9]\d{0,4})(m|h|d|w)$/.exec(v?.trim() || fallback);
      if (!m) {
        ctx.addIssue({ code: "custom", message: "expected a duration such as 5d, 12h or 1w" });
        return z.NEVER;
      }
      return Number(m[1]) * WINDOW_UNIT_MS[m[2] as keyof typeof WINDOW_UNIT_MS];
    });

/** Contact fields a snippet `identify` may set, by trait name; every other allowed trait becomes an attribute. */
export const SNIPPET_TRAIT_FIELDS = { first_name: "firstName", last_name: "lastName", timezone: "timezone" } as const;

/**
 * Names a shop can never allow from the snippet: system fields (consent, money, counters) other than the
 * contact fields above, tags, and the suppression flag.
 */
const FORBIDDEN_SNIPPET_TRAITS: ReadonlySet<string> = new Set([
  ...SYSTEM_ATTRIBUTES.filter((name) => !(name in SNIPPET_TRAIT_FIELDS)),
  "tags",
  "suppressed",
]);

const configSchema = z
  .object({
    ADMIN_API_KEY: z.string().min(16, "ADMIN_API_KEY must be at least 16 characters"),
    SIGNING_SECRET: z.string().min(16, "SIGNING_SECRET must be at least 16 characters"),
    SITE_KEY: optionalText,
    /** HMAC key the shop's backend signs a logged-in customer's email with (`identity_signature`); unset → no signatures. */
    IDENTITY_SECRET: optionalText.pipe(z.string().min(16, "IDENTITY_SECRET must be at least 16 characters").optional()),
    /** Traits a snippet `identify` may set on a new contact (comma-separated); default first and last name. */
    SNIPPET_TRAITS: optionalText.transform((v, ctx) => {
      const names = (v ?? "first_name,last_name")
        .split(",")
        .map((n) => n.trim())
        .filter(Boolean);
      const forbidden = names.filter((n) => FORBIDDEN_SNIPPET_TRAITS.has(n) || !/^[A-Za-z_][\w-]{0,63}$/.test(n));
      if (forbidden.length > 0) {
        ctx.addIssue({ code: "custom", message: `the snippet may never set ${forbidden.join(", ")}` });
        return z.NEVER;
      }
      return names;
    }),
    /**
     * How a sign-up form (the snippet's `data-nurture-signup`, `/subscribe`) subscribes a new address: `double`
     * (default) sends the confirmation email first; `single` subscribes at once, which lets anyone subscribe anyone.
     */
    SIGNUP_OPT_IN: optionalText.pipe(z.enum(["double", "single"]).default("double")),
    /** Cloudflare Turnstile's widget key; with the secret below, every sign-up must carry a token Cloudflare verifies. */
    TURNSTILE_SITE_KEY: optionalText,
    TURNSTILE_SECRET_KEY: optionalText,
    /** Where Turnstile tokens are verified; tests point it at a fake. */
    TURNSTILE_VERIFY_URL: z.url().default("https://challenges.cloudflare.com/turnstile/v0/siteverify"),
    ALLOWED_ORIGINS: optionalText.transform((v) =>
      (v ?? "")
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    ),
    PUBLIC_URL: z.url().default("http://localhost:8787"),
    RESEND_API_KEY: optionalText,
    RESEND_BASE_URL: z.url().default("https://api.resend.com"),
    RESEND_WEBHOOK_SECRET: optionalText,
    /** Signing secrets of the connectors (SPEC section 11); an unset one turns its /connect/* route off (404). */
    SHOPIFY_WEBHOOK_SECRET: optionalText,
    WOOCOMMERCE_WEBHOOK_SECRET: optionalText,
    STRIPE_WEBHOOK_SECRET: optionalText,
    FROM_EMAIL: z.string().min(3).default("Nurture <hello@example.com>"),
    POSTAL_ADDRESS: z.string().default(""),
    /** The shop as templates name it (`shop.name`); defaults to the sender's display name. */
    SHOP_NAME: optionalText,
    /** The shop's website (`shop.url`), where emails' buttons lead; defaults to PUBLIC_URL. */
    SHOP_URL: optionalText.pipe(z.url().optional()),
    SEND_RATE_PER_SECOND: z.coerce.number().positive().max(1000).default(2),
    /** An order is attributed to the last email clicked within this window… */
    ATTRIBUTION_CLICK_WINDOW: windowMs("5d"),
    /** …else to the last email opened within this one. */
    ATTRIBUTION_OPEN_WINDOW: windowMs("1d"),
    /** What Nurture costs per month (sending, hosting); ROI = (revenue − cost) / cost. 0 = no ROI. */
    MONTHLY_COST: z.coerce.number().min(0).max(1e9).default(0),
    /** The ISO 4217 currency the dashboard shows revenue in. */
    CURRENCY: z
      .string()
      .trim()
      .regex(/^[A-Za-z]{3}$/, "CURRENCY must be a three-letter ISO 4217 code such as EUR")
      .transform((v) => v.toUpperCase())
      .default("EUR"),
    /** Days raw tracking events are kept (db/retention.ts); at least 30, so attribution windows and recent reports never lose one. */
    RETENTION_DAYS: z.coerce.number().int().min(30).max(36_500).default(400),
    /** The Workers plan the Worker runs on; it sets how many ContactTimer calls one invocation makes (contact/call-budget). */
    WORKERS_PLAN: optionalText.pipe(z.enum(["free", "paid"], "WORKERS_PLAN must be free or paid").default("free")),
  })
  .refine((config) => !config.TURNSTILE_SECRET_KEY || config.TURNSTILE_SITE_KEY, {
    // The hosted /subscribe page renders the widget with the site key; a secret alone would refuse every sign-up there.
    message: "TURNSTILE_SECRET_KEY needs TURNSTILE_SITE_KEY too",
    path: ["TURNSTILE_SITE_KEY"],
  });

export type Config = z.infer<typeof configSchema>;

/** The shop as emails and the recipient's pages name it: SHOP_NAME, else the display name of FROM_EMAIL. */
export function shopName(config: Config): string {
  return config.SHOP_NAME ?? /^\s*"?([^"<]+?)"?\s*</.exec(config.FROM_EMAIL)?.[1] ?? config.FROM_EMAIL;
}

const cache = new WeakMap<object, Config>();

/** Parses and caches the configuration for this set of bindings; throws a readable error when it is invalid. */
export function readConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Nurture is misconfigured: ${problems}`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
