'use strict';
// permessage-deflate settings for the Node peers, from one command-line value
// (the same syntax as interop/python/deflate_options.py):
//   --deflate ""   ws's perMessageDeflate with its defaults, every message compressed
//   --deflate "server_no_context_takeover,client_no_context_takeover,server_max_window_bits=10,client_max_window_bits=9"
// Without --deflate the peers do not compress.

const NAMES = {
  server_no_context_takeover: 'serverNoContextTakeover',
  client_no_context_takeover: 'clientNoContextTakeover',
  server_max_window_bits: 'serverMaxWindowBits',
  client_max_window_bits: 'clientMaxWindowBits',
};

/** `false` when compression is off, else ws's `perMessageDeflate` option. */
function perMessageDeflate(spec) {
  if (spec === undefined) return false;
  // threshold 0: compress every message, so the wire carries RSV1 frames.
  const options = { threshold: 0, zlibDeflateOptions: { memLevel: 5 } };
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value] = item.split('=');
    const key = NAMES[name];
    if (!key) throw new Error(`unknown permessage-deflate option ${JSON.stringify(name)}`);
    options[key] = name.endsWith('_bits') ? (value ? Number(value) : true) : true;
  }
  return options;
}

/** Reads `--name value` pairs (and bare `--flag`s) from argv. */
function parseArgs(argv, flags) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').replace(/-/g, '_');
    if (flags.includes(name)) args[name] = true;
    else args[name] = argv[++i];
  }
  return args;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

module.exports = { perMessageDeflate, parseArgs, emit };
