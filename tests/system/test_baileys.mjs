// test_baileys.mjs - independent check of tests/fakewa: a real, unmodified
// Baileys 7.0.0-rc14 client pairs with fakewa by QR and reaches
// connection 'open' (after its 515 restart), then logs in again with the
// saved credentials.  Loopback only.  The only change to Baileys is the
// documented one: its exported WA_CERT_DETAILS.PUBLIC_KEY is set to
// fakewa's test root.  Run: node --test tests/system/test_baileys.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fakewaBin = join(root, 'build', 'bin', 'fakewa');
const PHONE = '15550001111';

// Baileys leaves a ~30 s timer behind after sock.end(); do not wait for it
// once every test here has finished (the reporter has long flushed).
after(() => { setTimeout(() => process.exit(), 2000).unref(); });

async function loadBaileys() {
  try {
    return await import('baileys');
  } catch (e) {
    // node_modules may predate the baileys dependency: install it once.
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund',
      '--loglevel=error'], { cwd: here, stdio: 'inherit', timeout: 300000 });
    if (r.status !== 0) return null;
    try {
      const req = createRequire(join(here, 'package.json'));
      return await import(req.resolve('baileys'));
    } catch (e2) {
      return null;
    }
  }
}

function startFakewa(stateDir) {
  return new Promise((resolve, reject) => {
    const p = spawn(fakewaBin, ['-d', stateDir, '-p', '0', '-P', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error('fakewa did not start: ' + err)), 10000);
    p.stderr.on('data', (d) => { err += d; if (process.env.FAKEWA_LOG) process.stderr.write(d); });
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/fakewa ready ws=(\d+) http=(\d+) root=([0-9a-f]{64})/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc: p, ws: +m[1], http: +m[2], root: m[3], log: () => err });
      }
    });
    p.on('exit', (code) => { clearTimeout(timer); reject(new Error('fakewa exited ' + code + ': ' + err)); });
  });
}

async function post(port, path, body) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: r.status, body: await r.json() };
}

async function getJson(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return r.json();
}

const silent = {
  level: 'silent', child() { return silent; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

// Connects until 'open' (reconnecting on 515), or rejects.
// onQr(qr, sock) is called for each QR shown.
function runClient(B, wsPort, authDir, onQr, timeoutMs) {
  return new Promise((resolve, reject) => {
    let done = false, sock = null, restarts = 0;
    const timer = setTimeout(() => finish(new Error('no connection open within ' + timeoutMs + ' ms')), timeoutMs);
    function finish(err, val) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) { try { sock && sock.end(undefined); } catch (e) { /* gone */ } reject(err); }
      else resolve(val);
    }
    async function connect() {
      const { state, saveCreds } = await B.useMultiFileAuthState(authDir);
      sock = B.makeWASocket({
        waWebSocketUrl: `ws://127.0.0.1:${wsPort}/ws/chat`,
        auth: state, logger: silent, printQRInTerminal: false,
        markOnlineOnConnect: false, syncFullHistory: false,
        connectTimeoutMs: 15000, defaultQueryTimeoutMs: 15000,
      });
      sock.ev.on('creds.update', saveCreds);
      sock.ev.on('connection.update', (u) => {
        if (u.qr) onQr(u.qr, sock);
        if (u.connection === 'open') finish(null, { sock, restarts, user: sock.user });
        if (u.connection === 'close') {
          const code = u.lastDisconnect?.error?.output?.statusCode;
          if (code === 515 && restarts < 3 && !done) { restarts++; connect().catch(finish); }
          else finish(new Error('connection closed, status ' + code));
        }
      });
    }
    connect().catch(finish);
  });
}

test('Baileys 7 pairs with fakewa by QR and reaches open', { timeout: 120000 }, async (t) => {
  if (!existsSync(fakewaBin)) { t.skip('build/bin/fakewa not built'); return; }
  const B = await loadBaileys();
  if (B === null) { t.skip('baileys could not be imported or installed'); return; }
  const state = mkdtempSync(join(tmpdir(), 'fakewa-bl-'));
  const auth = join(state, 'auth');
  const fw = await startFakewa(join(state, 'fw'));
  try {
    B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(fw.root, 'hex');
    let scanned = null;
    const r = await runClient(B, fw.ws, auth, (qr) => {
      if (scanned) return;
      assert.match(qr, /^https:\/\/wa\.me\/settings\/linked_devices#[^,]+,[^,]+,[^,]+,[^,]+,\d$/);
      scanned = post(fw.http, '/phone/scan', { qr, phone: PHONE });
    }, 60000);
    const s = await scanned;
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(r.restarts, 1, 'one 515 restart after pairing');
    assert.match(r.user.id, new RegExp('^' + PHONE + ':\\d+@s\\.whatsapp\\.net$'));
    assert.equal(r.user.id, s.body.jid);
    const devs = await getJson(fw.http, '/devices');
    const d = devs.devices.find((x) => x.jid === r.user.id);
    assert.ok(d, 'fakewa lists the paired device');
    assert.equal(d.connected, true);
    assert.ok(d.prekeys >= 812, 'prekeys uploaded: ' + d.prekeys);
    assert.equal(devs.pair_errors, 0, devs.last_error);
    r.sock.end(undefined);
    await new Promise((res) => setTimeout(res, 300));

    // Saved credentials: logs in again without a QR.
    const r2 = await runClient(B, fw.ws, auth, () => { throw new Error('QR on a saved login'); }, 30000);
    assert.equal(r2.restarts, 0);
    assert.equal(r2.user.id, r.user.id);
    const devs2 = await getJson(fw.http, '/devices');
    assert.equal(devs2.devices.find((x) => x.jid === r.user.id).logins, 2);
    r2.sock.end(undefined);
  } finally {
    fw.proc.kill('SIGTERM');
    await new Promise((res) => fw.proc.once('exit', res));
    if (!process.env.KEEP_STATE) rmSync(state, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    else console.error('state kept in', state, '\n', fw.log());
  }
});

test('Baileys 7 pairs with fakewa by pair code and reaches open', { timeout: 120000 }, async (t) => {
  if (!existsSync(fakewaBin)) { t.skip('build/bin/fakewa not built'); return; }
  const B = await loadBaileys();
  if (B === null) { t.skip('baileys could not be imported or installed'); return; }
  const state = mkdtempSync(join(tmpdir(), 'fakewa-bl-'));
  const fw = await startFakewa(join(state, 'fw'));
  const phone = '15550004444';
  try {
    B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(fw.root, 'hex');
    let typed = null;
    const r = await runClient(B, fw.ws, join(state, 'auth'), (qr, sock) => {
      if (typed) return;
      typed = sock.requestPairingCode(phone).then((code) => {
        assert.match(code, /^[1-9A-HJ-NP-TV-Z]{8}$/);
        return post(fw.http, '/phone/code', { phone, code });
      });
    }, 60000);
    const s = await typed;
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(r.restarts, 1);
    assert.match(r.user.id, new RegExp('^' + phone + ':\\d+@s\\.whatsapp\\.net$'));
    const devs = await getJson(fw.http, '/devices');
    assert.equal(devs.pair_errors, 0, devs.last_error);
    assert.ok(devs.devices.find((x) => x.jid === r.user.id && x.connected));
    r.sock.end(undefined);
  } finally {
    fw.proc.kill('SIGTERM');
    await new Promise((res) => fw.proc.once('exit', res));
    if (!process.env.KEEP_STATE) rmSync(state, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    else console.error('state kept in', state, '\n', fw.log());
  }
});
