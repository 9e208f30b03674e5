// fakewa_harness.mjs - small helpers for node --test files that run real
// Baileys 7 clients against tests/fakewa: load Baileys, start / stop
// fakewa (parses its "fakewa ready" line), the control API, a client
// with an event log, QR pairing through POST /phone/scan, polling.
// redirectMediaHost: Baileys' downloads from its default media host go to
// fakewa's instead.
// Environment: FAKEWA_BIN, FAKEWA_LOG=1 (fakewa's stderr), FAKEWA_VERBOSE=1
// (-v), BAILEYS_LOG=1 (Baileys warnings and errors).  Test-only.
import { spawn, spawnSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
export const fakewaBin = process.env.FAKEWA_BIN || join(root, 'build', 'bin', 'fakewa');

export async function loadBaileys() {
  try {
    return await import('baileys');
  } catch (e) {
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: here, stdio: 'inherit', timeout: 300000 });
    if (r.status !== 0) return null;
    try {
      return await import(createRequire(join(here, 'package.json')).resolve('baileys'));
    } catch (e2) {
      return null;
    }
  }
}

// ports: { ws, http, media } (0 = any); extra: more fakewa flags.
export function startFakewa(stateDir, ports = { ws: 0, http: 0, media: 0 }, extra = []) {
  return new Promise((resolve, reject) => {
    const args = ['-d', stateDir, '-p', String(ports.ws), '-P', String(ports.http),
      '-M', String(ports.media), ...extra];
    if (process.env.FAKEWA_VERBOSE) args.push('-v');
    const p = spawn(fakewaBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error('fakewa did not start: ' + err)), 10000);
    p.stderr.on('data', (d) => { err += d; if (process.env.FAKEWA_LOG) process.stderr.write(d); });
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/fakewa ready ws=(\d+) http=(\d+) root=([0-9a-f]{64})/);
      if (m) {
        clearTimeout(timer);
        const media = out.match(/ media=(\d+)/);
        resolve({ proc: p, ws: +m[1], http: +m[2], root: m[3], media: media ? +media[1] : 0,
          extra, log: () => err });
      }
    });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error('fakewa exited ' + code + ': ' + err)); });
  });
}

export async function stopFakewa(fw) {
  if (!fw || fw.proc.exitCode !== null) return;
  const gone = new Promise((res) => fw.proc.once('exit', res));
  fw.proc.kill('SIGTERM');
  await gone;
}

export async function post(port, path, body) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST', body: body === undefined ? '' : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: r.status, body: await r.json() };
}

export async function getJson(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return r.json();
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// Poll fn() until it returns a truthy value; throw with what() after ms.
export async function until(fn, what, ms = 30000, step = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + (typeof what === 'function' ? what() : what));
    await sleep(step);
  }
}

const silent = {
  level: 'silent', child() { return silent; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};
// Warnings and errors are kept in client.problems (a test can assert
// there were none of some kind) and printed with BAILEYS_LOG=1.
function logger(name, client) {
  const say = (lvl) => (...a) => {
    const line = lvl + ' ' + JSON.stringify(a).slice(0, 800);
    client.problems.push(line);
    if (process.env.BAILEYS_LOG) console.error('[' + name + '] ' + line);
  };
  const l = {
    level: 'info', child() { return l; },
    trace() {}, debug() {},
    info: process.env.BAILEYS_LOG === 'info' ? (...a) => console.error('[' + name + '] info', JSON.stringify(a).slice(0, 800)) : () => {},
    warn: say('warn'), error: say('error'), fatal: say('fatal'),
  };
  return l;
}

// A connected client; client.events keeps [event, payload] of the
// Baileys events a test looks at, client.problems its logged warnings
// and errors, client.inbox every messages.upsert entry (client.waiters:
// predicates called on each new one, dropped once true), client.receipts
// every messages.update, client.restarts the 515 restarts before open.
// sockOpts go to makeWASocket.
export function runClient(B, wsPort, authDir, name, onQr, timeoutMs, sockOpts = {}) {
  const client = { name, events: [], problems: [], sock: null, inbox: [], waiters: [],
    receipts: [] };
  return new Promise((resolve, reject) => {
    let done = false, restarts = 0;
    const timer = setTimeout(() => finish(new Error(name + ': no connection open within ' + timeoutMs + ' ms')), timeoutMs);
    function finish(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) { try { client.sock && client.sock.end(undefined); } catch (e) { /* gone */ } reject(err); }
      else resolve(client);
    }
    async function connect() {
      const { state, saveCreds } = await B.useMultiFileAuthState(authDir);
      const sock = B.makeWASocket({
        waWebSocketUrl: `ws://127.0.0.1:${wsPort}/ws/chat`,
        auth: state, logger: logger(name, client), printQRInTerminal: false,
        markOnlineOnConnect: false, syncFullHistory: false,
        connectTimeoutMs: 15000, defaultQueryTimeoutMs: 15000,
        ...sockOpts,
      });
      client.sock = sock;
      sock.ev.on('creds.update', saveCreds);
      for (const ev of ['messages.upsert', 'messages.update', 'messages.delete', 'chats.update', 'creds.update'])
        sock.ev.on(ev, (x) => client.events.push([ev, x]));
      sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) {
          client.inbox.push(m);
          client.waiters = client.waiters.filter((w) => !w(m));
        }
      });
      sock.ev.on('messages.update', (ups) => { for (const u of ups) client.receipts.push(u); });
      sock.ev.on('connection.update', (u) => {
        if (u.qr) onQr(u.qr, sock);
        if (u.connection === 'open') { client.user = sock.user; client.restarts = restarts; finish(null); }
        if (u.connection === 'close') {
          const code = u.lastDisconnect?.error?.output?.statusCode;
          if (code === 515 && restarts < 3 && !done) { restarts++; connect().catch(finish); }
          else if (!done) finish(new Error(name + ': connection closed, status ' + code));
        }
      });
    }
    connect().catch(finish);
  });
}

export async function pairClient(B, fw, authDir, phone, name, sockOpts = {}) {
  let scanned = null;
  const c = await runClient(B, fw.ws, authDir, name, (qr) => {
    if (scanned) return;
    scanned = post(fw.http, '/phone/scan', { qr, phone });
  }, 60000, sockOpts);
  const s = await scanned;
  if (s.status !== 200) throw new Error(name + ': scan refused: ' + JSON.stringify(s.body));
  return c;
}

// A client logging in again from its saved credentials.
export function reconnectClient(B, fw, authDir, name, sockOpts = {}) {
  return runClient(B, fw.ws, authDir, name, () => { throw new Error(name + ': QR on a saved login'); },
    30000, sockOpts);
}

export function endClient(c) {
  try { c && c.sock && c.sock.end(undefined); } catch (e) { /* gone */ }
}

// Wait until fakewa says the device is (dis)connected.
export function untilConnected(fw, jid, want = true) {
  return until(async () => {
    const d = (await getJson(fw.http, '/devices')).devices.find((x) => x.jid === jid);
    return d && d.connected === want;
  }, jid + (want ? ' connected' : ' disconnected'), 10000);
}

// TEST ONLY.  Baileys fetches a blob named by a direct path alone (an
// app-state snapshot's ExternalBlobReference has no url) from
// https://mmg.whatsapp.net<directPath> (DEF_MEDIA_HOST) with the global
// fetch.  This wraps globalThis.fetch in this process so that GETs to
// that host go to fakewa's HTTPS media host on 127.0.0.1:<media_port>
// (from GET /root) with certificate checks off for that loopback request
// only; every other request goes to the real fetch untouched.  Calling
// it again points the redirect at another fakewa.  Returns { port,
// hits: [paths fetched] }.
let mediaRedirect = null;
let realFetch = null;

function loopbackGet(url, init) {
  const hdrs = {};
  const h = init && init.headers;
  if (h && typeof h.forEach === 'function' && !Array.isArray(h)) h.forEach((v, k) => { hdrs[k] = v; });
  else if (Array.isArray(h)) for (const [k, v] of h) hdrs[k] = v;
  else if (h) Object.assign(hdrs, h);
  const path = url.pathname + url.search;
  mediaRedirect.hits.push(path);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port: mediaRedirect.port, path, method: (init && init.method) || 'GET',
      headers: hdrs, rejectUnauthorized: false, // fakewa's self-signed loopback certificate
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(new Response(Buffer.concat(chunks), {
        status: res.statusCode,
        headers: { 'content-type': res.headers['content-type'] || 'application/octet-stream' },
      })));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function redirectMediaHost(fw, host = 'mmg.whatsapp.net') {
  const r = await getJson(fw.http, '/root');
  mediaRedirect = { port: r.media_port, host, hits: [] };
  if (realFetch === null) {
    realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      let url = null;
      try {
        url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      } catch (e) { /* not ours */ }
      if (mediaRedirect && url && url.protocol === 'https:' && url.hostname === mediaRedirect.host)
        return loopbackGet(url, init);
      return realFetch(input, init);
    };
  }
  return mediaRedirect;
}
