// The editor: annotate the screenshot (or watch the recording), write a title and a
// description, and file it. A recording starts uploading as soon as the editor has it (all but
// its end, see UploadAhead). Filing queues the submission (IndexedDB), finishes the upload with
// tus, creates the capture with an Idempotency-Key, then shows what the AI made of it.
import { api, credentials } from "./lib/api.js";
import { rectFrom, render, toImagePoint } from "./lib/annotate.js";
import { IdbStore } from "./lib/db.js";
import { State, SubmissionQueue } from "./lib/queue.js";
import { remember } from "./lib/tickets.js";
import { percent, summarize } from "./lib/triage.js";
import { UploadAhead, tusUpload } from "./lib/upload.js";

const $ = (id) => document.getElementById(id);
const drafts = new IdbStore("drafts");
const creds = credentials();
const draftId = new URLSearchParams(location.search).get("draft");
const shapes = [];
let image = null;
let tool = "arrow";
let ahead = null; // this page's recording, uploading while the person writes the ticket

// ------------------------------------------------------------------ the capture

function showContext(context) {
  const list = $("context-list");
  const items = [
    `Page: ${context.page?.title || "(untitled)"} — ${context.page?.url || ""}`,
    `${context.console?.length ?? 0} console errors and warnings`,
    `${context.network?.length ?? 0} failed requests`,
    `${context.steps?.length ?? 0} steps`,
  ];
  list.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
}

function redraw() {
  const canvas = $("canvas");
  render(canvas.getContext("2d", { willReadFrequently: true }), image, shapes);
}

function annotate(canvas) {
  let start = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return toImagePoint({ x: event.clientX - box.left, y: event.clientY - box.top }, box, canvas);
  };
  const shapeFor = (a, b) => {
    if (tool === "arrow") return { type: "arrow", x1: a.x, y1: a.y, x2: b.x, y2: b.y };
    if (tool === "rect" || tool === "blur") return { type: tool, rect: rectFrom(a, b) };
    return null;
  };
  canvas.addEventListener("pointerdown", (event) => {
    const at = point(event);
    if (tool === "text") {
      const text = $("annotation-text").value.trim();
      if (text) shapes.push({ type: "text", x: at.x, y: at.y, text });
      redraw();
      return;
    }
    start = at;
    shapes.push(shapeFor(start, start));
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!start) return;
    shapes[shapes.length - 1] = shapeFor(start, point(event));
    redraw();
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!start) return;
    shapes[shapes.length - 1] = shapeFor(start, point(event));
    start = null;
    redraw();
  });
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => {
      tool = button.dataset.tool;
      for (const other of document.querySelectorAll("[data-tool]")) other.setAttribute("aria-pressed", String(other === button));
    });
  }
  $("undo").addEventListener("click", () => {
    shapes.pop();
    redraw();
  });
}

async function load(draft) {
  showContext(draft.context ?? {});
  if (draft.kind === "screenshot") {
    image = await createImageBitmap(draft.media);
    const canvas = $("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.hidden = false;
    $("tools").hidden = false;
    redraw();
    annotate(canvas);
  } else {
    const video = $("video");
    video.src = URL.createObjectURL(draft.media);
    video.hidden = false;
  }
}

// The PNG with the annotations drawn in, or the recording as it is.
function finalMedia(draft) {
  if (draft.kind !== "screenshot") return Promise.resolve(draft.media);
  return new Promise((resolve) => $("canvas").toBlob(resolve, "image/png"));
}

async function software() {
  const data = navigator.userAgentData;
  if (!data?.getHighEntropyValues) return { browser: {}, os: {} };
  const values = await data.getHighEntropyValues(["platformVersion", "fullVersionList"]);
  const brands = (values.fullVersionList ?? []).filter((b) => !/not.a.brand/i.test(b.brand));
  const brand = brands.find((b) => b.brand !== "Chromium") ?? brands[0];
  return {
    browser: { name: brand?.brand ?? "", version: brand?.version ?? "" },
    os: { name: values.platform ?? "", version: values.platformVersion ?? "" },
  };
}

const platform = software(); // asked once, while the person writes

async function captureBody(draft) {
  const context = draft.context ?? {};
  const { browser, os } = await platform;
  const title = $("title").value.trim();
  const description = $("description").value;
  return {
    kind: draft.kind,
    page_url: context.page?.url ?? "",
    page_title: context.page?.title ?? "",
    user_agent: `${navigator.userAgent} TicketCreator/${chrome.runtime.getManifest().version}`.slice(0, 1000),
    browser,
    os,
    viewport: context.page?.viewport ?? null,
    console: context.console ?? [],
    network: { version: "1.2", entries: context.network ?? [] },
    steps: context.steps ?? [],
    description,
    ticket: { ...(title ? { title } : {}), description },
  };
}

// ------------------------------------------------------------------ filing

const queue = new SubmissionQueue(new IdbStore("queue"), {
  upload: async (item, { onUrl, onProgress }) => {
    if (ahead && item.id === draftId) {
      // Finish the upload that went ahead; if it failed, the next attempt resumes from its URL.
      const started = ahead;
      ahead = null;
      return started.finish({ onUrl, onProgress });
    }
    const { apiBase } = await creds.settings();
    return tusUpload(item, { apiBase, headers: () => creds.headers(), onUrl, onProgress });
  },
  file: (item) =>
    api("/v1/captures", {
      method: "POST",
      body: { ...item.body, attachment_ids: [item.attachmentId] },
      headers: { "Idempotency-Key": item.idempotencyKey },
      creds,
    }),
  onChange: (item) => {
    if (item.id !== draftId) return;
    $("bar").value = item.progress ?? 0;
    $("progress-text").textContent = item.state === State.WAITING && item.error
      ? `Waiting for the network (${item.error}); it resumes by itself.`
      : `${Math.round((item.progress ?? 0) * 100)} %`;
  },
});

async function fileIt(draft) {
  $("file").disabled = true;
  $("discard").disabled = true;
  $("progress").hidden = false;
  $("status").textContent = "Uploading…";
  const media = await finalMedia(draft);
  const existing = await queue.store.get(draft.id);
  if (!existing) {
    await queue.add({ id: draft.id, media, filename: draft.filename, filetype: draft.filetype, body: await captureBody(draft) });
  }
  await runUntilFiled();
}

// Runs the queue until this page's submission is filed or refused; while it waits for the
// network, a retry comes with the browser's "online" event or every few seconds.
async function runUntilFiled() {
  for (;;) {
    await queue.run();
    const item = await queue.store.get(draftId);
    if (item.state === State.FILED) return filed(item.capture);
    if (item.state === State.FAILED) {
      $("status").textContent = `The API refused the ticket: ${item.error}`;
      $("status").className = "error";
      return;
    }
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 3000);
      window.addEventListener("online", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
}

async function filed(capture) {
  const [{ ticketLink = "" }, { apiBase }] = await Promise.all([chrome.storage.local.get("ticketLink"), creds.settings(), drafts.delete(draftId)]);
  const link = (ticketLink || `${apiBase}/v1/tickets/{key}`).replace("{key}", capture.ticket_key);
  $("progress").hidden = true;
  $("status").textContent = "";
  $("form").hidden = true;
  $("result").hidden = false;
  Object.assign($("ticket-link"), { href: link, textContent: capture.ticket_key });
  document.body.dataset.ticket = capture.ticket_key;
  try {
    const ticket = await api(`/v1/tickets/${capture.ticket_id}`, { creds });
    const { tickets = [] } = await chrome.storage.local.get("tickets");
    await chrome.storage.local.set({ tickets: remember(tickets, ticket) });
  } catch {
    // the list catches up on the next poll
  }
  await showTriage(capture.ticket_key);
}

function row(label, entry) {
  const tr = document.createElement("tr");
  tr.append(
    Object.assign(document.createElement("th"), { textContent: label }),
    Object.assign(document.createElement("td"), { textContent: entry?.value ?? "—" }),
    Object.assign(document.createElement("td"), { textContent: percent(entry?.confidence) }),
  );
  return tr;
}

async function showTriage(key) {
  const box = $("triage");
  let found = null;
  for (let attempt = 0; attempt < 40; attempt += 1) {
    try {
      found = summarize(await api(`/v1/tickets/${key}/ai`, { creds }));
      if (found.ready) break;
    } catch {
      // keep trying while the worker runs
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
  if (!found?.ready) {
    box.textContent = "Triage is not done yet; the ticket is filed all the same.";
    return;
  }
  const table = document.createElement("table");
  table.id = "triage-table";
  table.append(row("Category", found.category), row("Priority", found.priority), row("Type", found.type));
  for (const tag of found.tags) table.append(row("Tag", tag));
  const parts = [table];
  if (found.similar.length) {
    const list = document.createElement("ul");
    list.id = "duplicates";
    for (const similar of found.similar) {
      const li = document.createElement("li");
      li.textContent = `${similar.key} ${similar.title} (${percent(similar.similarity)} similar)${similar.possible_duplicate ? " — possible duplicate" : ""}`;
      if (similar.possible_duplicate) li.className = "dup";
      list.append(li);
    }
    parts.push(Object.assign(document.createElement("h3"), { textContent: "Similar tickets" }), list);
  }
  box.replaceChildren(...parts);
  document.body.dataset.triaged = "true";
}

// ------------------------------------------------------------------ start

// The editor of a recording opens when the person stops it, while the offscreen document
// stores it: resolves when it is stored.
function recordingStored() {
  return new Promise((resolve) => {
    chrome.runtime.onMessage.addListener(function stored(message) {
      if (message?.type !== "recording-done" || message.draftId !== draftId) return;
      chrome.runtime.onMessage.removeListener(stored);
      resolve();
    });
  });
}

async function main() {
  const stored = recordingStored();
  // Read before the draft: a recording is stored before it stops being "the recording".
  const { recording } = await chrome.storage.session.get("recording");
  let [pending, draft, { apiBase }] = draftId
    ? await Promise.all([queue.store.get(draftId), drafts.get(draftId), creds.settings()])
    : [null, null, {}];
  if (draftId && !draft && !pending && recording) {
    $("status").textContent = "Saving the recording…";
    await stored;
    draft = await drafts.get(draftId);
    $("status").textContent = "";
  }
  if (pending?.state === State.FILED) return filed(pending.capture);
  if (!draft && !pending) {
    $("status").textContent = "This capture was filed or discarded already.";
    $("form").hidden = true;
    return;
  }
  if (draft) await load(draft);
  if (pending) {
    $("form").hidden = true;
    $("progress").hidden = false;
    return runUntilFiled();
  }
  if (draft.kind !== "screenshot" && apiBase) ahead = new UploadAhead(draft, { apiBase, headers: () => creds.headers() });
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    fileIt(draft).catch((error) => {
      $("status").textContent = String(error.message ?? error);
      $("status").className = "error";
    });
  });
  $("discard").addEventListener("click", async () => {
    await ahead?.discard();
    await drafts.delete(draftId);
    window.close();
  });
  document.body.dataset.ready = "true";
}

$("confirm").addEventListener("click", () => {
  $("confirm").hidden = true;
  $("confirmed").hidden = false;
});
main();
