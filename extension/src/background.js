// The service worker: takes screenshots, starts and stops recordings (in the offscreen
// document), injects the page collectors into the tab the person invoked the extension on,
// polls "My tickets" and keeps the badge and the access token fresh.
import { api, credentials } from "./lib/api.js";
import { IdbStore } from "./lib/db.js";
import { badgeText, merge } from "./lib/tickets.js";

const drafts = new IdbStore("drafts");
const COUNTDOWN_S = 3;
const REC_COLOR = "#d93025";

// ------------------------------------------------------------------ page collectors

// Console, network and steps are collected from the moment the extension is invoked on a tab
// (activeTab), or from page load everywhere if the person granted that in the options.
async function injectCollectors(tabId) {
  try {
    await chrome.scripting.executeScript({ target: { tabId }, files: ["page-hook.js"], world: "MAIN", injectImmediately: true });
    await chrome.scripting.executeScript({ target: { tabId }, files: ["content.js"], injectImmediately: true });
    return true;
  } catch {
    return false; // chrome:// pages, the Web Store, PDF viewer: nothing to collect there
  }
}

async function registerEverywhere() {
  const granted = await chrome.permissions.contains({ origins: ["<all_urls>"] });
  const registered = await chrome.scripting.getRegisteredContentScripts({ ids: ["hook", "content"] });
  if (granted && registered.length === 0) {
    await chrome.scripting.registerContentScripts([
      { id: "hook", js: ["page-hook.js"], matches: ["<all_urls>"], runAt: "document_start", world: "MAIN", allFrames: false },
      { id: "content", js: ["content.js"], matches: ["<all_urls>"], runAt: "document_start", allFrames: false },
    ]);
  } else if (!granted && registered.length) {
    await chrome.scripting.unregisterContentScripts({ ids: ["hook", "content"] });
  }
}

async function collect(tabId) {
  const tab = await chrome.tabs.get(tabId);
  try {
    const found = await chrome.tabs.sendMessage(tabId, { type: "collect" });
    if (found) return found;
  } catch {
    // no collector in this tab
  }
  return { console: [], network: [], steps: [], page: { url: tab.url ?? "", title: tab.title ?? "", viewport: null } };
}

// ------------------------------------------------------------------ captures

function openEditor(draftId) {
  return chrome.tabs.create({ url: chrome.runtime.getURL(`editor.html?draft=${draftId}`) });
}

// Without fetch(): the extension's policy allows no `data:` requests.
function dataUrlToBlob(dataUrl) {
  const [head, data] = dataUrl.split(",", 2);
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: head.slice(5).split(";")[0] });
}

async function screenshot(tabId) {
  const tab = await chrome.tabs.get(tabId);
  const dataUrl = await chrome.tabs.captureVisibleTab(tab.windowId, { format: "png" });
  const media = dataUrlToBlob(dataUrl);
  const id = crypto.randomUUID();
  await drafts.put({ id, kind: "screenshot", media, filename: "screenshot.png", filetype: "image/png", context: await collect(tabId), createdAt: Date.now() });
  await openEditor(id);
  return id;
}

async function ensureOffscreen() {
  const contexts = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"] });
  if (contexts.length) return;
  await chrome.offscreen.createDocument({
    url: "offscreen.html",
    reasons: ["USER_MEDIA", "DISPLAY_MEDIA"],
    justification: "Record the tab or the screen with the microphone while the person narrates.",
  });
}

async function limits() {
  try {
    return await api("/v1/captures/limits");
  } catch {
    return { max_recording_s: 300, max_upload_size: 500 * 1024 * 1024 };
  }
}

async function setBadge(text, color = REC_COLOR) {
  await chrome.action.setBadgeBackgroundColor({ color });
  await chrome.action.setBadgeText({ text });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startRecording({ tabId, kind, mic, countdown = COUNTDOWN_S }) {
  const { recording } = await chrome.storage.session.get("recording");
  if (recording) throw new Error("A recording is already running.");
  const streamId = kind === "tab_recording" ? await chrome.tabCapture.getMediaStreamId({ targetTabId: tabId }) : null;
  const caps = await limits();
  await ensureOffscreen();
  await chrome.storage.session.set({ recording: { tabId, kind, state: "countdown", startedAt: null, pausedMs: 0 } });
  for (let n = countdown; n > 0; n -= 1) {
    await setBadge(String(n), "#f29900");
    await sleep(1000);
  }
  const started = await chrome.runtime.sendMessage({
    target: "offscreen",
    type: "start",
    kind,
    streamId,
    mic: Boolean(mic),
    maxSeconds: caps.max_recording_s,
    maxBytes: caps.max_upload_size,
  });
  if (!started?.ok) {
    await chrome.storage.session.remove("recording");
    await setBadge("");
    throw new Error(started?.error ?? "The recording did not start.");
  }
  await chrome.storage.session.set({ recording: { tabId, kind, state: "recording", startedAt: Date.now(), mic: started.mic } });
  await setBadge("REC");
  return started;
}

async function controlRecording(type) {
  const { recording } = await chrome.storage.session.get("recording");
  if (!recording) throw new Error("Nothing is being recorded.");
  if (type === "stop") return stopRecording(recording);
  const answer = await chrome.runtime.sendMessage({ target: "offscreen", type });
  await chrome.storage.session.set({ recording: { ...recording, state: type === "pause" ? "paused" : "recording" } });
  await setBadge(type === "pause" ? "II" : "REC");
  return answer;
}

// The person stopped: the editor opens at once, while the offscreen document stores the
// recording as its draft together with the page's context (one write). If the recording had
// stopped already (at a cap), that editor closes again: the cap's own editor is on its way.
async function stopRecording(recording) {
  const draftId = crypto.randomUUID();
  const editor = openEditor(draftId);
  const context = recording.tabId != null ? await collect(recording.tabId).catch(() => null) : null;
  const answer = await chrome.runtime.sendMessage({ target: "offscreen", type: "stop", context, draftId });
  const tab = await editor;
  if (!answer?.ok) await chrome.tabs.remove(tab.id);
  return answer;
}

// The offscreen document stored the recording. Stopped by the organization's caps (or the
// browser's "Stop sharing"), it has neither the page's context nor an editor yet.
async function recordingDone({ draftId, opened }) {
  if (!opened) {
    const { recording } = await chrome.storage.session.get("recording");
    const draft = await drafts.get(draftId);
    const context = recording?.tabId != null ? await collect(recording.tabId).catch(() => null) : null;
    await drafts.put({ ...draft, context: context ?? { console: [], network: [], steps: [], page: { url: "", title: "", viewport: null } } });
    await openEditor(draftId);
  }
  await Promise.all([chrome.storage.session.remove("recording"), setBadge("")]);
}

// ------------------------------------------------------------------ my tickets, tokens

async function pollTickets() {
  const { tickets = [] } = await chrome.storage.local.get("tickets");
  if (!tickets.length) return tickets;
  const fresh = new Map();
  for (const item of tickets) {
    try {
      const ticket = await api(`/v1/tickets/${item.id}`);
      fresh.set(item.id, ticket);
    } catch {
      // offline, signed out or gone: keep what is known
    }
  }
  const updated = merge(tickets, fresh);
  await chrome.storage.local.set({ tickets: updated });
  return updated;
}

async function showTicketBadge() {
  const { recording } = await chrome.storage.session.get("recording");
  if (recording) return;
  const { tickets = [] } = await chrome.storage.local.get("tickets");
  await setBadge(badgeText(tickets), "#1a73e8");
}

async function scheduleRefresh() {
  const due = await credentials().refreshDueIn();
  if (due != null) await chrome.alarms.create("refresh-token", { when: Date.now() + due });
}

chrome.alarms.onAlarm.addListener(async (alarm) => {
  if (alarm.name === "tickets") {
    await pollTickets();
    await showTicketBadge();
  } else if (alarm.name === "refresh-token") {
    await credentials().headers().catch(() => null);
    await scheduleRefresh();
  }
});

chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && changes.tickets) showTicketBadge();
  if (area === "session" && changes.tokens) scheduleRefresh();
});

function setUp() {
  chrome.alarms.create("tickets", { periodInMinutes: 1 });
  registerEverywhere().catch(() => {});
  showTicketBadge().catch(() => {});
}
chrome.runtime.onInstalled.addListener(setUp);
chrome.runtime.onStartup.addListener(setUp);
chrome.permissions.onAdded.addListener(() => registerEverywhere());
chrome.permissions.onRemoved.addListener(() => registerEverywhere());

// ------------------------------------------------------------------ entry points

// What the popup's buttons and the keyboard shortcuts do (also called by the end-to-end tests
// through the service worker, exactly as the popup does).
export const commands = {
  prepare: ({ tabId }) => injectCollectors(tabId),
  screenshot: ({ tabId }) => screenshot(tabId),
  "record-tab": ({ tabId, mic, countdown }) => startRecording({ tabId, kind: "tab_recording", mic, countdown }),
  "record-screen": ({ tabId, mic, countdown }) => startRecording({ tabId, kind: "screen_recording", mic, countdown }),
  pause: () => controlRecording("pause"),
  resume: () => controlRecording("resume"),
  stop: () => controlRecording("stop"),
  "recording-done": (message) => recordingDone(message),
  "poll-tickets": async () => {
    const list = await pollTickets();
    await showTicketBadge();
    return list;
  },
};
globalThis.commands = commands;

chrome.runtime.onMessage.addListener((message, _sender, respond) => {
  if (message?.target !== "background" || !commands[message.type]) return false;
  commands[message.type](message)
    .then((result) => respond({ ok: true, result }))
    .catch((error) => respond({ ok: false, error: String(error?.message ?? error) }));
  return true;
});

chrome.commands.onCommand.addListener(async (command, tab) => {
  if (!tab?.id) return;
  await injectCollectors(tab.id);
  if (command === "take-screenshot") await screenshot(tab.id);
  if (command === "record-tab") await startRecording({ tabId: tab.id, kind: "tab_recording", mic: true });
});
