// Options: the API address, signing in (or an API key), the organization, microphone access
// and whether to collect page activity from page load on every site.
import { api, credentials } from "./lib/api.js";

const $ = (id) => document.getElementById(id);
const creds = credentials();
const say = (text, error = false) => {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
};

async function showWho() {
  const { apiKey } = await creds.settings();
  const { tokens } = await chrome.storage.session.get("tokens");
  if (apiKey) {
    $("who").textContent = "Using an API key.";
  } else if (!tokens) {
    $("who").textContent = "Not signed in.";
    $("org-label").hidden = true;
    return;
  }
  try {
    if (!apiKey) {
      const me = await api("/v1/me", { creds });
      $("who").textContent = `Signed in as ${me.email} (${me.role}) in ${me.organization.name}.`;
      const organizations = await api("/v1/me/organizations", { creds });
      $("organization").replaceChildren(
        ...organizations.map((org) => new Option(`${org.name} (${org.role})`, org.id, false, org.id === me.organization.id)),
      );
      $("org-label").hidden = organizations.length < 2;
    }
  } catch (error) {
    $("who").textContent = `Not connected: ${error.message}`;
  }
}

async function main() {
  const { apiBase = "", ticketLink = "", apiKey = "" } = await chrome.storage.local.get(["apiBase", "ticketLink", "apiKey"]);
  $("api-base").value = apiBase;
  $("ticket-link").value = ticketLink;
  $("api-key").value = apiKey;
  $("everywhere").checked = await chrome.permissions.contains({ origins: ["<all_urls>"] });

  $("server").onsubmit = async (event) => {
    event.preventDefault();
    await chrome.storage.local.set({ apiBase: $("api-base").value.trim().replace(/\/+$/, ""), ticketLink: $("ticket-link").value.trim() });
    say("Saved.");
    await showWho();
  };
  $("sign-in").onsubmit = async (event) => {
    event.preventDefault();
    try {
      await chrome.storage.local.set({ apiKey: "" });
      $("api-key").value = "";
      await creds.signIn($("email").value.trim(), $("password").value);
      $("password").value = "";
      say("Signed in.");
    } catch (error) {
      say(`Sign-in failed: ${error.message}`, true);
    }
    await showWho();
  };
  $("sign-out").onclick = async () => {
    await creds.signOut();
    say("Signed out.");
    await showWho();
  };
  $("key-form").onsubmit = async (event) => {
    event.preventDefault();
    await chrome.storage.local.set({ apiKey: $("api-key").value.trim() });
    say("API key saved.");
    await showWho();
  };
  $("organization").onchange = async () => {
    try {
      await creds.switchOrganization($("organization").value);
      say("Switched organization.");
    } catch (error) {
      say(`Could not switch: ${error.message}`, true);
    }
    await showWho();
  };
  $("allow-mic").onclick = async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const track of stream.getTracks()) track.stop();
      say("The microphone is allowed for narration.");
    } catch (error) {
      say(`The microphone was not allowed: ${error.message}`, true);
    }
  };
  $("everywhere").onchange = async () => {
    const origins = { origins: ["<all_urls>"] };
    const ok = $("everywhere").checked ? await chrome.permissions.request(origins) : await chrome.permissions.remove(origins);
    if (!ok) $("everywhere").checked = !$("everywhere").checked;
  };
  await showWho();
  document.body.dataset.ready = "true";
}

main();
