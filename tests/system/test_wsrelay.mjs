// test_wsrelay.mjs - wsrelay against a real devmgr (build/bin/devmgr, wactl)
// and against bench/relay-pub (a stand-in publisher for floods and garbage).
// Clients: the npm `ws` package for /ws and raw Engine.IO, and the
// unmodified npm `socket.io-client` 4.x with transports: ['websocket'].
//
//   node --test tests/system/test_wsrelay.mjs
//
// Optional environment, to run the same test through a web server:
//   WS_BASE (or WSRELAY_URL)  base URL the clients connect to, e.g.
//                             http://127.0.0.1:8080 (a proxy forwarding /ws
//                             and /socket.io/ to 127.0.0.1:$WSRELAY_PORT)
//   WSRELAY_PORT              port wsrelay listens on (default: random)
//   WSRELAY_BIN               another wsrelay binary (e.g. an ASan build)
//   WSRELAY_RSS_MAX_KB        RSS growth allowed over 1000 connections
//                             (default 30720; an ASan build needs ~100000)
// Only the client connections go through WS_BASE; devmgr and wsrelay are
// always started here, in a private VAR_DIR and RUN_DIR.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'build/bin');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('connect', () => { c.destroy(); r(true); });
      c.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} never answered`);
}

async function waitFile(p, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(p)) return;
    await sleep(50);
  }
  throw new Error(`${p} never appeared`);
}

function rssKb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

// A private stack: VAR_DIR, RUN_DIR, the JWT secret, wsrelay on a port.
class Stack {
  constructor(name) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `wsr-${name}-`));
    this.run = fs.mkdtempSync(path.join(os.tmpdir(), 'wsrr-'));
    fs.chmodSync(this.run, 0o700);
    this.secret = crypto.randomBytes(32).toString('hex');
    fs.writeFileSync(path.join(this.dir, 'jwt.secret'), this.secret + '\n', { mode: 0o600 });
    this.procs = [];
  }

  async env(extra = {}) {
    if (!this.port) this.port = Number(process.env.WSRELAY_PORT) || (await freePort());
    return {
      ...process.env,
      VAR_DIR: this.dir,
      RUN_DIR: this.run,
      API_RATE_LIMIT: '0',
      WSRELAY_PORT: String(this.port),
      LOG_LEVEL: process.env.LOG_LEVEL || 'info',
      GATEWAY_CONFIG: '',
      ...extra,
    };
  }

  spawn(bin, args, env, opts = {}) {
    const p = spawn(bin, args, { env, stdio: opts.stdio || ['ignore', 'ignore', 'pipe'] });
    p.stderrText = '';
    p.stderr?.on('data', (d) => { p.stderrText = (p.stderrText + d).slice(-20000); });
    p.exited = new Promise((r) => p.on('exit', (code, sig) => r({ code, sig })));
    this.procs.push(p);
    return p;
  }

  async startRelay(extra = {}) {
    const env = await this.env(extra);
    this.relay = this.spawn(process.env.WSRELAY_BIN || path.join(BIN, 'wsrelay'), [], env);
    await waitPort(this.port);
    const base = process.env.WS_BASE || process.env.WSRELAY_URL || `http://127.0.0.1:${this.port}`;
    this.http = base.replace(/^ws/, 'http').replace(/\/+$/, '');
    this.ws = this.http.replace(/^http/, 'ws');
  }

  token(user, role = 'user', ttl = 3600, opts = {}) {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const h = b64({ alg: 'HS256', typ: 'JWT' });
    const p = b64({ sub: user, username: user, role, iat: now, exp: now + ttl,
      iss: opts.iss || 'whatsapp-gateway' });
    const key = opts.key || Buffer.from(this.secret, 'hex');
    const s = crypto.createHmac('sha256', key).update(`${h}.${p}`).digest('base64url');
    return `${h}.${p}.${s}`;
  }

  async stop() {
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    fs.rmSync(this.run, { recursive: true, force: true });
  }
}

// A /ws client that records every JSON frame.
function wsClient(url, opts = {}) {
  const ws = new WebSocket(url, opts);
  ws.frames = [];
  ws.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('message', (m, isBinary) => {
    const text = m.toString();
    let v;
    try { v = JSON.parse(text); } catch { v = { raw: text }; }
    ws.frames.push(v);
  });
  ws.on('error', () => {});
  ws.opened = new Promise((r, j) => { ws.on('open', r); ws.on('close', () => j(new Error('closed before open'))); });
  ws.opened.catch(() => {});
  return ws;
}

async function waitFor(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// A socket.io client recording every event.
function sioClient(stack, auth, extra = {}) {
  const s = io(stack.http, { transports: ['websocket'], reconnection: false, forceNew: true,
    timeout: 5000, auth, ...extra });
  s.events = [];
  s.onAny((name, data) => s.events.push({ name, data }));
  s.connected$ = new Promise((resolve, reject) => {
    s.on('connect', resolve);
    s.on('connect_error', reject);
  });
  s.connected$.catch(() => {});
  return s;
}

function wactl(stack, env, args, input) {
  return execFileSync(path.join(BIN, 'wactl'), args, { env, input, encoding: 'utf8', timeout: 15000 });
}

const haveDevmgr = fs.existsSync(path.join(BIN, 'devmgr')) && fs.existsSync(path.join(BIN, 'wactl'));

// Top-level tests (each one counts in tests/run.sh), in file order: first
// the real-devmgr stack, then the stand-in publisher's, which reuses the port.
const dmSkip = !haveDevmgr && 'build/bin/devmgr or wactl missing';
const st = new Stack('dm');
let env, devA, devB;

before(async () => {
  if (dmSkip) return;
  env = await st.env({ MAX_PROCESSES: '20', RESTART_BACKOFF_MIN_MS: '200' });
  st.devmgr = st.spawn(path.join(BIN, 'devmgr'), ['-d'], env);	// -d: foreground
  await waitFile(path.join(st.run, 'control.sock'));
  await waitFile(path.join(st.run, 'events.sock'));
  wactl(st, env, ['users', 'add', 'alice', '--role', 'user'], 'alice-password\n');
  wactl(st, env, ['users', 'add', 'bob', '--role', 'user'], 'bob-password\n');
  const reg = (owner) => JSON.parse(wactl(st, env, ['--json', 'devices', 'register', '--owner', owner, '--no-start']));
  devA = reg('alice').data.deviceHash;
  devB = reg('bob').data.deviceHash;
  assert.match(devA, /^[0-9a-f]{16}$/);
  await st.startRelay();
});
after(() => st.stop());

it('/ws without a token: error frame, close 4001', { skip: dmSkip }, async () => {
  const ws = wsClient(`${st.ws}/ws`);
  const c = await ws.closed;
  assert.equal(c.code, 4001);
  assert.equal(ws.frames[0].type, 'error');
  assert.match(ws.frames[0].message, /unauthorized/);
});

it('/ws with a forged, expired or wrong-issuer token: close 4001', { skip: dmSkip }, async () => {
  for (const t of [st.token('alice', 'user', 3600, { key: crypto.randomBytes(32) }),
    st.token('alice', 'user', -10), st.token('alice', 'user', 3600, { iss: 'evil' }),
    'not.a.jwt', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.']) {
    const ws = wsClient(`${st.ws}/ws?token=${encodeURIComponent(t)}`);
    const c = await ws.closed;
    assert.equal(c.code, 4001, `token ${t.slice(0, 20)}…`);
    assert.ok(!ws.frames.some((f) => f.type === 'welcome'));
  }
});

it('/ws with a token (query or Bearer header): welcome', { skip: dmSkip }, async () => {
  const a = wsClient(`${st.ws}/ws?token=${st.token('alice')}`);
  await waitFor(() => a.frames.find((f) => f.type === 'welcome'), 5000, 'welcome');
  assert.equal(a.frames[0].message, 'Connected to WhatsApp Gateway WebSocket');
  assert.ok(a.frames[0].timestamp);
  a.close();
  const b = wsClient(`${st.ws}/ws`, { headers: { Authorization: `Bearer ${st.token('bob')}` } });
  await waitFor(() => b.frames.find((f) => f.type === 'welcome'), 5000, 'welcome via header');
  b.close();
});

it('socket.io without or with a bad token: connect_error; with auth.token: connects', { skip: dmSkip }, async () => {
  const none = sioClient(st, undefined);
  await assert.rejects(none.connected$, /unauthorized/);
  none.close();
  const bad = sioClient(st, { token: st.token('alice', 'user', 3600, { key: crypto.randomBytes(32) }) });
  await assert.rejects(bad.connected$, /unauthorized/);
  bad.close();
  const good = sioClient(st, { token: st.token('alice') });
  await good.connected$;
  assert.ok(good.id);
  good.close();
  const hdr = sioClient(st, undefined, { extraHeaders: { Authorization: `Bearer ${st.token('alice')}` } });
  await hdr.connected$;
  hdr.close();
});

it('joins: own room yes, foreign / unknown / malformed no', { skip: dmSkip }, async () => {
  const ws = wsClient(`${st.ws}/ws?token=${st.token('alice')}`);
  await ws.opened;
  ws.send(JSON.stringify({ type: 'join-device', deviceHash: devA }));
  await waitFor(() => ws.frames.find((f) => f.type === 'joined-device' && f.deviceHash === devA), 5000, 'joined-device');
  ws.send(JSON.stringify({ type: 'join-device', deviceHash: devB }));
  await waitFor(() => ws.frames.find((f) => f.type === 'error' && f.message === 'device not found'), 5000, 'foreign join error');
  ws.send(JSON.stringify({ type: 'join-device', deviceHash: 'zz' }));
  await waitFor(() => ws.frames.find((f) => f.type === 'error' && /invalid/.test(f.message)), 5000, 'invalid hash error');
  ws.close();

  const s = sioClient(st, { token: st.token('alice') });
  await s.connected$;
  const ack = await s.timeout(5000).emitWithAck('join', `device-${devA}`);
  assert.equal(ack.ok, true);
  assert.equal(ack.room, `device-${devA}`);
  const ack2 = await s.timeout(5000).emitWithAck('join-device', devB);
  assert.equal(ack2.ok, false);
  assert.equal(ack2.message, 'device not found');
  const ack3 = await s.timeout(5000).emitWithAck('join', 'device-ffffffffffffffff');
  assert.equal(ack3.ok, false);
  s.emit('join', 'device-nope');
  await waitFor(() => s.events.find((e) => e.name === 'error' && e.data.message === 'invalid room'), 5000, 'invalid room');
  s.close();

  const adm = sioClient(st, { token: st.token('admin', 'admin') });
  await adm.connected$;
  const ack4 = await adm.timeout(5000).emitWithAck('join', `device-${devB}`);
  assert.equal(ack4.ok, true, 'admin may join any device');
  adm.close();
});

it('lifecycle events: started, stopped, crashed on /ws and socket.io; never another user\'s', { skip: dmSkip }, async () => {
  const ws = wsClient(`${st.ws}/ws?token=${st.token('alice')}`);
  await ws.opened;
  const wsAll = wsClient(`${st.ws}/ws?token=${st.token('alice')}`);
  await wsAll.opened;
  ws.send(JSON.stringify({ type: 'join-device', deviceHash: devA }));
  await waitFor(() => ws.frames.find((f) => f.type === 'joined-device'), 5000, 'joined');
  const s = sioClient(st, { token: st.token('alice') });
  await s.connected$;
  assert.equal((await s.timeout(5000).emitWithAck('join', `device-${devA}`)).ok, true);
  const bob = sioClient(st, { token: st.token('bob') });
  await bob.connected$;
  const adm = wsClient(`${st.ws}/ws?token=${st.token('admin', 'admin')}`);
  await adm.opened;

  const wsMsg = (c, pred) => c.frames.find((f) => f.type === 'whatsapp-websocket-message' && pred(f.message));
  const sioMsg = (c, name, pred) => c.events.find((e) => e.name === name && pred(e.data.message ?? e.data));

  wactl(st, env, ['devices', 'start', devA]);
  wactl(st, env, ['devices', 'start', devB]);
  const started = (m) => m.type === 'status' && m.event === 'started' && m.deviceHash === devA;
  await waitFor(() => wsMsg(ws, started), 10000, '/ws status started');
  await waitFor(() => sioMsg(s, 'whatsapp-websocket-message', started), 10000, 'sio global started');
  await waitFor(() => sioMsg(s, 'device-websocket-message', started), 10000, 'sio room started');
  const m = wsMsg(ws, started).message;
  assert.equal(m.status, 'starting');
  assert.ok(m.timestamp && m.eventId && typeof m.ts === 'number');

  const info = JSON.parse(wactl(st, env, ['--json', 'devices', 'info', devA]));
  const pid = info.data.process.pid;
  assert.ok(pid > 0);
  process.kill(pid, 'SIGKILL');
  const crashed = (x) => x.type === 'status' && x.event === 'crashed' && x.deviceHash === devA;
  await waitFor(() => wsMsg(ws, crashed), 10000, '/ws crashed');
  await waitFor(() => sioMsg(s, 'device-websocket-message', crashed), 10000, 'sio crashed');
  await waitFor(() => s.events.find((e) => e.name === 'process-stopped' && e.data.deviceHash === devA), 10000, 'sio process-stopped room event');
  await waitFor(() => ws.frames.find((f) => f.type === 'process-stopped' && f.deviceHash === devA), 10000, '/ws process-stopped');

  await sleep(500);
  wactl(st, env, ['devices', 'stop', devA]);
  wactl(st, env, ['devices', 'stop', devB]);
  const stopped = (x) => x.type === 'status' && x.status === 'stopped' && x.deviceHash === devA;
  await waitFor(() => wsMsg(ws, stopped), 10000, '/ws stopped');
  await waitFor(() => sioMsg(s, 'whatsapp-websocket-message', stopped), 10000, 'sio stopped');
  // bob's device: bob and admin see it, alice never does.
  const bStopped = (x) => x.type === 'status' && x.status === 'stopped' && x.deviceHash === devB;
  await waitFor(() => sioMsg(bob, 'whatsapp-websocket-message', bStopped), 10000, 'bob sees his device');
  await waitFor(() => wsMsg(adm, bStopped), 10000, 'admin sees bob\'s device');
  await waitFor(() => wsMsg(adm, stopped), 10000, 'admin sees alice\'s device');
  await sleep(300);
  const leaks = [...ws.frames, ...wsAll.frames].filter((f) => JSON.stringify(f).includes(devB))
    .concat(s.events.filter((e) => JSON.stringify(e).includes(devB) && e.name !== 'error'));
  assert.deepEqual(leaks, [], 'alice received nothing of bob\'s device');
  assert.ok(!bob.events.some((e) => JSON.stringify(e.data).includes(devA)), 'bob received nothing of alice\'s device');
  assert.ok(wsMsg(wsAll, stopped), 'unfiltered /ws client sees own device');
  // /ws filter: joined to devA only, so never a frame of another device
  assert.ok(ws.frames.filter((f) => f.deviceHash && f.deviceHash !== devA).length === 0);
  for (const c of [ws, wsAll, adm]) c.close();
  s.close(); bob.close();
});

it('token expiry closes /ws with 4001 and disconnects socket.io', { skip: dmSkip }, async () => {
  const ws = wsClient(`${st.ws}/ws?token=${st.token('alice', 'user', 2)}`);
  await ws.opened;
  const s = sioClient(st, { token: st.token('alice', 'user', 2) });
  await s.connected$;
  const reason = new Promise((r) => s.on('disconnect', r));
  const c = await ws.closed;
  assert.equal(c.code, 4001);
  assert.ok(ws.frames.find((f) => f.type === 'error' && /expired/.test(f.message)));
  assert.equal(await reason, 'io server disconnect');
  s.close();
});

it('polling transport and plain HTTP get clear 400 JSON errors', { skip: dmSkip }, async () => {
  const r = await fetch(`${st.http}/socket.io/?EIO=4&transport=polling`);
  assert.equal(r.status, 400);
  const j = await r.json();
  assert.equal(j.code, 3);
  assert.match(j.detail, /websocket/);
  const s = io(st.http, { transports: ['polling'], reconnection: false, forceNew: true, timeout: 3000 });
  await assert.rejects(new Promise((res, rej) => { s.on('connect', res); s.on('connect_error', rej); }));
  s.close();
});

it('robustness: garbage, oversized frames, 1000 connect/disconnect cycles', { skip: dmSkip }, async (t) => {
  const tok = st.token('alice');
  // /ws: invalid JSON answered, binary closed, oversized closed 1009
  const a = wsClient(`${st.ws}/ws?token=${tok}`);
  await a.opened;
  a.send('{not json');
  a.send('');
  a.send('[1,2,3]');
  await waitFor(() => a.frames.filter((f) => f.type === 'error' && f.message === 'Invalid JSON message').length >= 2, 5000, 'invalid JSON errors');
  await waitFor(() => a.frames.find((f) => f.type === 'echo'), 5000, 'echo');
  a.send('x'.repeat(100 * 1024));
  assert.equal((await a.closed).code, 1009);
  const b = wsClient(`${st.ws}/ws?token=${tok}`);
  await b.opened;
  b.send(Buffer.from([0, 1, 2, 255]), { binary: true });
  assert.equal((await b.closed).code, 1003);

  // raw Engine.IO: open packet, bad connect, garbage -> closed, relay alive
  const garbage = ['zzz', '4', '49', '451-["a",{"_placeholder":true,"num":0}]', '0', '5', '42[', '\u0000'];
  for (const g of garbage) {
    const e = wsClient(`${st.ws}/socket.io/?EIO=4&transport=websocket`);
    await waitFor(() => e.frames.length > 0, 5000, 'open packet');
    assert.match(e.frames[0].raw, /^0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\[\],"pingInterval":\d+,"pingTimeout":\d+,"maxPayload":\d+\}$/);
    e.send(g);
    const c = await e.closed;
    assert.ok([1002, 1003, 1006, 1007, 1008].includes(c.code), `garbage ${JSON.stringify(g)} closed with ${c.code}`);
  }
  const e2 = wsClient(`${st.ws}/socket.io/?EIO=4&transport=websocket`);
  await waitFor(() => e2.frames.length > 0, 5000, 'open');
  e2.send('40{"token":"garbage"}');
  await waitFor(() => e2.frames.find((f) => typeof f.raw === 'string' && f.raw.startsWith('44{"message":"unauthorized')), 5000, '44');
  e2.send('40/admin,{}');
  await waitFor(() => e2.frames.find((f) => f.raw === '44/admin,{"message":"Invalid namespace"}'), 5000, 'bad namespace');
  e2.send(`40{"token":"${tok}"}`);
  await waitFor(() => e2.frames.find((f) => /^40\{"sid":"/.test(f.raw ?? '')), 5000, '40 sid');
  e2.send('42["join",{"deep":' + '['.repeat(50) + ']'.repeat(50) + '}]');
  await waitFor(() => e2.frames.find((f) => /^42\["error"/.test(f.raw ?? '')), 5000, 'error for deep JSON');
  e2.send('421["nosuchevent"]');
  await waitFor(() => e2.frames.find((f) => /^431\[\{"message":"unknown event"/.test(f.raw ?? '')), 5000, 'ack error');
  e2.send('2probe');
  await waitFor(() => e2.frames.find((f) => f.raw === '3probe'), 5000, 'probe answered');
  e2.close();
  // an oversized Socket.IO frame
  const e3 = wsClient(`${st.ws}/socket.io/?EIO=4&transport=websocket`);
  await waitFor(() => e3.frames.length > 0, 5000, 'open');
  e3.send('42["join","' + 'a'.repeat(70000) + '"]');
  assert.equal((await e3.closed).code, 1009);
  // wrong Engine.IO version / path: refused at the handshake
  const v3 = wsClient(`${st.ws}/socket.io/?EIO=3&transport=websocket`);
  await v3.closed;
  assert.ok(!v3.frames.length);
  const other = wsClient(`${st.ws}/nope?token=${tok}`);
  await other.closed;

  // 1000 connect/disconnect cycles, 50 at a time
  const pid = st.relay.pid;
  const before = rssKb(pid);
  const N = 1000, P = 50;
  let done = 0;
  async function cycle(i) {
    if (i % 4 === 3) {
      const s = sioClient(st, { token: tok });
      await s.connected$;
      s.close();
    } else {
      const c = wsClient(`${st.ws}/ws?token=${tok}`);
      await waitFor(() => c.frames.length > 0, 10000, 'welcome');
      if (i % 2) c.send(JSON.stringify({ type: 'join-device', deviceHash: devA }));
      c.close();
      await c.closed;
    }
    done++;
  }
  for (let i = 0; i < N; i += P) {
    await Promise.all(Array.from({ length: P }, (_, k) => cycle(i + k)));
  }
  assert.equal(done, N);
  await sleep(500);
  const after = rssKb(pid);
  t.diagnostic(`wsrelay RSS ${before} kB before, ${after} kB after ${N} cycles`);
  const bound = Number(process.env.WSRELAY_RSS_MAX_KB) || 30 * 1024;
  assert.ok(after - before < bound, `RSS grew from ${before} to ${after} kB`);
  const z = wsClient(`${st.ws}/ws?token=${tok}`);
  await waitFor(() => z.frames.find((f) => f.type === 'welcome'), 5000, 'still answering');
  z.close();
  assert.equal(st.relay.exitCode, null, 'relay still running');
});

it('SIGTERM: clean exit 0', { skip: dmSkip }, async () => {
  const c = wsClient(`${st.ws}/ws?token=${st.token('alice')}`);
  await c.opened;
  st.relay.kill('SIGTERM');
  const { code, sig } = await st.relay.exited;
  assert.equal(code, 0, `exit ${code} ${sig}: ${st.relay.stderrText.slice(-500)}`);
  assert.doesNotMatch(st.relay.stderrText, /AddressSanitizer|runtime error|LeakSanitizer/);
});

const ps = new Stack('pub');
let pub, penv, pubStarted;
const DEV = '00000000000000a1';
const OTHER = '00000000000000b2';
const lines = [];

async function cmd(line) {
  const n = lines.length;
  pub.stdin.write(line + '\n');
  await waitFor(() => lines.length > n, 5000, `publisher ack for ${line.slice(0, 30)}`);
}

// The stand-in stack starts with its first test, once the real-devmgr
// stack's wsrelay has exited (it may need the same WSRELAY_PORT).
function pubSetup() {
  pubStarted ??= pubStart();
  return pubStarted;
}

async function pubStart() {
  const exe = path.join(ps.dir, 'relay-pub');
  const pc = spawnSync('sh', ['-c', `cc -O2 -D_GNU_SOURCE -I${ROOT}/build/gen -I${ROOT}/common ` +
    `${ROOT}/bench/relay-pub.c ${ROOT}/build/lib/libcommon.a ` +
    `$(pkg-config --cflags --libs libzmq libprotobuf-c libsodium json-c libjwt) -o ${exe}`], { encoding: 'utf8' });
  assert.equal(pc.status, 0, pc.stderr);
  penv = await ps.env({ WSRELAY_QUEUE_MAX: '50' });
  pub = ps.spawn(exe, [], penv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let acc = '';
  pub.stdout.on('data', (d) => {
    acc += d;
    const parts = acc.split('\n');
    acc = parts.pop();
    lines.push(...parts);
  });
  await waitFor(() => lines.includes('ready'), 5000, 'publisher ready');
  await cmd(`dev ${DEV} carol`);
  await cmd(`dev ${OTHER} dave`);
  await ps.startRelay({ WSRELAY_QUEUE_MAX: '50' });
}
after(() => ps.stop());

it('a slow client loses its oldest events, is told how many, others are not slowed', async (t) => {
  await pubSetup();
  const slow = wsClient(`${ps.ws}/ws?token=${ps.token('carol')}`);
  await waitFor(() => slow.frames.find((f) => f.type === 'welcome'), 5000, 'welcome');
  const fast = sioClient(ps, { token: ps.token('carol') });
  await fast.connected$;
  slow._socket.pause();	// stop reading: the kernel buffers fill, then wsrelay's queue
  const pad = 'p'.repeat(8000);	// 24 MB in all: more than socket buffers hold
  const N = 3000;
  const base = lines.length;
  for (let i = 0; i < N; i += 10) {
    const batch = [];
    for (let k = i; k < i + 10; k++) batch.push(`pub ${DEV} carol message {"seq":${k},"pad":"${pad}"}`);
    pub.stdin.write(batch.join('\n') + '\n');
    await waitFor(() => lines.length >= base + i + 10, 10000, 'batch');
    await sleep(2);
  }
  await waitFor(() => fast.events.filter((e) => e.name === 'whatsapp-websocket-message').length >= N, 20000, 'fast client got all');
  slow._socket.resume();
  await waitFor(() => slow.frames.find((f) => f.type === 'whatsapp-websocket-message' && f.message.seq === N - 1), 20000, 'slow client got the newest');
  const dropped = slow.frames.filter((f) => f.type === 'dropped');
  assert.ok(dropped.length >= 1, 'a dropped notice');
  const total = dropped.reduce((a, f) => a + f.count, 0);
  const got = slow.frames.filter((f) => f.type === 'whatsapp-websocket-message').length;
  t.diagnostic(`slow client: ${got} received, ${total} dropped in ${dropped.length} notices`);
  assert.equal(got + total, N, `received ${got} + dropped ${total} = ${N}`);
  const seqs = slow.frames.filter((f) => f.type === 'whatsapp-websocket-message').map((f) => f.message.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'order kept');
  slow.close(); fast.close();
});

it('malformed published events are dropped, the relay goes on', async () => {
  await pubSetup();
  const c = wsClient(`${ps.ws}/ws?token=${ps.token('carol')}`);
  await waitFor(() => c.frames.find((f) => f.type === 'welcome'), 5000, 'welcome');
  await cmd(`raw ev.${DEV} garbage-not-protobuf`);
  await cmd(`pub ${DEV} carol status {"broken":`);
  await cmd(`pub zz carol status {}`);
  await cmd(`pub ${DEV} carol bad\u0001type {}`);
  await cmd(`pub ${OTHER} dave status {"status":"x"}`);
  await cmd(`pub ${DEV} carol status {"status":"connected","event":"connected"}`);
  await waitFor(() => c.frames.find((f) => f.type === 'whatsapp-websocket-message' && f.message.status === 'connected'), 5000, 'good event after garbage');
  const msgs = c.frames.filter((f) => f.type === 'whatsapp-websocket-message');
  assert.equal(msgs.length, 1, 'only the well-formed own event: ' + JSON.stringify(msgs));
  c.close();
});

it('devmgr gone: join answers an error instead of hanging', async () => {
  await pubSetup();
  const s = sioClient(ps, { token: ps.token('carol') });
  await s.connected$;
  assert.equal((await s.timeout(5000).emitWithAck('join', `device-${DEV}`)).ok, true);
  pub.kill('SIGKILL');
  await pub.exited;
  await sleep(300);
  const t0 = Date.now();
  const r = await s.timeout(8000).emitWithAck('join', `device-${OTHER}`);
  assert.equal(r.ok, false);
  assert.ok(Date.now() - t0 < 7000);
  s.close();
});
