import { describe, expect, it } from "vitest";
import { call, callJson } from "../helpers/api";

describe("public foundation", () => {
  it("answers liveness without a key", async () => {
    const { status, body } = await callJson("/healthz", { auth: false });
    expect(status).toBe(200);
    expect(body).toEqual({ ok: true });
  });

  it("serves the OpenAPI document generated from the route schemas", async () => {
    const { status, body } = await callJson("/openapi.json", { auth: false });
    expect(status).toBe(200);
    expect(body.openapi).toBe("3.1.0");
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(["/v1/contacts", "/v1/contacts/{idOrEmail}", "/v1/events", "/healthz"]));
    expect(body.components.schemas.ContactInput.properties.email).toBeDefined();
  });

  it("answers unknown routes with the JSON error shape", async () => {
    const response = await call("/nope", { auth: false });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: "not_found", message: expect.any(String) } });
  });
});
