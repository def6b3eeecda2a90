// WebSocket over HTTP/2 (RFC 8441) from a real browser: Debian's Chromium,
// driven by playwright-core, loads the demo page of `wsx serve` over HTTPS
// (ALPN h2), then opens several WebSockets from the page. Chromium sends
// each as an extended CONNECT on the page's HTTP/2 connection once the
// server's SETTINGS enable it; the server confirms: `GET /stats` counts
// them as h2, and its log shows every one from the same client port.
//
//   WSX_BIN=target/debug/wsx CERT=cert.pem KEY=key.pem node http2.test.mjs
//
// Prints one line per step; exits non-zero on any failure.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const WSX = process.env.WSX_BIN;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SOCKETS = 3;
const TIMEOUT = 20_000;
if (!WSX || !process.env.CERT || !process.env.KEY) throw new Error("WSX_BIN, CERT and KEY must be set");

/** Starts `wsx serve` over TLS; resolves with [process, port, log lines]. */
function startServer() {
  return new Promise((resolve, reject) => {
    const args = ["serve", "--listen", "127.0.0.1:0", "--tls-cert", process.env.CERT, "--tls-key", process.env.KEY];
    const child = spawn(WSX, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "info" } });
    const log = [];
    createInterface({ input: child.stderr }).on("line", (line) => log.push(line));
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`wsx serve exited early (${code})`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const match = /wss:\/\/[^:\s]+:(\d+)/.exec(line);
      match ? resolve([child, match[1], log]) : reject(new Error(`no address in ${JSON.stringify(line)}`));
    });
  });
}

const [server, port, log] = await startServer();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    // A certificate made for the test, trusted for it alone.
    "--ignore-certificate-errors",
  ],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.error(`page error: ${error}`));
  const response = await page.goto(`https://localhost:${port}/`);
  const protocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  if (protocol !== "h2") throw new Error(`the page came over ${protocol}, not h2`);
  console.log(`page loaded over ${protocol} (status ${response.status()})`);

  // Several sockets from one page: text and binary echoes on each, all open
  // at once; then the server's own count of what carried them.
  const result = await page.evaluate(
    async ({ port, sockets, timeout }) => {
      const open = (i) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`wss://localhost:${port}/echo?socket=${i}`);
          ws.binaryType = "arraybuffer";
          ws.onopen = () => resolve(ws);
          ws.onerror = () => reject(new Error(`socket ${i} failed`));
          setTimeout(() => reject(new Error(`socket ${i} did not open`)), timeout);
        });
      const next = (ws) =>
        new Promise((resolve, reject) => {
          ws.onmessage = (event) => resolve(event.data);
          setTimeout(() => reject(new Error("no echo")), timeout);
        });
      const all = await Promise.all([...Array(sockets).keys()].map(open));
      const exchanged = [];
      for (const [i, ws] of all.entries()) {
        const text = `text from socket ${i} ${"é".repeat(i)}`;
        ws.send(text);
        const gotText = await next(ws);
        const bytes = new Uint8Array(70_000).map((_, k) => (k * (i + 1)) & 0xff);
        ws.send(bytes);
        const gotBinary = new Uint8Array(await next(ws));
        const same = gotBinary.length === bytes.length && gotBinary.every((b, k) => b === bytes[k]);
        exchanged.push({ socket: i, text: gotText === text, binary: same, extensions: ws.extensions });
      }
      const stats = await (await fetch("/stats")).json();
      for (const ws of all) ws.close(1000, "done");
      return { exchanged, stats };
    },
    { port, sockets: SOCKETS, timeout: TIMEOUT },
  );
  for (const { socket, text, binary, extensions } of result.exchanged) {
    if (!text || !binary) throw new Error(`socket ${socket}: text echo ${text}, binary echo ${binary}`);
    console.log(`socket ${socket}: text and 70000-byte binary echoed (extensions: ${extensions || "none"})`);
  }
  const h2 = result.stats.websockets.open.h2;
  if (h2 !== SOCKETS) throw new Error(`the server counts ${h2} WebSockets open over h2: ${JSON.stringify(result.stats)}`);
  console.log(`the server counts ${h2} WebSockets open over h2: ${JSON.stringify(result.stats.websockets)}`);

  // The server's log: every socket closed as h2, from one client port.
  const deadline = Date.now() + TIMEOUT;
  const closed = () => log.filter((line) => line.includes("path=/echo") && line.includes("connection closed"));
  while (closed().length < SOCKETS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const lines = closed();
  if (lines.length < SOCKETS || !lines.every((line) => line.includes('transport="h2"'))) {
    throw new Error(`server log:\n${log.join("\n")}`);
  }
  const ports = new Set(lines.map((line) => /peer=Some\([^)]*:(\d+)\)/.exec(line)?.[1]));
  if (ports.size !== 1) throw new Error(`sockets came over ${ports.size} connections: ${[...ports]}`);
  console.log(`all ${SOCKETS} sockets were streams of one HTTP/2 connection (client port ${[...ports][0]})`);
} catch (error) {
  failed = true;
  console.error(`FAILED: ${error.stack || error}`);
  console.error(log.join("\n"));
} finally {
  await browser.close();
  server.removeAllListeners("exit");
  server.kill("SIGKILL");
}
process.exit(failed ? 1 : 0);
