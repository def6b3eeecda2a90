#!/usr/bin/env node
'use strict';
// Scripted client on Node `ws` 8, the peer for wsx's interop tests; it runs
// the same scripts as interop/python/ws_client.py (interop/python/cases/*.json)
// with the same output lines:
//
//   node ws_client.js --url ws://127.0.0.1:P/echo --script FILE.json [--timeout S] [--deflate OPTIONS]
//
// Ops: send (data | hex | size, optional "fragments" as a list of sizes or a
// count, "echo"), expect, ping, close, wait_close, sleep. The last line is
// {"ok": true} or {"ok": false, "error": "..."}; the exit status follows it.
const crypto = require('crypto');
const fs = require('fs');
const WebSocket = require('ws');
const { perMessageDeflate, parseArgs, emit } = require('./deflate_options');

const args = parseArgs(process.argv.slice(2), []);
const timeoutMs = Number(args.timeout || 30) * 1000;

function pattern(kind, size) {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = kind === 'text' ? 0x20 + (i % 95) : i % 251;
  return out;
}

function payloadOf(step) {
  if (step.kind !== 'text' && step.kind !== 'binary') throw new Error(`bad kind ${step.kind}`);
  if ('data' in step) return Buffer.from(step.data, 'utf8');
  if ('hex' in step) return Buffer.from(step.hex, 'hex');
  if ('size' in step) return pattern(step.kind, step.size);
  throw new Error("a message needs 'data', 'hex' or 'size'");
}

function split(payload, fragments) {
  let sizes = fragments;
  if (typeof fragments === 'number') {
    const size = Math.ceil(payload.length / fragments);
    sizes = Array.from({ length: fragments }, (_, i) => Math.max(0, Math.min(size, payload.length - i * size)));
  }
  const parts = [];
  let offset = 0;
  for (const n of sizes) {
    parts.push(payload.subarray(offset, offset + n));
    offset += n;
  }
  if (offset !== payload.length) throw new Error('fragment sizes do not add up');
  return parts;
}

const summary = (kind, payload) => ({
  kind,
  len: payload.length,
  sha256: crypto.createHash('sha256').update(payload).digest('hex'),
});

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const steps = JSON.parse(fs.readFileSync(args.script, 'utf8'));
  const list = Array.isArray(steps) ? steps : steps.steps;
  const ws = new WebSocket(args.url, { perMessageDeflate: perMessageDeflate(args.deflate), maxPayload: 0 });
  let extensions = null;
  ws.on('upgrade', (response) => {
    extensions = response.headers['sec-websocket-extensions'] || null;
  });
  const inbox = [];
  const waiters = [];
  let closed = null;
  const closedPromise = new Promise((resolve) => ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString('utf8') };
    resolve(closed);
    while (waiters.length) waiters.shift()(null);
  }));
  ws.on('message', (data, isBinary) => {
    const item = [isBinary ? 'binary' : 'text', Buffer.isBuffer(data) ? data : Buffer.concat(data)];
    if (waiters.length) waiters.shift()(item);
    else inbox.push(item);
  });
  const next = () => (inbox.length ? Promise.resolve(inbox.shift()) : closed ? Promise.resolve(null) : new Promise((r) => waiters.push(r)));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 'the handshake');
  emit({ connected: args.url, extensions });

  const expect = async (index, kind, payload) => {
    const got = await withTimeout(next(), 'a message');
    if (!got) throw new Error(`step ${index}: the connection closed`);
    const match = got[0] === kind && got[1].equals(payload);
    emit({ step: index, received: summary(got[0], got[1]), match });
    if (!match) throw new Error(`step ${index}: expected ${kind} of ${payload.length} bytes, got ${got[0]} of ${got[1].length}`);
  };
  let done = false;
  for (const [index, step] of list.entries()) {
    if (step.op === 'send') {
      const payload = payloadOf(step);
      const binary = step.kind === 'binary';
      const parts = step.fragments !== undefined ? split(payload, step.fragments) : [payload];
      await new Promise((resolve, reject) => {
        parts.forEach((part, i) => ws.send(part, { binary, fin: i === parts.length - 1 }, (e) => (e ? reject(e) : i === parts.length - 1 && resolve())));
      });
      emit({ step: index, sent: { ...summary(step.kind, payload), fragments: parts.length } });
      if (step.echo !== false) await expect(index, step.kind, payload);
    } else if (step.op === 'expect') {
      await expect(index, step.kind, payloadOf(step));
    } else if (step.op === 'ping') {
      const data = 'hex' in step ? Buffer.from(step.hex, 'hex') : Buffer.from(String(step.data || ''), 'utf8');
      const started = Date.now();
      const pong = new Promise((resolve) => ws.once('pong', resolve));
      ws.ping(data);
      const got = await withTimeout(pong, 'the pong');
      if (!got.equals(data)) throw new Error(`step ${index}: pong payload differs`);
      emit({ step: index, pong: { len: data.length, rtt_ms: Date.now() - started } });
    } else if (step.op === 'close' || step.op === 'wait_close') {
      if (step.op === 'close') ws.close(step.code || 1000, step.reason || '');
      else {
        const got = await withTimeout(next(), 'the close');
        if (got) throw new Error(`step ${index}: expected the peer to close, got a ${got[0]} message`);
      }
      const c = await withTimeout(closedPromise, 'the closing handshake');
      emit({ closed: c });
      if ('expect_code' in step && c.code !== step.expect_code) throw new Error(`close code ${c.code}, expected ${step.expect_code}`);
      if ('expect_reason' in step && c.reason !== step.expect_reason) throw new Error(`close reason ${c.reason}`);
      done = true;
    } else if (step.op === 'sleep') {
      await new Promise((r) => setTimeout(r, step.seconds * 1000));
    } else {
      throw new Error(`step ${index}: unknown op ${step.op}`);
    }
  }
  if (!done) {
    ws.close(1000);
    emit({ closed: await withTimeout(closedPromise, 'the closing handshake') });
  }
}

main().then(
  () => { emit({ ok: true }); process.exit(0); },
  (error) => { emit({ ok: false, error: String(error && error.message || error) }); process.exit(1); },
);
