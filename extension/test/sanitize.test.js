import assert from "node:assert/strict";
import { test } from "node:test";
import { REDACTED, cleanBody, cleanHarEntry, cleanHeaders, cleanText, cleanUrl, isSecretName } from "../src/lib/sanitize.js";

test("secret query parameters are replaced, others kept", () => {
  const url = cleanUrl("https://api.example.com/v1/avatar?access_token=qtok-9d8c&size=2&code=abc&sig=xyz");
  const params = new URL(url).searchParams;
  assert.equal(params.get("access_token"), REDACTED);
  assert.equal(params.get("code"), REDACTED);
  assert.equal(params.get("sig"), REDACTED);
  assert.equal(params.get("size"), "2");
  assert.ok(!url.includes("qtok-9d8c"));
});

test("credentials in the URL are dropped and a URL without secrets is unchanged", () => {
  assert.equal(cleanUrl("https://ann:pw@example.com/a?b=1"), "https://example.com/a?b=1");
  assert.equal(cleanUrl("https://example.com/orders?page=2"), "https://example.com/orders?page=2");
});

test("names: like the API, short names are secret only in URLs", () => {
  assert.ok(isSecretName("code", "query"));
  assert.ok(!isSecretName("code", "body"));
  assert.ok(isSecretName("X-Session-Token", "headers"));
  assert.ok(isSecretName("userPassword"));
  assert.ok(!isSecretName("author"));
});

test("authorization, cookie and API-key headers are redacted", () => {
  const cleaned = cleanHeaders([
    { name: "Authorization", value: "Bearer abc.def.ghi" },
    { name: "Cookie", value: "sid=1" },
    { name: "X-API-Key", value: "tck_1" },
    { name: "Accept", value: "application/json" },
  ]);
  assert.deepEqual(cleaned.map((h) => h.value), [REDACTED, REDACTED, REDACTED, "application/json"]);
});

test("credentials written into text", () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJl";
  assert.equal(cleanText("failed with Bearer abcdefgh12345678"), `failed with Bearer ${REDACTED}`);
  assert.equal(cleanText(`token ${jwt} expired`), `token ${REDACTED} expired`);
  assert.equal(cleanText("password=hunter2 retry"), `password=${REDACTED} retry`);
  assert.equal(cleanText("order PAY-502 failed"), "order PAY-502 failed");
});

test("JSON and form bodies: secret fields by name", () => {
  const json = JSON.parse(cleanBody(JSON.stringify({ user: { email: "a@b.c", password: "pw" }, code: "PAY-1" }), "application/json"));
  assert.deepEqual(json, { user: { email: "a@b.c", password: REDACTED }, code: "PAY-1" });
  assert.equal(cleanBody("user=ann&password=pw", "application/x-www-form-urlencoded"), `user=ann&password=${encodeURIComponent(REDACTED)}`);
});

test("a HAR entry: URL, query list and headers cleaned", () => {
  const entry = cleanHarEntry({
    startedDateTime: "2026-01-01T00:00:00Z",
    time: 12,
    request: { method: "GET", url: "https://x.test/a?token=t0k3n&q=1", headers: [{ name: "authorization", value: "Basic abcdefgh" }], queryString: [] },
    response: { status: 500, statusText: "", headers: [{ name: "set-cookie", value: "sid=2" }] },
  });
  assert.ok(!JSON.stringify(entry).includes("t0k3n"));
  assert.deepEqual(entry.request.queryString, [{ name: "token", value: REDACTED }, { name: "q", value: "1" }]);
  assert.equal(entry.request.headers[0].value, REDACTED);
  assert.equal(entry.response.headers[0].value, REDACTED);
});
