// Strips credentials in the browser, before anything leaves it. The same rules as the API's
// captures sanitizer (src/ticketcreator/captures/sanitize.py): secret headers, secret-named
// query parameters and body fields, and credentials written into free text are replaced by
// REDACTED; password fields are never read at all (see content.js).

export const REDACTED = "[REDACTED]";

const SECRET_HEADERS = new Set([
  "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token",
  "x-csrf-token", "x-xsrf-token", "x-amz-security-token",
]);
const SECRET_NAMES = new Set(["auth", "authorization", "pwd", "jwt", "otp", "pin", "cvv", "cvc", "sid"]);
// In URLs short names carry credentials too: OAuth's `code`, signed links' `sig`, `key`.
const QUERY_NAMES = new Set(["code", "sig", "key", "x-amz-credential"]);
const SECRET_WORDS =
  /token|secret|passw|api[-_]?key|auth(?!or)|credential|private[-_]?key|session|cookie|signature/i;
const TEXT_PATTERNS = [
  [/\b(bearer|basic|apikey)\s+[A-Za-z0-9._~+/=-]{8,}/gi, (_m, scheme) => `${scheme} ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, () => REDACTED],
  [
    /\b((?:access_|refresh_|id_)?token|api_?key|password|passwd|secret|client_secret|sig|signature|session_?id)\b(\s*[=:]\s*["']?)([^\s"'&,;}]+)/gi,
    (_m, name, sep) => `${name}${sep}${REDACTED}`,
  ],
];

export function isSecretName(name, place = "body") {
  const lowered = String(name).trim().toLowerCase();
  if (place === "query" && QUERY_NAMES.has(lowered)) return true;
  return SECRET_NAMES.has(lowered) || SECRET_WORDS.test(lowered);
}

export function isSecretHeader(name) {
  const lowered = String(name).trim().toLowerCase();
  return SECRET_HEADERS.has(lowered) || isSecretName(lowered, "headers");
}

export function cleanText(value) {
  let text = String(value ?? "");
  for (const [pattern, replace] of TEXT_PATTERNS) text = text.replace(pattern, replace);
  return text;
}

// The URL with secret query values replaced and user:password@ dropped.
export function cleanUrl(value) {
  let url;
  try {
    url = new URL(value);
  } catch {
    return cleanText(value);
  }
  url.username = "";
  url.password = "";
  const params = [...url.searchParams];
  if (params.some(([name, val]) => isSecretName(name, "query") && val !== "")) {
    url.search = "";
    for (const [name, val] of params) {
      url.searchParams.append(name, isSecretName(name, "query") && val !== "" ? REDACTED : val);
    }
  }
  if (url.hash) url.hash = cleanText(url.hash.slice(1));
  return url.toString();
}

export function queryString(value) {
  try {
    return [...new URL(value).searchParams].map(([name, val]) => ({ name, value: val }));
  } catch {
    return [];
  }
}

// `[{name, value}]` with secret header values replaced.
export function cleanHeaders(headers) {
  return headers.map(({ name, value }) => ({
    name,
    value: isSecretHeader(name) ? REDACTED : String(value),
  }));
}

function cleanJson(value) {
  if (Array.isArray(value)) return value.map(cleanJson);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        isSecretName(key) && (item === null || typeof item !== "object")
          ? item === null || item === "" ? item : REDACTED
          : cleanJson(item),
      ]),
    );
  }
  return typeof value === "string" ? cleanText(value) : value;
}

// A request or response body: JSON fields and form values by name, else free text.
export function cleanBody(text, mimeType = "") {
  const mime = String(mimeType).toLowerCase();
  const trimmed = String(text).trimStart();
  if (/[/+]json\b/.test(mime) || trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.stringify(cleanJson(JSON.parse(text)));
    } catch {
      return cleanText(text);
    }
  }
  if (mime.startsWith("application/x-www-form-urlencoded")) {
    const params = new URLSearchParams(text);
    const out = new URLSearchParams();
    for (const [name, val] of params) out.append(name, isSecretName(name) && val ? REDACTED : val);
    return out.toString();
  }
  return cleanText(text);
}

// A HAR entry (as recorded by page-hook.js) with every secret replaced.
export function cleanHarEntry(entry) {
  const request = {
    ...entry.request,
    url: cleanUrl(entry.request.url),
    headers: cleanHeaders(entry.request.headers ?? []),
    queryString: queryString(cleanUrl(entry.request.url)),
  };
  if (request.postData?.text != null) {
    request.postData = {
      ...request.postData,
      text: cleanBody(request.postData.text, request.postData.mimeType),
    };
  }
  const response = { ...entry.response, headers: cleanHeaders(entry.response.headers ?? []) };
  return { ...entry, request, response };
}
