// Runs in the page's own JavaScript world (it must, to see the page's console and requests):
// reports console errors and warnings, uncaught errors, unhandled rejections and failed
// requests (status >= 400 or a network error) to the content script. It reads no request or
// response bodies and no cookies; the content script strips secrets before storing anything.
(() => {
  if (window.__ticketCreatorHook) return;
  window.__ticketCreatorHook = true;
  const MARK = "ticketcreator:page";
  const post = (kind, data) => window.postMessage({ [MARK]: true, kind, data }, "*");
  const describe = (value) => {
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    if (typeof value === "string") return value;
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  };

  for (const level of ["error", "warn"]) {
    const original = console[level];
    console[level] = function (...args) {
      post("console", { level, message: args.map(describe).join(" "), timestamp: new Date().toISOString() });
      return original.apply(this, args);
    };
  }
  window.addEventListener("error", (event) => {
    const source = event.filename ? `${event.filename}:${event.lineno}:${event.colno}` : null;
    post("console", { level: "error", message: `Uncaught ${describe(event.error ?? event.message)}`, source, timestamp: new Date().toISOString() });
  });
  window.addEventListener("unhandledrejection", (event) => {
    post("console", { level: "error", message: `Unhandled rejection: ${describe(event.reason)}`, timestamp: new Date().toISOString() });
  });

  const headerList = (headers) => {
    try {
      return [...new Headers(headers ?? {})].map(([name, value]) => ({ name, value }));
    } catch {
      return [];
    }
  };
  const report = (request, started, status, statusText, responseHeaders) => {
    post("network", {
      startedDateTime: new Date(started).toISOString(),
      time: Math.max(0, Date.now() - started),
      request: { ...request, httpVersion: "", queryString: [] },
      response: { status, statusText, httpVersion: "", headers: responseHeaders, content: { size: -1, mimeType: "" } },
      timings: { send: 0, wait: Math.max(0, Date.now() - started), receive: 0 },
    });
  };

  const originalFetch = window.fetch;
  window.fetch = async function (input, init) {
    const started = Date.now();
    const request = {
      method: String(init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase(),
      url: new URL(input instanceof Request ? input.url : String(input), location.href).href,
      headers: headerList(init?.headers ?? (input instanceof Request ? input.headers : undefined)),
    };
    try {
      const response = await originalFetch.apply(this, arguments);
      if (response.status >= 400) {
        report(request, started, response.status, response.statusText, headerList(response.headers));
      }
      return response;
    } catch (error) {
      report(request, started, 0, describe(error), []);
      throw error;
    }
  };

  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  const setRequestHeader = XMLHttpRequest.prototype.setRequestHeader;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__tc = { method: String(method).toUpperCase(), url: new URL(String(url), location.href).href, headers: [] };
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.setRequestHeader = function (name, value) {
    this.__tc?.headers.push({ name, value: String(value) });
    return setRequestHeader.call(this, name, value);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    const started = Date.now();
    const info = this.__tc;
    if (info) {
      this.addEventListener("loadend", () => {
        if (this.status === 0 || this.status >= 400) {
          report(info, started, this.status, this.statusText || "network error", []);
        }
      });
    }
    return send.apply(this, args);
  };
})();
