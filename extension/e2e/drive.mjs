// Drives the built extension in Debian's Chromium (playwright-core; no browser download) the way
// a person would: open a page, click the toolbar button (Extensions.triggerAction), take a
// screenshot or record the tab, annotate, fill the form and file the ticket.
//
//   node e2e/drive.mjs '<json plan>'
//
// The plan: {scenario: "screenshot" | "recording" | "interrupted" | "discarded", extension: dist
// dir, page: URL, api: API base URL, apiKey | {email, password}, seconds, title, description, waitForTriage
// (default true: wait for the editor to show the triage), uploadBytesPerSecond (interrupted),
// microphone (a WAV file: Chromium's fake microphone says it once, from when the recorder opens
// the microphone), playAt (seconds into the recording when the page plays its <audio id=sound>)}.
// Prints progress lines ("event <name> <json>") and, last, "result <json>".
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { manifestId } from "../scripts/extension-id.mjs";
import { HELD_BYTES } from "../src/lib/held.js";

const plan = JSON.parse(process.argv[2]);
const say = (name, data = {}) => console.log(`event ${name} ${JSON.stringify(data)}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const id = manifestId(join(plan.extension, "manifest.json"));
const profile = mkdtempSync(join(tmpdir(), "tc-chromium-"));

const args = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--enable-unsafe-extension-debugging", // lets the test click the toolbar button (triggerAction)
  `--load-extension=${plan.extension}`, `--disable-extensions-except=${plan.extension}`,
  `--allowlisted-extension-id=${id}`, "--auto-accept-this-tab-capture",
  "--autoplay-policy=no-user-gesture-required",
];
if (plan.microphone) {
  // A fake microphone that says the WAV once; its permission prompt is accepted as a person would
  // (the fake-UI switch would also replace the tab capture's devices, and tab capture would fail).
  args.push("--use-fake-device-for-media-stream", `--use-file-for-fake-audio-capture=${plan.microphone}%noloop`,
    "--auto-accept-camera-and-microphone-capture");
}

const context = await chromium.launchPersistentContext(profile, {
  headless: false, executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args, viewport: { width: 1280, height: 800 },
});
const consoleErrors = [];
drive: try {
  let [worker] = context.serviceWorkers();
  worker ??= await context.waitForEvent("serviceworker", { timeout: 30_000 });
  if (!worker.url().startsWith(`chrome-extension://${id}/`)) throw new Error(`unexpected extension ${worker.url()}`);
  say("extension", { id });

  // Settings, as the options page stores them.
  const options = await context.newPage();
  await options.goto(`chrome-extension://${id}/options.html`);
  await options.waitForSelector("body[data-ready=true]");
  await options.fill("#api-base", plan.api);
  await options.click("#server button[type=submit]");
  if (plan.apiKey) {
    await options.fill("#api-key", plan.apiKey);
    await options.click("#key-form button[type=submit]");
    await options.waitForFunction(() => document.querySelector("#who").textContent.includes("API key"));
  } else {
    await options.fill("#email", plan.email);
    await options.fill("#password", plan.password);
    await options.click("#sign-in button[type=submit]");
    await options.waitForFunction(() => document.querySelector("#who").textContent.startsWith("Signed in as"));
  }
  say("signed-in", { who: await options.textContent("#who") });

  await options.close();

  const page = await context.newPage();
  page.on("console", (message) => message.type() === "error" && consoleErrors.push(message.text()));
  await page.goto(plan.page);
  await page.bringToFront();

  // The toolbar button: opens the popup, which starts collecting on this tab (activeTab).
  const browserSession = await context.browser().newBrowserCDPSession();
  const tabs = (await browserSession.send("Target.getTargets", { filter: [{ type: "tab" }] })).targetInfos;
  const tabTarget = tabs.find((t) => t.url === page.url());
  await browserSession.send("Extensions.triggerAction", { id, targetId: tabTarget.targetId });
  const tabId = await worker.evaluate(async (url) => (await chrome.tabs.query({ url })).at(0)?.id, page.url());
  for (let i = 0; i < 50; i += 1) {
    const ready = await worker.evaluate((tab) => chrome.tabs.sendMessage(tab, { type: "collect" }).then(() => true, () => false), tabId);
    if (ready) break;
    await sleep(200);
  }
  say("collecting", { tabId });

  // The uploads' answers, from every page of the browser (the editor's start before it is seen).
  const uploads = [];
  context.on("response", (response) => {
    if (!response.url().includes("/v1/uploads")) return;
    const request = response.request();
    uploads.push({ method: request.method(), url: response.url(), status: response.status(), length: request.headers()["upload-length"], offset: response.headers()["upload-offset"], location: response.headers().location });
  });
  const editorOpened = context.waitForEvent("page", { predicate: (p) => p.url().includes("/editor.html"), timeout: 120_000 });
  editorOpened.catch(() => {}); // awaited below; a failure before that is reported instead
  let stopClickedAt = null;
  if (plan.scenario === "screenshot") {
    await page.click("#break"); // a console error, an unhandled rejection and a failed fetch
    await page.waitForFunction(() => window.failedFetchDone === true);
    const answer = await worker.evaluate((tab) => globalThis.commands.screenshot({ tabId: tab }), tabId);
    say("screenshot", { draft: answer });
  } else {
    await page.click("#break");
    const started = await worker.evaluate((tab) => globalThis.commands["record-tab"]({ tabId: tab, mic: true, countdown: 1 }), tabId);
    say("recording", started);
    if (plan.playAt != null) {
      setTimeout(() => page.evaluate(() => document.querySelector("#sound").play()).catch(() => {}), plan.playAt * 1000);
    }
    const seconds = plan.seconds ?? 10;
    if (plan.pauseAt) {
      // Pause after the narration, resume a second later: the pause is not in the recording.
      await sleep(plan.pauseAt * 1000);
      say("paused", await worker.evaluate(() => globalThis.commands.pause()));
      await sleep(1000);
      say("resumed", await worker.evaluate(() => globalThis.commands.resume()));
      await sleep((seconds - plan.pauseAt) * 1000);
    } else {
      await sleep(seconds * 1000);
    }
    stopClickedAt = Date.now();
    await worker.evaluate(() => globalThis.commands.stop());
    say("stopped", {});
  }

  const editor = await editorOpened;
  const editorAt = Date.now();
  editor.on("console", (message) => message.type() === "error" && consoleErrors.push(`editor: ${message.text()}`));
  await editor.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  const readyAt = Date.now();
  if (plan.scenario === "discarded") {
    // The recording uploads while the person looks at it, all but its end; they discard it.
    const created = () => uploads.find((u) => u.method === "POST" && u.status === 201);
    for (let i = 0; i < 600 && !created(); i += 1) await sleep(100);
    const creation = created();
    const length = Number(creation.length);
    const held = () => length <= HELD_BYTES || uploads.some((u) => u.method === "PATCH" && Number(u.offset) === length - HELD_BYTES);
    for (let i = 0; i < 600 && !held(); i += 1) await sleep(100);
    await sleep(1000); // nothing more goes up while the person hesitates
    const before = uploads.filter((u) => u.method === "PATCH").map((u) => Number(u.offset));
    const closed = editor.waitForEvent("close", { timeout: 30_000 });
    await editor.click("#discard");
    await closed;
    console.log(`result ${JSON.stringify({ uploadUrl: creation.location, length, offsets: before, uploads, consoleErrors })}`);
    break drive;
  }
  if (plan.scenario === "screenshot") {
    const canvas = await editor.locator("#canvas").boundingBox();
    const at = (fx, fy) => [canvas.x + canvas.width * fx, canvas.y + canvas.height * fy];
    const drag = async (tool, from, to) => {
      await editor.click(`[data-tool=${tool}]`);
      await editor.mouse.move(...at(...from));
      await editor.mouse.down();
      await editor.mouse.move(...at(...to), { steps: 5 });
      await editor.mouse.up();
    };
    await drag("rect", [0.1, 0.1], [0.4, 0.3]);
    await drag("arrow", [0.7, 0.7], [0.45, 0.35]);
    await drag("blur", [0.5, 0.05], [0.9, 0.2]);
    await editor.click("[data-tool=text]");
    await editor.fill("#annotation-text", "Broken here");
    await editor.mouse.click(...at(0.1, 0.5));
  }
  // The interrupted scenario uploads slowly, so that the outage falls in the middle of it.
  const cdp = plan.scenario === "interrupted" ? await context.newCDPSession(editor) : null;
  const uploadAt = (bytesPerSecond) => cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  if (cdp) {
    await cdp.send("Network.enable");
    await uploadAt(plan.uploadBytesPerSecond ?? 150_000);
  }
  await editor.fill("#title", plan.title);
  await editor.fill("#description", plan.description ?? "");
  await editor.click("#file");
  const fileClickedAt = Date.now();
  if (plan.scenario === "interrupted") {
    await editor.waitForFunction(() => Number(document.querySelector("#bar").value) > 0.05, null, { timeout: 60_000 });
    say("uploading", { progress: await editor.evaluate(() => document.querySelector("#bar").value) });
    // The test takes the API down now and brings it back; the editor waits and resumes, at
    // full speed once the API answers again (the slow part of the test is over).
    const answers = () => fetch(`${plan.api}/health`).then((r) => r.ok, () => false);
    while (await answers()) await sleep(100);
    say("outage");
    while (!(await answers())) await sleep(100);
    await uploadAt(-1);
  }
  await editor.waitForSelector("body[data-ticket]", { timeout: plan.fileTimeoutMs ?? 180_000 }).catch(async (error) => {
    const shown = await editor.evaluate(() => `${document.querySelector("#status").textContent} | ${document.querySelector("#progress-text").textContent}`);
    throw new Error(`not filed: ${shown}; console: ${consoleErrors.join(" / ")}`, { cause: error });
  });
  const ticketAt = Date.now();
  const key = await editor.getAttribute("body", "data-ticket");
  say("filed", { key, stopToTicketMs: stopClickedAt ? ticketAt - stopClickedAt : null });
  if (plan.waitForTriage !== false) {
    await editor.waitForSelector("body[data-triaged=true], #triage:not(:has(p))", { timeout: 90_000 }).catch(() => null);
  }
  const triage = await editor.locator("#triage").innerText();
  const status = await editor.locator("#progress-text").innerText().catch(() => "");
  // Where the time from "Stop recording" to the ticket goes: the editor opening, loading, the
  // form being filled, and uploading + filing.
  const phases = stopClickedAt ? {
    editorOpenedMs: editorAt - stopClickedAt, editorReadyMs: readyAt - editorAt,
    formMs: fileClickedAt - readyAt, uploadAndFileMs: ticketAt - fileClickedAt,
  } : null;
  console.log(`result ${JSON.stringify({ key, triage, stopToTicketMs: stopClickedAt ? ticketAt - stopClickedAt : null, phases, consoleErrors, status })}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
