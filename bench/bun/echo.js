// Bun's built-in WebSocket server (uWebSockets inside) as an echo, with the
// command line of bench/'s Rust servers: `--listen HOST:PORT` (port 0
// picks one) and `--threads N` (accepted and ignored: Bun runs JavaScript
// on one thread). Prints "listening on HOST:PORT" as they do. Limits match
// `wsx serve`: 64 MiB messages; no compression; no idle timeout.
const args = process.argv.slice(2);
let listen = "127.0.0.1:0";
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === "--listen") listen = args[i + 1];
  else if (args[i] !== "--threads") {
    console.error(`unknown option ${args[i]}`);
    process.exit(2);
  }
}
const at = listen.lastIndexOf(":");
const server = Bun.serve({
  hostname: listen.slice(0, at),
  port: Number(listen.slice(at + 1)),
  fetch(request, server) {
    if (server.upgrade(request)) return;
    return new Response("WebSocket only\n", { status: 426 });
  },
  websocket: {
    maxPayloadLength: 64 << 20,
    idleTimeout: 0,
    perMessageDeflate: false,
    message(ws, message) {
      ws.send(message);
    },
  },
});
console.log(`listening on ${server.hostname}:${server.port}`);
