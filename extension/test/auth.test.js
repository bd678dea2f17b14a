import assert from "node:assert/strict";
import { test } from "node:test";
import { Credentials, REFRESH_MARGIN_MS } from "../src/lib/auth.js";

class Area {
  constructor(values = {}) {
    this.values = { ...values };
  }
  async get(keys) {
    const list = Array.isArray(keys) ? keys : [keys];
    return Object.fromEntries(list.filter((k) => k in this.values).map((k) => [k, this.values[k]]));
  }
  async set(values) {
    Object.assign(this.values, values);
  }
  async remove(key) {
    delete this.values[key];
  }
}

function server(clock) {
  const calls = [];
  let issued = 0;
  const fetchFn = async (url, init) => {
    calls.push({ url, body: init.body ? JSON.parse(init.body) : null });
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (url.endsWith("/v1/auth/refresh") && JSON.parse(init.body).refresh_token === "spent") {
      return { ok: false, status: 401, json: async () => ({ detail: "refresh token reused" }) };
    }
    issued += 1;
    return { ok: true, status: 200, json: async () => ({ access_token: `a${issued}`, refresh_token: `r${issued}`, expires_in: 900, organization_id: "o", user_id: "u" }) };
  };
  return { calls, fetchFn };
}

test("signs in and sends the access token while it is fresh", async () => {
  let now = 1_000_000;
  const { calls, fetchFn } = server();
  const creds = new Credentials({ session: new Area(), local: new Area({ apiBase: "http://api/" }), fetchFn, now: () => now });
  await creds.signIn("ann@example.com", "pw");
  assert.equal(calls[0].url, "http://api/v1/auth/login");
  assert.deepEqual(await creds.headers(), { Authorization: "Bearer a1" });
  now += 900_000 - REFRESH_MARGIN_MS - 1;
  assert.deepEqual(await creds.headers(), { Authorization: "Bearer a1" });
  assert.equal(calls.length, 1);
});

test("refreshes before expiry, once for many concurrent requests", async () => {
  let now = 0;
  const { calls, fetchFn } = server();
  const session = new Area();
  const creds = new Credentials({ session, local: new Area({ apiBase: "http://api" }), fetchFn, now: () => now });
  await creds.signIn("ann@example.com", "pw");
  now = 900_000 - REFRESH_MARGIN_MS + 1;
  const all = await Promise.all([creds.headers(), creds.headers(), creds.headers()]);
  assert.deepEqual(all, Array(3).fill({ Authorization: "Bearer a2" }));
  const refreshes = calls.filter((c) => c.url.endsWith("/refresh"));
  assert.equal(refreshes.length, 1);
  assert.equal(refreshes[0].body.refresh_token, "r1");
  assert.equal(session.values.tokens.refresh, "r2");
  assert.equal(await creds.refreshDueIn(), 900_000 - REFRESH_MARGIN_MS);
});

test("a refused refresh signs out", async () => {
  const { fetchFn } = server();
  const session = new Area({ tokens: { access: "a", refresh: "spent", expiresAt: 0 } });
  const creds = new Credentials({ session, local: new Area({ apiBase: "http://api" }), fetchFn, now: () => 10 });
  await assert.rejects(creds.headers(), /reused/);
  assert.equal(session.values.tokens, undefined);
  await assert.rejects(creds.headers(), /Sign in/);
});

test("an API key wins over tokens", async () => {
  const { calls, fetchFn } = server();
  const creds = new Credentials({ session: new Area(), local: new Area({ apiBase: "http://api", apiKey: "tck_1" }), fetchFn });
  assert.deepEqual(await creds.headers(), { "X-API-Key": "tck_1" });
  assert.equal(calls.length, 0);
});
