// The extension's calls to the API, authenticated by the stored credentials.
import { Credentials } from "./auth.js";

export function credentials() {
  return new Credentials({ session: chrome.storage.session, local: chrome.storage.local, fetchFn: fetch.bind(globalThis) });
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function api(path, { method = "GET", body, headers = {}, creds = credentials() } = {}) {
  const { apiBase } = await creds.settings();
  if (!apiBase) throw new ApiError(0, { detail: "Set the API address in the extension's options." });
  let response;
  try {
    response = await fetch(`${apiBase}${path}`, {
      method,
      headers: {
        ...(await creds.headers()),
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    throw new ApiError(0, { detail: `The API cannot be reached: ${error.message}` });
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
