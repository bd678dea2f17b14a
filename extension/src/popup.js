// The toolbar popup: capture buttons, recording controls, and "My tickets" with live status.
import { IdbStore } from "./lib/db.js";
import { State } from "./lib/queue.js";
import { markSeen, unseen } from "./lib/tickets.js";

const $ = (id) => document.getElementById(id);
const send = (type, extra = {}) => chrome.runtime.sendMessage({ target: "background", type, ...extra });
let tabId = null;

async function run(type, extra) {
  $("error").textContent = "";
  const answer = await send(type, { tabId, ...extra });
  if (!answer?.ok) $("error").textContent = answer?.error ?? "Something went wrong.";
  return answer;
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function showRecording() {
  const { recording } = await chrome.storage.session.get("recording");
  $("capture").hidden = Boolean(recording);
  $("recording").hidden = !recording;
  if (recording) {
    $("pause").hidden = recording.state === "paused";
    $("resume").hidden = recording.state !== "paused";
    $("elapsed").textContent = recording.startedAt ? clock(Date.now() - recording.startedAt) : "starting…";
  }
}

async function showTickets() {
  const { tickets = [] } = await chrome.storage.local.get("tickets");
  const count = unseen(tickets);
  $("unseen").hidden = !count;
  $("unseen").textContent = `${count} updated`;
  const { apiBase = "", ticketLink = "" } = await chrome.storage.local.get(["apiBase", "ticketLink"]);
  $("tickets").replaceChildren(
    ...(tickets.length ? tickets : [null]).map((ticket) => {
      const li = document.createElement("li");
      if (!ticket) {
        li.textContent = "None yet.";
        return li;
      }
      const a = Object.assign(document.createElement("a"), {
        href: (ticketLink || `${apiBase}/v1/tickets/{key}`).replace("{key}", ticket.key),
        target: "_blank",
        textContent: `${ticket.key} ${ticket.title}`,
      });
      li.append(a, ` — ${ticket.status}${ticket.status !== ticket.seenStatus ? " (new)" : ""}`);
      return li;
    }),
  );
  await chrome.storage.local.set({ tickets: markSeen(tickets) });
}

async function showQueue() {
  const waiting = (await new IdbStore("queue").all()).filter((item) => item.state === State.WAITING);
  $("queued").hidden = !waiting.length;
  $("resume-uploads").textContent = `${waiting.length} capture(s) waiting to upload — resume`;
  $("resume-uploads").onclick = (event) => {
    event.preventDefault();
    for (const item of waiting) chrome.tabs.create({ url: chrome.runtime.getURL(`editor.html?draft=${item.id}`) });
  };
}

async function main() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  tabId = tab?.id ?? null;
  const { apiBase, apiKey } = await chrome.storage.local.get(["apiBase", "apiKey"]);
  const { tokens } = await chrome.storage.session.get("tokens");
  $("signed-out").hidden = Boolean(apiBase && (apiKey || tokens));
  if (tabId != null) send("prepare", { tabId }); // start collecting this tab's errors and steps
  $("screenshot").onclick = async () => { if ((await run("screenshot"))?.ok) window.close(); };
  $("record-tab").onclick = () => run("record-tab", { mic: $("mic").checked }).then(showRecording);
  $("record-screen").onclick = () => run("record-screen", { mic: $("mic").checked }).then(showRecording);
  $("pause").onclick = () => run("pause").then(showRecording);
  $("resume").onclick = () => run("resume").then(showRecording);
  $("stop").onclick = () => run("stop").then(showRecording);
  await Promise.all([showRecording(), showTickets(), showQueue()]);
  setInterval(showRecording, 500);
  setInterval(async () => {
    await send("poll-tickets");
    await showTickets();
  }, 5000);
}

main();
