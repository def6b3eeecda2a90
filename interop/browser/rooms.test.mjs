// The demo page of `wsx serve` in a real browser: Debian's Chromium driven
// by playwright-core. Two pages join one room; a text message and a binary
// message go from one to the other; the server restarts and both pages
// reconnect by themselves and talk again.
//
//   WSX_BIN=target/debug/wsx OUT_DIR=/tmp/out node rooms.test.mjs
//
// On failure, screenshots of both pages go to OUT_DIR. With SCREENSHOT set,
// a screenshot of the page after the conversation is saved there.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const WSX = process.env.WSX_BIN;
const OUT = process.env.OUT_DIR || mkdtempSync(join(tmpdir(), "wsx-browser-out-"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 20_000;
if (!WSX) throw new Error("WSX_BIN must name the wsx binary");
mkdirSync(OUT, { recursive: true });

/** Starts `wsx serve` and resolves with [process, address] once it listens. */
function startServer(listen) {
  return new Promise((resolve, reject) => {
    const child = spawn(WSX, ["serve", "--listen", listen], { stdio: ["ignore", "pipe", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`wsx serve exited early (${code})`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const match = /ws:\/\/(\S+)/.exec(line);
      match ? resolve([child, match[1]]) : reject(new Error(`no address in ${JSON.stringify(line)}`));
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    child.removeAllListeners("exit");
    child.once("exit", resolve);
    child.kill("SIGKILL");
  });
}

async function openRoom(context, address, name, room) {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error}`));
  await page.goto(`http://${address}/?name=${encodeURIComponent(name)}&room=${room}`);
  await page.click("#join");
  await page.waitForSelector('#state[data-state="open"]', { timeout: TIMEOUT });
  return page;
}

const sendText = async (page, text, button = "#send") => {
  await page.fill("#text", text);
  await page.click(button);
};
const expectLog = (page, selector, text) =>
  page.locator(`#log li${selector}`).filter({ hasText: text }).first().waitFor({ timeout: TIMEOUT });
const expectMember = (page, name) =>
  page.locator("#members li").filter({ hasText: name }).first().waitFor({ timeout: TIMEOUT });

const userDataDir = mkdtempSync(join(tmpdir(), "wsx-chromium-profile-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 900, height: 520 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
let [server, address] = await startServer("127.0.0.1:0");
const pages = {};
let failed = false;
try {
  pages.alice = await openRoom(context, address, "Alice", "demo");
  pages.bob = await openRoom(context, address, "Bob", "demo");
  await expectMember(pages.alice, "Bob");
  await expectMember(pages.bob, "Alice");
  await expectLog(pages.alice, ".event", "Bob joined");
  console.log("ok: both pages joined and see each other");

  await sendText(pages.alice, "hello from Alice, how is the weather?");
  await expectLog(pages.bob, ".message", "hello from Alice, how is the weather?");
  await expectLog(pages.bob, ".message", "Alice");
  console.log("ok: a text message from one page shows on the other");

  await sendText(pages.bob, "bytes ☃", "#send-binary");
  // "bytes ☃" is 9 bytes of UTF-8.
  await expectLog(pages.alice, ".binary", '[binary 9 bytes] "bytes ☃"');
  console.log("ok: a binary message from one page shows on the other");

  await stopServer(server);
  for (const page of Object.values(pages)) {
    await page.waitForSelector('#state[data-state="reconnecting"]', { timeout: TIMEOUT });
  }
  console.log("ok: both pages show the lost connection");
  [server] = await startServer(address);
  for (const page of Object.values(pages)) {
    await page.waitForSelector('#state[data-state="open"]', { timeout: TIMEOUT });
  }
  await expectMember(pages.bob, "Alice");
  await expectMember(pages.alice, "Bob");
  await sendText(pages.bob, "back after the restart");
  await expectLog(pages.alice, ".message", "back after the restart");
  console.log("ok: both pages reconnected by themselves after the server restart");

  await sendText(pages.alice, "Welcome back, Bob!");
  await expectLog(pages.bob, ".message", "Welcome back, Bob!");
  if (process.env.SCREENSHOT) {
    await pages.bob.screenshot({ path: process.env.SCREENSHOT });
    console.log(`screenshot: ${process.env.SCREENSHOT}`);
  }
} catch (error) {
  failed = true;
  console.error(`FAILED: ${error.stack || error}`);
  for (const [name, page] of Object.entries(pages)) {
    const path = join(OUT, `failure-${name}.png`);
    await page.screenshot({ path }).catch(() => {});
    console.error(`screenshot of ${name}'s page: ${path}`);
  }
} finally {
  await context.close().catch(() => {});
  await stopServer(server);
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
