// Shared by the benchmarks: a fake Resend on loopback. POST /emails/batch,
// honouring idempotency keys as Resend does (a key seen before gets its first
// answer and sends nothing again), refusing batches over 100 emails, and,
// while `throttled`, holding to Resend's default limit of 2 requests/s with 429
// beyond. `accepted` has the time of each email really sent, `recipients` its address, `requests` the time of
// each request that sent them, `refused` the time of each 429.
import { createServer } from "node:http";

export const LIMIT_PER_SECOND = 2;
export const BATCH_LIMIT = 100;

/** Starts the fake; `throttled` can be switched off later (fake.throttled = false). */
export async function startFakeResend({ throttled }) {
  const accepted = [];
  const recipients = [];
  const requests = [];
  const refused = [];
  const answered = new Map();
  const recent = [];
  let rejected429 = 0;
  let overBatch = 0;
  const fake = {
    throttled,
    accepted,
    recipients,
    requests,
    refused,
    stats: () => ({ rejected429, overBatch }),
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const now = Date.now();
      const reply = (status, body) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (fake.throttled) {
        while (recent.length && recent[0] <= now - 1000) recent.shift();
        if (recent.length >= LIMIT_PER_SECOND) {
          rejected429++;
          refused.push(now);
          res.setHeader("retry-after", "1");
          return reply(429, { name: "rate_limit_exceeded", message: "Too many requests" });
        }
        recent.push(now);
      }
      const emails = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      if (emails.length > BATCH_LIMIT) {
        overBatch++;
        return reply(422, { name: "validation_error", message: "Too many emails in the batch" });
      }
      const key = req.headers["idempotency-key"];
      if (key && answered.has(key)) return reply(200, answered.get(key));
      const body = { data: emails.map((_, i) => ({ id: `re_${accepted.length + i}` })) };
      requests.push(now);
      for (const email of emails) {
        accepted.push(now);
        recipients.push(email.to[0]);
      }
      if (key) answered.set(key, body);
      reply(200, body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${server.address().port}`;
  fake.stop = () => new Promise((resolve) => server.close(resolve));
  return fake;
}
