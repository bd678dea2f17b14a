// The offscreen document records: the tab (a stream id from chrome.tabCapture) or a screen or
// window (getDisplayMedia), with the microphone mixed in when the person allowed it, into WebM
// (VP8/VP9 + Opus). The tab's own sound keeps playing. A recording stops by itself at the
// organization's time or size cap.
import { IdbStore } from "./lib/db.js";

const drafts = new IdbStore("drafts");
const TYPES = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm"];
let session = null;

async function sourceStream(kind, streamId) {
  if (kind === "tab_recording") {
    const mandatory = { chromeMediaSource: "tab", chromeMediaSourceId: streamId };
    return navigator.mediaDevices.getUserMedia({
      audio: { mandatory },
      video: { mandatory: { ...mandatory, maxWidth: 1920, maxHeight: 1080, maxFrameRate: 30 } },
    });
  }
  return navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: true });
}

async function start({ kind, streamId, mic, maxSeconds, maxBytes }) {
  if (session) throw new Error("Already recording.");
  const source = await sourceStream(kind, streamId);
  const audio = new AudioContext();
  const mixed = audio.createMediaStreamDestination();
  if (source.getAudioTracks().length) {
    const tabSound = audio.createMediaStreamSource(new MediaStream(source.getAudioTracks()));
    tabSound.connect(mixed);
    if (kind === "tab_recording") tabSound.connect(audio.destination); // capturing mutes the tab otherwise
  }
  let microphone = null;
  let micError = null;
  if (mic) {
    try {
      microphone = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
      audio.createMediaStreamSource(microphone).connect(mixed);
    } catch (error) {
      microphone = null; // not allowed or no microphone: record without narration
      micError = `${error.name}: ${error.message}`;
    }
  }
  const tracks = [...source.getVideoTracks(), ...mixed.stream.getAudioTracks()];
  const mimeType = TYPES.find((type) => MediaRecorder.isTypeSupported(type));
  const recorder = new MediaRecorder(new MediaStream(tracks), { mimeType, videoBitsPerSecond: 2_500_000, audioBitsPerSecond: 96_000 });
  const chunks = [];
  let bytes = 0;
  session = { recorder, source, microphone, audio, chunks, started: Date.now(), pausedAt: null, pausedMs: 0, maxSeconds, maxBytes };
  recorder.ondataavailable = (event) => {
    if (!event.data.size) return;
    chunks.push(event.data);
    bytes += event.data.size;
    if (maxBytes && bytes >= maxBytes * 0.95) stop();
  };
  recorder.onstop = () => finish(kind, mimeType);
  session.timer = setInterval(() => {
    if (session && !session.pausedAt && elapsedMs() >= session.maxSeconds * 1000) stop();
  }, 250);
  // The person ends a screen share with the browser's own "Stop sharing" button.
  source.getVideoTracks()[0]?.addEventListener("ended", () => stop());
  recorder.start(1000);
  return { ok: true, mic: Boolean(microphone), micError, mimeType };
}

function elapsedMs() {
  return Date.now() - session.started - session.pausedMs;
}

// The person stopped: the page's console, requests and steps, and the id of the draft their
// editor is waiting for. Stopped at a cap: neither.
function stop(context = null, draftId = null) {
  if (!session || session.recorder.state === "inactive") return { ok: false };
  session.context = context;
  session.draftId = draftId;
  clearInterval(session.timer);
  session.recorder.stop();
  return { ok: true };
}

async function finish(kind, mimeType) {
  const { chunks, source, microphone, audio, context, draftId } = session;
  const durationMs = elapsedMs();
  for (const track of [...source.getTracks(), ...(microphone?.getTracks() ?? [])]) track.stop();
  await audio.close();
  session = null;
  const id = draftId ?? crypto.randomUUID();
  const media = new Blob(chunks, { type: "video/webm" });
  await drafts.put({ id, kind, media, filename: `${kind === "tab_recording" ? "tab" : "screen"}-recording.webm`, filetype: "video/webm", mimeType, durationMs, context, createdAt: Date.now() });
  await chrome.runtime.sendMessage({ target: "background", type: "recording-done", draftId: id, opened: Boolean(draftId) });
}

const handlers = {
  start,
  stop: async ({ context, draftId }) => stop(context, draftId),
  pause: async () => {
    if (session?.recorder.state !== "recording") return { ok: false };
    session.recorder.pause();
    session.pausedAt = Date.now();
    return { ok: true };
  },
  resume: async () => {
    if (session?.recorder.state !== "paused") return { ok: false };
    session.pausedMs += Date.now() - session.pausedAt;
    session.pausedAt = null;
    session.recorder.resume();
    return { ok: true };
  },
};

chrome.runtime.onMessage.addListener((message, _sender, respond) => {
  if (message?.target !== "offscreen" || !handlers[message.type]) return false;
  handlers[message.type](message)
    .then(respond)
    .catch((error) => respond({ ok: false, error: String(error?.message ?? error) }));
  return true;
});
