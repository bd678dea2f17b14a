// Drives the invitation page in Debian's Chromium (playwright-core; no browser download).
//
//   node tests/browser/accept_invitation.mjs '<json>'
//
// The JSON names the page `url` and the `steps` to take: `{"form": "new", "name", "password"}`
// or `{"form": "existing", "email", "password"}`. After each step the script records what the
// page shows. It prints one JSON object: the address after load, each step's outcome, and every
// console error (a Content-Security-Policy violation is one).
import { chromium } from "playwright-core";

// The name of the first of `selectors` to become visible, or "timeout".
function firstVisible(page, selectors, timeout) {
  return new Promise((resolve) => {
    setTimeout(() => resolve("timeout"), timeout).unref();
    for (const [name, selector] of Object.entries(selectors)) {
      page.locator(selector).waitFor({ state: "visible", timeout }).then(() => resolve(name), () => {});
    }
  });
}

const plan = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const consoleErrors = [];
const outcomes = [];
try {
  const page = await browser.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(plan.url);
  const addressAfterLoad = page.url();
  const missingShown = await page.locator("#missing").isVisible();
  for (const step of plan.steps) {
    if (step.form === "existing") {
      if (!(await page.locator("#existing-account").isVisible())) {
        await page.getByRole("button", { name: "Sign in to accept" }).click();
      }
      await page.getByLabel("E-mail").fill(step.email);
      await page.getByLabel("Password", { exact: true }).fill(step.password);
      await page.getByRole("button", { name: "Sign in and join" }).click();
    } else {
      await page.getByLabel("Your name").fill(step.name);
      await page.getByLabel("Choose a password").fill(step.password);
      await page.getByRole("button", { name: "Join" }).click();
    }
    const shown = await firstVisible(page, { done: "#done", error: "#error" }, 15000);
    outcomes.push({ shown, error: shown === "error" ? await page.locator("#error").innerText() : "" });
  }
  console.log(JSON.stringify({ addressAfterLoad, missingShown, outcomes, consoleErrors }));
} finally {
  await browser.close();
}
