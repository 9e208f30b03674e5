// test_baileys_msg.mjs - end-to-end messaging through tests/fakewa with
// two real, unmodified Baileys 7.0.0-rc14 clients (two phones): fakewa
// answers usync and prekey-bundle fetches, relays the Signal ciphertexts
// (it never sees plaintext), acks, routes receipts, keeps an offline queue
// and fans group messages out.  Checks: A -> B text and B -> A reply
// decrypt; groups made by fakewa's POST /groups and by Baileys groupCreate
// carry messages both ways; a message to an offline client arrives on its
// next login; an image goes through fakewa's media host.
// Loopback only.  Run: node --test tests/system/test_baileys_msg.mjs
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fakewaBin, loadBaileys, startFakewa, post, getJson, runClient, pairClient }
  from './fakewa_harness.mjs';

const PHONE_A = '15550001111';
const PHONE_B = '15550002222';

after(() => { setTimeout(() => process.exit(), 2000).unref(); });

function textOf(m) {
  const msg = m.message || {};
  return msg.conversation || msg.extendedTextMessage?.text || null;
}

function waitFor(client, pred, what, ms = 30000) {
  const have = client.inbox.find(pred);
  if (have) return Promise.resolve(have);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for ' + what +
      '; inbox: ' + JSON.stringify(client.inbox.map((m) => [m.key, textOf(m), m.messageStubParameters])))), ms);
    client.waiters.push((m) => {
      if (!pred(m)) return false;
      clearTimeout(timer);
      resolve(m);
      return true;
    });
  });
}

const ctx = {};

async function shutdown() {
  for (const c of [ctx.a, ctx.b]) { try { c && c.sock.end(undefined); } catch (e) { /* gone */ } }
  if (ctx.fw) {
    ctx.fw.proc.kill('SIGTERM');
    await new Promise((res) => ctx.fw.proc.once('exit', res));
  }
  if (ctx.state) {
    if (!process.env.KEEP_STATE) rmSync(ctx.state, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    else console.error('state kept in', ctx.state, '\n', ctx.fw && ctx.fw.log());
  }
}
after(shutdown);

test('two Baileys clients pair with fakewa (two phones)', { timeout: 120000 }, async (t) => {
  if (!existsSync(fakewaBin)) { t.skip('build/bin/fakewa not built'); return; }
  const B = await loadBaileys();
  if (B === null) { t.skip('baileys could not be imported or installed'); return; }
  ctx.B = B;
  ctx.state = mkdtempSync(join(tmpdir(), 'fakewa-msg-'));
  ctx.fw = await startFakewa(join(ctx.state, 'fw'));
  B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(ctx.fw.root, 'hex');
  ctx.a = await pairClient(B, ctx.fw, join(ctx.state, 'authA'), PHONE_A, 'A');
  ctx.b = await pairClient(B, ctx.fw, join(ctx.state, 'authB'), PHONE_B, 'B');
  assert.match(ctx.a.user.id, new RegExp('^' + PHONE_A + ':\\d+@s\\.whatsapp\\.net$'));
  assert.match(ctx.b.user.id, new RegExp('^' + PHONE_B + ':\\d+@s\\.whatsapp\\.net$'));
  const devs = await getJson(ctx.fw.http, '/devices');
  assert.equal(devs.devices.filter((d) => d.connected).length, 2);
});

test('A -> B text and B -> A reply are relayed and decrypt', { timeout: 90000 }, async (t) => {
  if (!ctx.a || !ctx.b) { t.skip('clients not paired'); return; }
  const toB = PHONE_B + '@s.whatsapp.net', toA = PHONE_A + '@s.whatsapp.net';
  // usync contact lookup (onWhatsApp): B is registered, a stranger is not
  const look = await ctx.a.sock.onWhatsApp(PHONE_B, '15550007777');
  // (Baileys drops numbers whose contact type is not "in")
  assert.deepEqual(look.map((x) => [x.jid, x.exists]), [[toB, true]]);
  const sent = await ctx.a.sock.sendMessage(toB, { text: 'hello bob, this is alice' });
  const got = await waitFor(ctx.b, (m) => !m.key.fromMe && textOf(m) === 'hello bob, this is alice', 'A->B text');
  assert.equal(got.key.id, sent.key.id);
  const reply = await ctx.b.sock.sendMessage(toA, { text: 'hi alice' });
  const got2 = await waitFor(ctx.a, (m) => !m.key.fromMe && textOf(m) === 'hi alice', 'B->A reply');
  assert.equal(got2.key.id, reply.key.id);
  // second message A -> B uses the established session (type msg)
  await ctx.a.sock.sendMessage(toB, { text: 'second one' });
  await waitFor(ctx.b, (m) => !m.key.fromMe && textOf(m) === 'second one', 'A->B second');

  const log = await getJson(ctx.fw.http, '/messages?jid=' + encodeURIComponent(toB));
  const m1 = log.messages.find((m) => m.id === sent.key.id);
  assert.ok(m1, 'fakewa logged the message');
  assert.equal(m1.from, ctx.a.user.id);
  assert.ok(m1.recipients.some((r) => r.enc === 'pkmsg' && r.state !== 'phone'), JSON.stringify(m1));
  // the fake phones (device 0) have bundles too: Baileys encrypts to them, fakewa swallows that
  assert.ok(m1.recipients.some((r) => r.state === 'phone'), JSON.stringify(m1));
  assert.ok(!JSON.stringify(log).includes('hello bob'), 'no plaintext in the log');
  // B's delivery receipt reached fakewa (and was routed to A)
  await new Promise((res) => setTimeout(res, 500));
  const log2 = await getJson(ctx.fw.http, '/messages?jid=' + encodeURIComponent(toB));
  const r1 = log2.messages.find((m) => m.id === sent.key.id).recipients.find((r) => r.state !== 'phone');
  assert.notEqual(r1.state, 'queued', JSON.stringify(r1));
  assert.notEqual(r1.state, 'sent', JSON.stringify(r1));

  // B reads it: the read receipt is routed to A (messages.update status READ)
  await ctx.b.sock.readMessages([got.key]);
  const READ = ctx.B.proto.WebMessageInfo.Status.READ;
  for (let i = 0; i < 100 && !ctx.a.receipts.some((u) => u.key.id === sent.key.id && u.update.status === READ); i++)
    await new Promise((res) => setTimeout(res, 100));
  assert.ok(ctx.a.receipts.some((u) => u.key.id === sent.key.id && u.update.status === READ),
    'A saw the read receipt: ' + JSON.stringify(ctx.a.receipts));
  const log3 = await getJson(ctx.fw.http, '/messages?jid=' + encodeURIComponent(toB));
  assert.equal(log3.messages.find((m) => m.id === sent.key.id).recipients.find((r) => r.state !== 'phone').state, 'read');
});

test('group made by POST /groups: messages both ways', { timeout: 90000 }, async (t) => {
  if (!ctx.a || !ctx.b) { t.skip('clients not paired'); return; }
  const g = await post(ctx.fw.http, '/groups', { subject: 'fakewa group', owner: PHONE_A, participants: [PHONE_B] });
  assert.equal(g.status, 200, JSON.stringify(g.body));
  const gid = g.body.jid;
  assert.match(gid, /^\d+@g\.us$/);
  const meta = await ctx.a.sock.groupMetadata(gid);
  assert.equal(meta.subject, 'fakewa group');
  assert.equal(meta.participants.length, 2);
  const s1 = await ctx.a.sock.sendMessage(gid, { text: 'hello group from A' });
  const got = await waitFor(ctx.b, (m) => m.key.remoteJid === gid && textOf(m) === 'hello group from A', 'group msg at B');
  assert.equal(got.key.id, s1.key.id);
  await ctx.b.sock.sendMessage(gid, { text: 'B answers the group' });
  await waitFor(ctx.a, (m) => m.key.remoteJid === gid && textOf(m) === 'B answers the group', 'group reply at A');
  // A again: sender key already distributed, skmsg only
  await ctx.a.sock.sendMessage(gid, { text: 'A once more' });
  await waitFor(ctx.b, (m) => m.key.remoteJid === gid && textOf(m) === 'A once more', 'second group msg at B');
  const log = await getJson(ctx.fw.http, '/messages?jid=' + encodeURIComponent(gid));
  const m1 = log.messages.find((m) => m.id === s1.key.id);
  assert.ok(m1 && m1.group, JSON.stringify(log));
  assert.ok(m1.recipients.find((r) => r.state !== 'phone').enc.includes('skmsg'), JSON.stringify(m1));
});

test('group made by Baileys groupCreate (w:g2 create)', { timeout: 90000 }, async (t) => {
  if (!ctx.a || !ctx.b) { t.skip('clients not paired'); return; }
  const meta = await ctx.b.sock.groupCreate('made by B', [PHONE_A + '@s.whatsapp.net']);
  assert.match(meta.id, /@g\.us$/);
  assert.equal(meta.subject, 'made by B');
  await ctx.b.sock.sendMessage(meta.id, { text: 'welcome to my group' });
  await waitFor(ctx.a, (m) => m.key.remoteJid === meta.id && textOf(m) === 'welcome to my group', 'groupCreate msg at A');
  const groups = await getJson(ctx.fw.http, '/groups');
  assert.ok(groups.groups.some((x) => x.jid === meta.id && x.owner === PHONE_B));
});

test('offline queue: a message to a stopped client arrives at its next login', { timeout: 90000 }, async (t) => {
  if (!ctx.a || !ctx.b) { t.skip('clients not paired'); return; }
  const bId = ctx.b.user.id;
  ctx.b.sock.end(undefined);
  for (let i = 0; i < 50; i++) {
    const devs = await getJson(ctx.fw.http, '/devices');
    if (!devs.devices.find((d) => d.jid === bId).connected) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const s = await ctx.a.sock.sendMessage(PHONE_B + '@s.whatsapp.net', { text: 'while you were away' });
  const log = await getJson(ctx.fw.http, '/messages?jid=' + encodeURIComponent(bId));
  const m = log.messages.find((x) => x.id === s.key.id);
  assert.ok(m, 'logged');
  assert.equal(m.recipients.find((r) => r.state !== 'phone').state, 'queued');
  // fakewa writes queue.json at most every 200 ms
  let q = '';
  for (let i = 0; i < 30 && !q.includes(s.key.id); i++) {
    await new Promise((res) => setTimeout(res, 100));
    try { q = readFileSync(join(ctx.state, 'fw', 'queue.json'), 'utf8'); } catch (e) { q = ''; }
  }
  assert.ok(q.includes(s.key.id), 'the queue is persisted in the state directory');
  ctx.b = await runClient(ctx.B, ctx.fw.ws, join(ctx.state, 'authB'), 'B',
    () => { throw new Error('QR on a saved login'); }, 30000);
  await waitFor(ctx.b, (m2) => textOf(m2) === 'while you were away', 'queued message after login');
});

test('image: upload to the media host, relayed, downloaded and decrypted by B', { timeout: 90000 }, async (t) => {
  if (!ctx.a || !ctx.b) { t.skip('clients not paired'); return; }
  if (!ctx.fw.media) { t.skip('fakewa has no media host'); return; }
  // fakewa's media host is HTTPS with a self-signed certificate (Baileys
  // hard-codes https:// for media); loopback only, so trust it here.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  const blob = randomBytes(40000);
  const s = await ctx.a.sock.sendMessage(PHONE_B + '@s.whatsapp.net', {
    image: blob, caption: 'a picture', jpegThumbnail: Buffer.alloc(0),
  });
  const got = await waitFor(ctx.b, (m) => m.key.id === s.key.id && m.message?.imageMessage, 'image at B');
  assert.equal(got.message.imageMessage.caption, 'a picture');
  assert.match(got.message.imageMessage.url, new RegExp('^https://127\\.0\\.0\\.1:' + ctx.fw.media + '/'));
  const data = await ctx.B.downloadMediaMessage(got, 'buffer', {});
  assert.ok(Buffer.compare(data, blob) === 0, 'downloaded image equals the sent bytes');
});

test('offline queue survives a fakewa restart', { timeout: 90000 }, async (t) => {
  if (!ctx.a || !ctx.b) { t.skip('clients not paired'); return; }
  const bId = ctx.b.user.id;
  ctx.b.sock.end(undefined);
  for (let i = 0; i < 50; i++) {
    const devs = await getJson(ctx.fw.http, '/devices');
    if (!devs.devices.find((d) => d.jid === bId).connected) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const s = await ctx.a.sock.sendMessage(PHONE_B + '@s.whatsapp.net', { text: 'kept across a restart' });
  await new Promise((res) => setTimeout(res, 200));
  ctx.a.sock.end(undefined);
  ctx.a = null;
  const old = ctx.fw;
  old.proc.kill('SIGTERM');
  await new Promise((res) => old.proc.once('exit', res));
  ctx.fw = null;
  ctx.fw = await startFakewa(join(ctx.state, 'fw'), old);
  ctx.b = await runClient(ctx.B, ctx.fw.ws, join(ctx.state, 'authB'), 'B',
    () => { throw new Error('QR on a saved login'); }, 30000);
  const got = await waitFor(ctx.b, (m) => textOf(m) === 'kept across a restart', 'queued message after a fakewa restart');
  assert.equal(got.key.id, s.key.id);
});
