// test_baileys.mjs - independent check of tests/fakewa: a real, unmodified
// Baileys 7.0.0-rc14 client pairs with fakewa by QR and reaches
// connection 'open' (after its 515 restart), then logs in again with the
// saved credentials.  Loopback only.  The only change to Baileys is the
// documented one: its exported WA_CERT_DETAILS.PUBLIC_KEY is set to
// fakewa's test root.  Run: node --test tests/system/test_baileys.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakewaBin, loadBaileys, startFakewa, stopFakewa, post, getJson, runClient }
  from './fakewa_harness.mjs';

const PHONE = '15550001111';

// Baileys leaves a ~30 s timer behind after sock.end(); do not wait for it
// once every test here has finished (the reporter has long flushed).
after(() => { setTimeout(() => process.exit(), 2000).unref(); });

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
    const r = await runClient(B, fw.ws, auth, 'QR', (qr) => {
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
    const r2 = await runClient(B, fw.ws, auth, 'QR again', () => { throw new Error('QR on a saved login'); }, 30000);
    assert.equal(r2.restarts, 0);
    assert.equal(r2.user.id, r.user.id);
    const devs2 = await getJson(fw.http, '/devices');
    assert.equal(devs2.devices.find((x) => x.jid === r.user.id).logins, 2);
    r2.sock.end(undefined);
  } finally {
    await stopFakewa(fw);
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
    const r = await runClient(B, fw.ws, join(state, 'auth'), 'code', (qr, sock) => {
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
    await stopFakewa(fw);
    if (!process.env.KEEP_STATE) rmSync(state, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    else console.error('state kept in', state, '\n', fw.log());
  }
});
