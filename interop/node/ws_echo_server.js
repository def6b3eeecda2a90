#!/usr/bin/env node
'use strict';
// Echo server on Node `ws` 8, the peer for wsx's interop tests; it mirrors
// interop/python/ws_echo_server.py:
//
//   node ws_echo_server.js --port P [--once] [--deflate OPTIONS]
//
// Every line on stdout is one JSON object:
//   {"listening": PORT}                                  once, when ready (--port 0 picks one)
//   {"extensions": "<Sec-WebSocket-Extensions of the 101, or null>"}   per connection, with --deflate
//   {"kind": "text"|"binary", "len": N, "sha256": HEX}   per message received, before its echo
//   {"closed": {"code": C, "reason": R}}                 per connection, when it is closed
// Every message is echoed with its own type and exact payload; pings are
// answered by `ws`. With --once the server exits after its first connection.
const crypto = require('crypto');
const { WebSocketServer } = require('ws');
const { perMessageDeflate, parseArgs, emit } = require('./deflate_options');

const args = parseArgs(process.argv.slice(2), ['once']);
const wss = new WebSocketServer({
  host: args.host || '127.0.0.1',
  port: Number(args.port),
  perMessageDeflate: perMessageDeflate(args.deflate),
  maxPayload: 0,
});

wss.on('headers', (headers) => {
  if (args.deflate !== undefined) {
    const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
    emit({ extensions: line ? line.slice(line.indexOf(':') + 1).trim() : null });
  }
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    const payload = Buffer.isBuffer(data) ? data : Buffer.concat(data);
    const sha256 = crypto.createHash('sha256').update(payload).digest('hex');
    emit({ kind: isBinary ? 'binary' : 'text', len: payload.length, sha256 });
    ws.send(payload, { binary: isBinary });
  });
  ws.on('close', (code, reason) => {
    emit({ closed: { code, reason: reason.toString('utf8') } });
    if (args.once) wss.close(() => process.exit(0));
  });
  ws.on('error', (error) => emit({ error: String(error) }));
});

wss.on('listening', () => emit({ listening: wss.address().port }));
