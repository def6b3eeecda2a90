// Bun's built-in WebSocket server (uWebSockets inside) as a topic fan-out,
// the counterpart of `wsx serve`'s /broadcast for bench/fanout.sh: every
// socket subscribes to one topic, and each message a socket sends is
// published to the others (Bun's `ws.publish` leaves the sender out, as
// /broadcast does). Same command line as echo.js: `--listen HOST:PORT`
// (port 0 picks one), `--threads N` accepted and ignored (Bun runs
// JavaScript on one thread); prints "listening on HOST:PORT". No
// compression, no idle timeout.
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
    open(ws) {
      ws.subscribe("load");
    },
    message(ws, message) {
      ws.publish("load", message);
    },
  },
});
console.log(`listening on ${server.hostname}:${server.port}`);
