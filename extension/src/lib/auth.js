// Credentials of the extension: an API key, or an access + refresh token pair from signing in.
// Tokens live in chrome.storage.session (memory only, gone when the browser closes, not
// readable by content scripts); the access token is refreshed before it expires, once even
// when many requests ask at the same time (a refresh token works only once).

export const REFRESH_MARGIN_MS = 60_000;

export class Credentials {
  // `session` and `local`: chrome.storage areas (or anything with get/set/remove).
  // `fetchFn`: fetch. `now`: a clock in ms.
  constructor({ session, local, fetchFn, now = () => Date.now() }) {
    this.session = session;
    this.local = local;
    this.fetchFn = fetchFn;
    this.now = now;
    this.refreshing = null;
  }

  async settings() {
    const { apiBase = "", apiKey = "" } = await this.local.get(["apiBase", "apiKey"]);
    return { apiBase: apiBase.replace(/\/+$/, ""), apiKey };
  }

  async saveTokens(pair) {
    await this.session.set({
      tokens: {
        access: pair.access_token,
        refresh: pair.refresh_token,
        expiresAt: this.now() + pair.expires_in * 1000,
        organizationId: pair.organization_id,
        userId: pair.user_id,
      },
    });
  }

  async signIn(email, password, organizationId) {
    const { apiBase } = await this.settings();
    const body = { email, password };
    if (organizationId) body.organization_id = organizationId;
    const pair = await this.postJson(`${apiBase}/v1/auth/login`, body);
    await this.saveTokens(pair);
    return pair;
  }

  async signOut() {
    const { apiBase } = await this.settings();
    const { tokens } = await this.session.get("tokens");
    await this.session.remove("tokens");
    if (tokens) {
      await this.fetchFn(`${apiBase}/v1/auth/logout`, {
        method: "POST",
        headers: { Authorization: `Bearer ${tokens.access}` },
      }).catch(() => {});
    }
  }

  async postJson(url, body, headers = {}) {
    const response = await this.fetchFn(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(data.detail || data.title || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  async refresh(tokens) {
    const { apiBase } = await this.settings();
    try {
      const pair = await this.postJson(`${apiBase}/v1/auth/refresh`, { refresh_token: tokens.refresh });
      await this.saveTokens(pair);
      return (await this.session.get("tokens")).tokens;
    } catch (error) {
      if (error.status === 401 || error.status === 403) await this.session.remove("tokens");
      throw error;
    }
  }

  // Headers that authenticate a request: the API key if one is set, else a fresh bearer token.
  async headers() {
    const { apiKey } = await this.settings();
    if (apiKey) return { "X-API-Key": apiKey };
    let { tokens } = await this.session.get("tokens");
    if (!tokens) throw Object.assign(new Error("Sign in in the extension's options first."), { status: 401 });
    if (tokens.expiresAt - this.now() < REFRESH_MARGIN_MS) {
      this.refreshing ??= this.refresh(tokens).finally(() => {
        this.refreshing = null;
      });
      tokens = await this.refreshing;
    }
    return { Authorization: `Bearer ${tokens.access}` };
  }

  // Milliseconds until the access token should be refreshed (for an alarm), or null.
  async refreshDueIn() {
    const { tokens } = await this.session.get("tokens");
    if (!tokens) return null;
    return Math.max(0, tokens.expiresAt - REFRESH_MARGIN_MS - this.now());
  }

  async switchOrganization(organizationId) {
    const { apiBase } = await this.settings();
    const pair = await this.postJson(
      `${apiBase}/v1/me/organizations/${organizationId}/switch`,
      {},
      await this.headers(),
    );
    await this.saveTokens(pair);
    return pair;
  }
}
