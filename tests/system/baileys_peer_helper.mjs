// baileys_peer_helper.mjs - one real, unmodified Baileys 7.0.0-rc14 client
// (a second phone) driven over stdin/stdout, one JSON object a line, for
// tests/system/test_baileys_gateway.py.  Baileys is loaded exactly as
// test_baileys_msg.mjs does (npm install in tests/system when missing) and
// given fakewa's test root key (GET /root) before it connects.
//
// Requests (stdin):  {"seq":N, "cmd":..., ...}
// Answers (stdout):  {"seq":N, "ok":true, ...} or {"seq":N, "ok":false,
//                    "error":"..."}; once at start {"ready":true} or
//                    {"ready":false,"skip":"reason"}.
// Commands:
//   pair {ws, http, phone, auth}   connect to ws://127.0.0.1:ws/ws/chat,
//                                  pair by POST http/phone/scan -> {user}
//   send {to, text}                sendMessage -> {id}
//   wait {id?, text?, remoteJid?, image?, ms}
//                                  first inbox message (not fromMe) that
//                                  matches -> {msg}; timeout -> error with
//                                  the inbox
//   inbox                          -> {inbox}
//   download {id}                  decrypts the media of that message from
//                                  fakewa's media host -> {len, sha256, b64}
//   group {jid}                    groupMetadata -> {subject, participants}
//   online {name?}                 presence available (push name set in the
//                                  credentials first if missing): from then
//                                  on Baileys sends active delivery
//                                  receipts instead of type="inactive"
//   star {jid, id, fromMe, star}   chatModify star (an app state patch;
//                                  Baileys puts it in regular_low)
//   pin {jid, pin}                 chatModify pin
//   appevents                      -> {messages: [messages.update whose
//                                  update has starred], chats: [chats.update],
//                                  deletes: [messages.delete]}
//   quit
// App state MAC verification (patch and snapshot) is on: every patch our
// gateway writes is checked by Baileys' own LTHash and MAC code.  Once
// paired, Baileys' downloads from mmg.whatsapp.net (an app-state snapshot
// blob, named by a direct path only) go to fakewa's media host
// (fakewa_harness.mjs redirectMediaHost; test only).
// BAILEYS_LOG_FILE=path: Baileys' own pino logger at debug level there.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { redirectMediaHost } from './fakewa_harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const errlog = (...a) => process.stderr.write('[baileys-peer] ' + a.join(' ') + '\n');

async function loadBaileys() {
  try {
    return await import('baileys');
  } catch (e) {
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund',
      '--loglevel=error'], { cwd: here, stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 300000 });
    if (r.status !== 0) return null;
    try {
      const req = createRequire(join(here, 'package.json'));
      return await import(req.resolve('baileys'));
    } catch (e2) {
      return null;
    }
  }
}

const silent = {
  level: 'silent', child() { return silent; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

async function makeLogger() {
  const file = process.env.BAILEYS_LOG_FILE;
  if (!file) return silent;
  try {
    const req = createRequire(join(here, 'package.json'));
    const pino = (await import(req.resolve('pino'))).default;
    return pino({ level: 'debug' }, pino.destination({ dest: file, sync: true }));
  } catch (e) {
    errlog('no pino logger:', e.message);
    return silent;
  }
}

const B = await loadBaileys();
if (B === null) {
  out({ ready: false, skip: 'baileys could not be imported or installed' });
  process.exit(0);
}
const logger = await makeLogger();
const client = { inbox: [], waiters: [], receipts: [], sock: null, user: null,
  stars: [], chats: [], deletes: [] };
let fw = null;	// { ws, http, media }

function textOf(m) {
  const msg = m.message || {};
  return msg.conversation || msg.extendedTextMessage?.text || null;
}

function summary(m) {
  const img = m.message?.imageMessage;
  return {
    id: m.key.id, remoteJid: m.key.remoteJid, fromMe: !!m.key.fromMe,
    participant: m.key.participant || null, text: textOf(m),
    pushName: m.pushName || null,
    image: img ? { caption: img.caption || null, url: img.url || null,
      directPath: img.directPath || null, mimetype: img.mimetype || null,
      fileLength: Number(img.fileLength || 0) } : null,
    // Baileys' messageStubType: a system message (group created, ...)
    systemType: m.messageStubType || null,
    systemParameters: m.messageStubParameters || null,
    keys: m.message ? Object.keys(m.message) : [],
  };
}

async function httpJson(method, path, body) {
  const r = await fetch(`http://127.0.0.1:${fw.http}${path}`, {
    method, body: body ? JSON.stringify(body) : undefined,
    headers: { 'content-type': 'application/json' },
  });
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch (e) { j = text; }
  return { status: r.status, body: j };
}

function connect(authDir, phone, timeoutMs) {
  return new Promise((resolve, reject) => {
    let done = false, restarts = 0, scanned = null;
    const timer = setTimeout(() => finish(new Error('no connection open within ' + timeoutMs + ' ms')), timeoutMs);
    function finish(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve();
    }
    async function once() {
      const { state, saveCreds } = await B.useMultiFileAuthState(authDir);
      const sock = B.makeWASocket({
        waWebSocketUrl: `ws://127.0.0.1:${fw.ws}/ws/chat`,
        auth: state, logger, printQRInTerminal: false,
        markOnlineOnConnect: false, syncFullHistory: false,
        connectTimeoutMs: 15000, defaultQueryTimeoutMs: 15000,
        appStateMacVerification: { patch: true, snapshot: true },
      });
      client.sock = sock;
      sock.ev.on('creds.update', saveCreds);
      sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) {
          client.inbox.push(m);
          client.waiters = client.waiters.filter((w) => !w(m));
        }
      });
      sock.ev.on('messages.update', (ups) => {
        for (const u of ups) {
          if (u.update && 'starred' in u.update)
            client.stars.push({ key: u.key, starred: u.update.starred });
          else
            client.receipts.push(u);
        }
      });
      sock.ev.on('chats.update', (ups) => { for (const u of ups) client.chats.push(u); });
      sock.ev.on('messages.delete', (d) => { client.deletes.push(d); });
      sock.ev.on('connection.update', (u) => {
        if (u.qr && !scanned) {
          scanned = httpJson('POST', '/phone/scan', { qr: u.qr, phone });
          scanned.then((s) => { if (s.status !== 200) finish(new Error('/phone/scan: ' + JSON.stringify(s))); },
            (e) => finish(e));
        }
        if (u.connection === 'open') { client.user = sock.user; finish(null); }
        if (u.connection === 'close') {
          const code = u.lastDisconnect?.error?.output?.statusCode;
          if (code === 515 && restarts < 3 && !done) { restarts++; once().catch(finish); }
          else if (!done) finish(new Error('connection closed, status ' + code));
          else errlog('connection closed after open, status', code);
        }
      });
    }
    once().catch(finish);
  });
}

function matches(q, m) {
  if (m.key.fromMe) return false;
  if (q.id && m.key.id !== q.id) return false;
  if (q.remoteJid && m.key.remoteJid !== q.remoteJid) return false;
  if (q.text != null && textOf(m) !== q.text) return false;
  if (q.image && !m.message?.imageMessage) return false;
  return true;
}

function waitFor(q, ms) {
  const have = client.inbox.find((m) => matches(q, m));
  if (have) return Promise.resolve(have);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms waiting for ' +
      JSON.stringify(q) + '; inbox: ' + JSON.stringify(client.inbox.map(summary)))), ms);
    client.waiters.push((m) => {
      if (!matches(q, m)) return false;
      clearTimeout(timer);
      resolve(m);
      return true;
    });
  });
}

async function download(id) {
  const m = client.inbox.find((x) => x.key.id === id && x.message?.imageMessage);
  if (!m) throw new Error('no image message ' + id);
  const img = m.message.imageMessage;
  // Baileys fetches https://<host of url><directPath>.  fakewa's media
  // host is HTTPS with a self-signed certificate on loopback: trust it for
  // this download only, and only when that is the host.
  const root = await httpJson('GET', '/root');
  const mediaHost = '127.0.0.1:' + root.body.media_port;
  let host = null;
  try { host = new URL(img.url).host; } catch (e) { /* none */ }
  if (host !== mediaHost)
    throw new Error('image url ' + img.url + ' (directPath ' + img.directPath +
      '): Baileys would download from host ' + host + ', not fakewa\'s media host ' + mediaHost);
  const old = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    const data = await B.downloadMediaMessage(m, 'buffer', {});
    return { len: data.length, sha256: createHash('sha256').update(data).digest('hex'),
      b64: data.toString('base64') };
  } finally {
    if (old === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = old;
  }
}

async function handle(req) {
  switch (req.cmd) {
  case 'pair': {
    fw = { ws: req.ws, http: req.http };
    const root = await httpJson('GET', '/root');
    if (root.status !== 200 || !/^[0-9a-f]{64}$/.test(root.body.root || ''))
      throw new Error('GET /root: ' + JSON.stringify(root));
    B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(root.body.root, 'hex');
    await redirectMediaHost(fw);
    await connect(req.auth, req.phone, req.timeout || 60000);
    return { user: client.user };
  }
  case 'send': {
    const s = await client.sock.sendMessage(req.to, { text: req.text });
    return { id: s.key.id, remoteJid: s.key.remoteJid };
  }
  case 'wait': {
    const m = await waitFor(req, req.ms || 20000);
    return { msg: summary(m) };
  }
  case 'inbox':
    return { inbox: client.inbox.map(summary), receipts: client.receipts.map((u) => ({ key: u.key, update: u.update })) };
  case 'download':
    return await download(req.id);
  case 'group': {
    const g = await client.sock.groupMetadata(req.jid);
    return { subject: g.subject, participants: g.participants };
  }
  case 'online': {
    // Baileys sends plain (active) delivery receipts only once it is
    // online, and refuses presence 'available' without a push name; a
    // real account has one from app-state sync, which fakewa does not do,
    // so set it in the saved credentials like that sync would.
    const creds = client.sock.authState.creds;
    if (!creds.me.name) {
      creds.me = { ...creds.me, name: req.name || 'Baileys peer' };
      client.sock.ev.emit('creds.update', { me: creds.me });
    }
    const online = new Promise((resolve) => {
      const f = (u) => { if (u.isOnline === true) { client.sock.ev.off('connection.update', f); resolve(true); } };
      client.sock.ev.on('connection.update', f);
      setTimeout(() => resolve(false), 5000);
    });
    await client.sock.sendPresenceUpdate('available');
    return { online: await online };
  }
  case 'star':
    await client.sock.chatModify({ star: { messages: [{ id: req.id,
      fromMe: !!req.fromMe }], star: !!req.star } }, req.jid);
    return {};
  case 'pin':
    await client.sock.chatModify({ pin: !!req.pin }, req.jid);
    return {};
  case 'appevents':
    return { messages: client.stars, chats: client.chats.map((c) => ({
      id: c.id, pinned: c.pinned ?? null, archived: c.archived ?? null })),
      deletes: client.deletes };
  case 'quit':
    try { client.sock && client.sock.end(undefined); } catch (e) { /* gone */ }
    setTimeout(() => process.exit(0), 300);
    return {};
  default:
    throw new Error('unknown command ' + req.cmd);
  }
}

out({ ready: true });
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let req;
  try { req = JSON.parse(line); } catch (e) { out({ ok: false, error: 'bad json' }); return; }
  handle(req).then((r) => out({ seq: req.seq, ok: true, ...r }),
    (e) => out({ seq: req.seq, ok: false, error: String(e && e.stack || e) }));
});
rl.on('close', () => {
  try { client.sock && client.sock.end(undefined); } catch (e) { /* gone */ }
  setTimeout(() => process.exit(0), 300);
});
