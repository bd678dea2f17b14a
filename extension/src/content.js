// The content script (isolated world) of a tab: keeps the tab's console errors, failed requests
// and user steps in ring buffers, with secrets stripped as they arrive, and hands them to the
// extension when a capture is made. Input values are never read; password fields not even
// touched.
import { RingBuffer } from "./lib/ringbuffer.js";
import { cleanHarEntry, cleanText, cleanUrl } from "./lib/sanitize.js";

const MARK = "ticketcreator:page";
const LIMITS = { console: 200, network: 200, steps: 100 };

if (!globalThis.__ticketCreatorContent) {
  globalThis.__ticketCreatorContent = true;
  const buffers = {
    console: new RingBuffer(LIMITS.console),
    network: new RingBuffer(LIMITS.network),
    steps: new RingBuffer(LIMITS.steps),
  };

  window.addEventListener("message", (event) => {
    if (event.source !== window || !event.data?.[MARK]) return;
    const { kind, data } = event.data;
    if (kind === "console") {
      buffers.console.push({
        level: data.level === "warn" ? "warn" : "error",
        message: cleanText(String(data.message)).slice(0, 10_000),
        source: data.source ? cleanUrl(String(data.source)).slice(0, 8192) : null,
        timestamp: data.timestamp,
      });
    } else if (kind === "network") {
      buffers.network.push(cleanHarEntry(data));
    }
  });

  const selector = (element) => {
    if (!(element instanceof Element)) return null;
    if (element.id) return `#${CSS.escape(element.id)}`;
    const parts = [];
    for (let node = element; node && node.nodeType === 1 && parts.length < 4; node = node.parentElement) {
      let part = node.localName;
      if (node.classList.length) part += `.${[...node.classList].slice(0, 2).map(CSS.escape).join(".")}`;
      parts.unshift(part);
      if (node.id) break;
    }
    return parts.join(" > ").slice(0, 1000);
  };
  const label = (element) => {
    if (!(element instanceof Element)) return null;
    if (element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement) {
      return element.getAttribute("aria-label") || element.name || element.placeholder || null;
    }
    const text = (element.getAttribute("aria-label") || element.innerText || "").trim().replace(/\s+/g, " ");
    return text ? cleanText(text).slice(0, 120) : null;
  };
  const step = (type, element, extra = {}) =>
    buffers.steps.push({
      type,
      selector: selector(element),
      text: label(element),
      url: cleanUrl(location.href),
      timestamp: new Date().toISOString(),
      ...extra,
    });

  document.addEventListener("click", (event) => step("click", event.target.closest?.("a,button,input,select,textarea,label,[role],[onclick]") ?? event.target), true);
  // Which field changed, never what was typed; password fields are named as such.
  document.addEventListener("change", (event) => {
    const target = event.target;
    const isPassword = target instanceof HTMLInputElement && target.type === "password";
    step("input", target, { text: isPassword ? "password field" : label(target) });
  }, true);
  document.addEventListener("submit", (event) => step("submit", event.target), true);
  const navigated = () => buffers.steps.push({ type: "navigation", selector: null, text: cleanText(document.title).slice(0, 1000), url: cleanUrl(location.href), timestamp: new Date().toISOString() });
  window.addEventListener("popstate", navigated);
  window.addEventListener("hashchange", navigated);
  navigated();

  chrome.runtime.onMessage.addListener((message, _sender, respond) => {
    if (message?.type !== "collect") return;
    respond({
      console: buffers.console.toArray(),
      network: buffers.network.toArray(),
      steps: buffers.steps.toArray(),
      page: {
        url: cleanUrl(location.href),
        title: document.title.slice(0, 1000),
        viewport: {
          width: Math.max(1, window.innerWidth),
          height: Math.max(1, window.innerHeight),
          device_pixel_ratio: window.devicePixelRatio || 1,
        },
        userAgent: navigator.userAgent,
      },
    });
  });
}
