// test_baileys_peer.mjs - the other direction of test_baileys.mjs: the
// waproc client (conn.c/login.c, driven by build/tests/test_conn in its
// WA_EXT_URL mode) against a minimal WhatsApp server written here from
// Baileys' codec and crypto only (binary nodes, WAProto, Curve/XEdDSA) and
// Node's HKDF/AES-GCM, so no waproc code sits on the server side.  It
// checks: Noise XX initiator + certificate chain, registration payload,
// pair-device -> QR -> pair-success (ADV HMAC + account signature made
// here) -> the client's device signature (verified here) -> 515 -> login
// payload -> <success> -> 812 prekeys; pair-device arrives zlib-compressed.
// Loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createHash, createHmac, createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const driver = join(root, 'build', 'tests', 'test_conn');
const PHONE = '15550006666';
const DEV = 3;

async function loadBaileys() {
  try { return await import('baileys'); } catch (e) {
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: here, stdio: 'inherit', timeout: 300000 });
    if (r.status !== 0) return null;
    try { return await import(createRequire(join(here, 'package.json')).resolve('baileys')); } catch (e2) { return null; }
  }
}

const NAME = Buffer.from('Noise_XX_25519_AESGCM_SHA256\0\0\0\0');
const iv = (n) => { const b = Buffer.alloc(12); b.writeUInt32BE(n, 8); return b; };
const sha256 = (b) => createHash('sha256').update(b).digest();
const hkdf64 = (ikm, salt) => Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.alloc(0), 64));
function gcmSeal(k, n, aad, p) {
  const c = createCipheriv('aes-256-gcm', k, iv(n)); c.setAAD(aad);
  return Buffer.concat([c.update(p), c.final(), c.getAuthTag()]);
}
function gcmOpen(k, n, aad, ct) {
  const d = createDecipheriv('aes-256-gcm', k, iv(n)); d.setAAD(aad);
  d.setAuthTag(ct.subarray(ct.length - 16));
  return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
}
class Responder {
  constructor() { this.h = NAME; this.ck = NAME; this.k = NAME; this.n = 0; }
  mixHash(d) { this.h = sha256(Buffer.concat([this.h, d])); }
  mixKey(ikm) { const o = hkdf64(ikm, this.ck); this.ck = o.subarray(0, 32); this.k = o.subarray(32); this.n = 0; }
  enc(p) { const c = gcmSeal(this.k, this.n++, this.h, p); this.mixHash(c); return c; }
  dec(c) { const p = gcmOpen(this.k, this.n++, this.h, c); this.mixHash(c); return p; }
}

function frame(p) { const h = Buffer.alloc(3); h.writeUIntBE(p.length, 0, 3); return Buffer.concat([h, p]); }

// One server: state shared by its connections; ev records what it saw.
function makeServer(B, wss, rootKey, ev) {
  const { proto, Curve } = B;
  const stat = Curve.generateKeyPair();
  const inter = Curve.generateKeyPair();
  const acct = Curve.generateKeyPair();
  const now = Math.floor(Date.now() / 1000);
  const D = proto.CertChain.NoiseCertificate.Details;
  const idet = D.encode({ serial: 5, issuerSerial: 0, key: inter.public, notBefore: now - 3600, notAfter: now + 3600 }).finish();
  const ldet = D.encode({ serial: 6, issuerSerial: 5, key: stat.public, notBefore: now - 3600, notAfter: now + 3600 }).finish();
  const cert = proto.CertChain.encode({
    intermediate: { details: idet, signature: Curve.sign(rootKey.private, idet) },
    leaf: { details: ldet, signature: Curve.sign(inter.private, ldet) },
  }).finish();
  let paired = null;  // { noise, identity }

  wss.on('connection', (ws) => {
    let buf = Buffer.alloc(0), intro = false, step = 0, hs = new Responder(), e = null;
    let rkey, wkey, rn = 0, wn = 0, reg = null, pairId = null;
    // compress: the server may deflate any stanza (flag 0x02, PROTOCOL.md 1.5)
    const sendNode = async (node, compress) => {
      let p = Buffer.from(B.encodeBinaryNode(node));
      if (compress) p = Buffer.concat([Buffer.from([2]), deflateSync(p.subarray(1))]);
      ws.send(frame(gcmSeal(wkey, wn++, Buffer.alloc(0), p)));
    };
    const result = (id, content) => sendNode({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'result', id }, content });
    ev.pairSuccess = async (qr) => {
      const [ref, noise, ident, adv] = qr.replace(/^https:\/\/wa\.me\/settings\/linked_devices#/, '').split(',');
      assert.ok(reg, 'a registering client is connected');
      assert.ok(Buffer.from(noise, 'base64').equals(reg.noise), 'QR noise key = handshake static');
      assert.ok(Buffer.from(ident, 'base64').equals(reg.identity), 'QR identity = payload eIdent');
      assert.equal(ref, '2@peer-ref-1');
      const details = proto.ADVDeviceIdentity.encode({ rawId: 77, timestamp: now, keyIndex: 1 }).finish();
      const asig = Curve.sign(acct.private, Buffer.concat([Buffer.from([6, 0]), details, reg.identity]));
      const signed = proto.ADVSignedDeviceIdentity.encode({ details, accountSignatureKey: acct.public, accountSignature: asig }).finish();
      const hmac = createHmac('sha256', Buffer.from(adv, 'base64')).update(signed).digest();
      const outer = proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish();
      pairId = 'ps-1';
      await sendNode({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'set', id: pairId, t: String(now) }, content: [
        { tag: 'pair-success', attrs: {}, content: [
          { tag: 'device-identity', attrs: {}, content: Buffer.from(outer) },
          { tag: 'platform', attrs: { name: 'android' } },
          { tag: 'device', attrs: { jid: `${PHONE}:${DEV}@s.whatsapp.net`, lid: `96666:${DEV}@lid` } },
        ] }] });
    };
    const onNode = async (node) => {
      const a = node.attrs;
      if (node.tag === 'iq' && a.id === pairId && a.type === 'result') {
        const sign = node.content.find((c) => c.tag === 'pair-device-sign');
        const di = sign.content.find((c) => c.tag === 'device-identity');
        ev.keyIndex = di.attrs['key-index'];
        const sd = proto.ADVSignedDeviceIdentity.decode(di.content);
        ev.replyHasAccountKey = sd.accountSignatureKey != null && sd.accountSignatureKey.length > 0;
        ev.deviceSigOk = Curve.verify(reg.identity, Buffer.concat([Buffer.from([6, 1]), sd.details, reg.identity, acct.public]), sd.deviceSignature);
        paired = reg;
        await sendNode({ tag: 'stream:error', attrs: { code: '515' } });
        return;
      }
      if (node.tag !== 'iq' || (a.type !== 'get' && a.type !== 'set')) return;
      const child = Array.isArray(node.content) ? node.content[0] : null;
      if (a.xmlns === 'encrypt' && child?.tag === 'count') {
        await result(a.id, [{ tag: 'count', attrs: { value: String(ev.prekeys || 0) } }]);
      } else if (a.xmlns === 'encrypt' && a.type === 'set') {
        const list = node.content.find((c) => c.tag === 'list');
        const skey = node.content.find((c) => c.tag === 'skey');
        const get = (n, t) => n.content.find((c) => c.tag === t).content;
        ev.skeyOk = Curve.verify(paired.identity, Buffer.concat([Buffer.from([5]), get(skey, 'value')]), get(skey, 'signature'));
        ev.prekeys = list.content.filter((k) => get(k, 'id').length === 3 && get(k, 'value').length === 32).length;
        await result(a.id);
      } else {
        await result(a.id);
      }
    };
    ws.on('message', async (data) => {
      buf = Buffer.concat([buf, data]);
      if (!intro) {
        if (buf.length < 4) return;
        ev.intro = buf.subarray(0, 4).toString('hex');
        hs.mixHash(buf.subarray(0, 4));
        buf = buf.subarray(4); intro = true;
      }
      while (buf.length >= 3 && buf.length >= 3 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3), p = buf.subarray(3, 3 + len);
        buf = buf.subarray(3 + len);
        try {
          if (step === 0) {
            const ce = Buffer.from(proto.HandshakeMessage.decode(p).clientHello.ephemeral);
            hs.mixHash(ce);
            e = Curve.generateKeyPair();
            hs.mixHash(e.public);
            hs.mixKey(Curve.sharedKey(e.private, ce));
            const s = hs.enc(stat.public);
            hs.mixKey(Curve.sharedKey(stat.private, ce));
            const c = hs.enc(Buffer.from(cert));
            ws.send(frame(Buffer.from(proto.HandshakeMessage.encode({ serverHello: { ephemeral: e.public, static: s, payload: c } }).finish())));
            step = 1;
          } else if (step === 1) {
            const fin = proto.HandshakeMessage.decode(p).clientFinish;
            const cs = hs.dec(Buffer.from(fin.static));
            hs.mixKey(Curve.sharedKey(e.private, cs));
            const cp = proto.ClientPayload.decode(hs.dec(Buffer.from(fin.payload)));
            const o = hkdf64(Buffer.alloc(0), hs.ck);
            rkey = o.subarray(0, 32); wkey = o.subarray(32);
            step = 2;
            if (cp.username == null) {
              const d = cp.devicePairingData;
              reg = { noise: cs, identity: Buffer.from(d.eIdent) };
              ev.regSpkOk = Curve.verify(reg.identity, Buffer.concat([Buffer.from([5]), d.eSkeyVal]), d.eSkeySig);
              ev.regPassive = cp.passive;
              await sendNode({ tag: 'iq', attrs: { from: 's.whatsapp.net', type: 'set', id: 'pd-1', xmlns: 'md' }, content: [
                { tag: 'pair-device', attrs: {}, content: [{ tag: 'ref', attrs: {}, content: Buffer.from('2@peer-ref-1') }] }] }, true);
            } else {
              ev.login = { username: String(cp.username), device: cp.device, passive: cp.passive, noiseOk: paired && cs.equals(paired.noise) };
              await sendNode({ tag: 'success', attrs: { t: String(now), lid: `96666:${DEV}@lid` } });
            }
          } else {
            const pt = gcmOpen(rkey, rn++, Buffer.alloc(0), p);
            await onNode(await B.decodeBinaryNode(pt));
          }
        } catch (err) {
          ev.errors = (ev.errors || []).concat(String(err && err.stack || err));
          ws.close();
        }
      }
    });
  });
}

test('waproc client pairs and logs in with a server built from Baileys', { timeout: 90000 }, async (t) => {
  if (!existsSync(driver)) { t.skip('build/tests/test_conn not built'); return; }
  const B = await loadBaileys();
  if (B === null) { t.skip('baileys could not be imported or installed'); return; }
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws/chat' });
  await new Promise((res) => wss.on('listening', res));
  const rootKey = B.Curve.generateKeyPair();
  const ev = {};
  makeServer(B, wss, rootKey, ev);
  const child = spawn(driver, [], {
    env: { ...process.env, WA_EXT_URL: `ws://127.0.0.1:${wss.address().port}/ws/chat`,
      WA_EXT_ROOT: rootKey.public.toString('hex') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '', scanned = false;
  child.stderr.on('data', (d) => { err += d; });
  child.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/^# qr (\S+)$/m);
    if (m && !scanned) { scanned = true; ev.pairSuccess(m[1]).catch((e) => { ev.errors = [String(e)]; }); }
  });
  const code = await new Promise((res) => child.on('exit', res));
  for (const c of wss.clients) c.terminate();
  wss.close();
  assert.deepEqual(ev.errors, undefined, 'server saw no errors');
  assert.equal(code, 0, 'driver passed:\n' + out + err.slice(-2000));
  assert.equal(ev.intro, '57410603', 'intro WA 6 3');
  assert.equal(ev.regSpkOk, true, 'registration signed prekey verifies');
  assert.equal(ev.deviceSigOk, true, 'device signature verifies (Baileys Curve)');
  assert.equal(ev.replyHasAccountKey, false, 'reply omits accountSignatureKey');
  assert.equal(ev.keyIndex, '1');
  assert.deepEqual(ev.login, { username: PHONE, device: DEV, passive: true, noiseOk: true });
  assert.equal(ev.prekeys, 812);
  assert.equal(ev.skeyOk, true, 'uploaded signed prekey verifies');
  assert.match(out, new RegExp(`^# jid ${PHONE}:${DEV}@s\\.whatsapp\\.net$`, 'm'));
});
