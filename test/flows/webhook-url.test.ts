import { describe, expect, it } from "vitest";
import { webhookPolicy, webhookUrlRefusal } from "../../src/flows/webhook-url";

const production = { allowHttp: false };

describe("a webhook URL names a public https host", () => {
  it.each([
    ["https://127.0.0.1/hook", "ip_address"],
    ["https://2130706433/hook", "ip_address"],
    ["https://0x7f000001/hook", "ip_address"],
    ["https://0177.0.0.1/hook", "ip_address"],
    ["https://127.1/hook", "ip_address"],
    ["https://127.0.0.1./hook", "ip_address"],
    ["https://10.1.2.3/hook", "ip_address"],
    ["https://172.16.0.1/hook", "ip_address"],
    ["https://192.168.0.10/hook", "ip_address"],
    ["https://169.254.169.254/latest/meta-data", "ip_address"],
    ["https://100.64.0.1/hook", "ip_address"],
    ["https://0.0.0.0/hook", "ip_address"],
    ["https://93.184.216.34/hook", "ip_address"],
    ["https://[::1]/hook", "ip_address"],
    ["https://[::ffff:127.0.0.1]/hook", "ip_address"],
    ["https://[fd12:3456::1]/hook", "ip_address"],
    ["https://[fe80::1]/hook", "ip_address"],
    ["https://localhost/hook", "local_host"],
    ["https://LOCALHOST./hook", "local_host"],
    ["https://api.localhost/hook", "local_host"],
    ["https://printer.local/hook", "local_host"],
    ["https://metadata.google.internal/computeMetadata/v1/", "local_host"],
    ["https://nas.home.arpa/hook", "local_host"],
    ["https://intranet/hook", "local_host"],
    ["http://hooks.example.com/hook", "not_https"],
    ["ftp://hooks.example.com/hook", "invalid_url"],
    ["not a url", "invalid_url"],
  ])("refuses %s (%s)", (url, reason) => {
    expect(webhookUrlRefusal(url, production)).toBe(reason);
  });

  it.each(["https://hooks.example.com/nurture", "https://crm.example.co.uk:8443/in?src=nurture", "https://xn--bcher-kva.example/hook"])(
    "accepts %s",
    (url) => {
      expect(webhookUrlRefusal(url, production)).toBeNull();
    },
  );

  it("allows plain http only when Nurture itself is served locally, and never to a local host", () => {
    for (const local of ["http://localhost:8787", "http://127.0.0.1:8787", "http://nurture.localhost"]) {
      expect(webhookPolicy(local).allowHttp, local).toBe(true);
    }
    expect(webhookPolicy("https://nurture.shop.example").allowHttp).toBe(false);
    expect(webhookUrlRefusal("http://hooks.example.com/hook", webhookPolicy("http://localhost:8787"))).toBeNull();
    expect(webhookUrlRefusal("http://localhost:9000/hook", webhookPolicy("http://localhost:8787"))).toBe("local_host");
  });
});
