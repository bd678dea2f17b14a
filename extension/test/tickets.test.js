import assert from "node:assert/strict";
import { test } from "node:test";
import { badgeText, markSeen, merge, remember, unseen } from "../src/lib/tickets.js";
import { percent, summarize } from "../src/lib/triage.js";
import { extensionId } from "../scripts/extension-id.mjs";

test("status changes show on the badge until seen", () => {
  let list = remember([], { id: "1", key: "T-1", title: "A", status: "open", updated_at: "t0" });
  list = remember(list, { id: "2", key: "T-2", title: "B", status: "open", updated_at: "t0" });
  assert.equal(badgeText(list), "");
  list = merge(list, new Map([["1", { title: "A", status: "resolved", updated_at: "t1" }]]));
  assert.equal(unseen(list), 1);
  assert.equal(badgeText(list), "1");
  assert.equal(badgeText(markSeen(list)), "");
});

test("triage: latest decision per agent with confidences, duplicates flagged", () => {
  const summary = summarize({
    summary: "s",
    similar: [{ key: "T-3", title: "x", similarity: 0.95, possible_duplicate: true }, { key: "T-4", title: "y", similarity: 0.5, possible_duplicate: false }],
    decisions: [
      { agent: "priority", created_at: "1", output: { priority: "low", confidence: 0.2 } },
      { agent: "priority", created_at: "2", output: { priority: "high", confidence: 0.61 } },
      { agent: "categorization", created_at: "2", output: { category: "Billing", category_confidence: 0.7, type: "bug", type_confidence: 0.8, tags: [{ name: "checkout", confidence: 0.45 }] } },
    ],
  });
  assert.equal(summary.ready, true);
  assert.deepEqual(summary.priority, { value: "high", confidence: 0.61 });
  assert.deepEqual(summary.category, { value: "Billing", confidence: 0.7 });
  assert.deepEqual(summary.tags, [{ value: "checkout", confidence: 0.45 }]);
  assert.deepEqual(summary.duplicates.map((d) => d.key), ["T-3"]);
  assert.equal(percent(0.614), "61 %");
  assert.equal(summarize({ decisions: [] }).ready, false);
});

test("the extension id follows from the public key as Chrome derives it", () => {
  // sha256("abc") = ba7816bf...: each hex digit written as a letter a-p.
  const id = extensionId(Buffer.from("abc").toString("base64"));
  assert.match(id, /^[a-p]{32}$/);
  assert.equal(id.slice(0, 8), "lkhibglp");
});
