// test_appstate_oracle.mjs - Baileys 7.0.0-rc14 (and the Rust/WASM
// whatsapp-rust-bridge it uses for key expansion and LTHash) as an
// independent oracle for waproc/appstate.c, the app-state (syncd) codec:
//  (b) Baileys' encodeSyncdPatch builds a star patch and then an unstar
//      patch (same index, so the LTHash subtracts) with a fixed key;
//      build/tests/test_appstate (test_oracle_dump, APPSTATE_ORACLE_DIR)
//      must verify both (patch, value, index and snapshot MACs) and reach
//      Baileys' LTHash after each;
//  (a) the same run writes the patches our code builds (star +
//      delete-for-me at v1, unstar + REMOVE at v2); Baileys'
//      decodeSyncdPatch / decodePatches with MAC validation must accept
//      them, recover index and value, and reach our LTHash; a flipped
//      patch MAC must be refused (the oracle can say no);
//  and our key expansion and LTHash equal whatsapp-rust-bridge's.
// Only the app-state key getter is mocked.
// Run: node --test tests/system/test_appstate_oracle.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadBaileys } from '../oracle/baileys_msg.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const testBin = join(root, 'build', 'tests', 'test_appstate');
const hex = (b) => Buffer.from(b ?? []).toString('hex');
const NAME = 'regular_high';
const CHAT = '15550001111@s.whatsapp.net';

async function loadBridge() {
  // its package.json exports only an "import" condition: load the file
  const p = join(here, 'node_modules', 'whatsapp-rust-bridge', 'dist', 'index.js');
  try {
    return existsSync(p) ? await import(pathToFileURL(p).href) : null;
  } catch (e) {
    return null;
  }
}

test('Baileys and waproc/appstate.c agree on app-state patches', async (t) => {
  if (!existsSync(testBin)) {
    t.skip('build/tests/test_appstate not built (make)');
    return;
  }
  const B = await loadBaileys();
  if (!B) {
    t.skip('baileys not installed in tests/system (npm install)');
    return;
  }
  const bridge = await loadBridge();
  const { proto } = B;
  const keyData = Buffer.from([...Array(32).keys()]);
  const keyIdB64 = Buffer.from('000000004232', 'hex').toString('base64');
  const getKey = async (id) => (id === keyIdB64 ? { keyData } : undefined);
  const dir = mkdtempSync(join(tmpdir(), 'appstate-oracle-'));
  try {
    // (b) Baileys encodes: star, then unstar of the same message.
    const star = (on) => {
      const m = B.chatModificationToAppPatch(
        { star: { messages: [{ id: '3EB0CAFE', fromMe: true }], star: on } }, CHAT);
      m.type = NAME;	// whatsmeow's collection for star (Baileys says regular_low)
      return m;
    };
    const m1 = star(true);
    const r1 = await B.encodeSyncdPatch(m1, keyIdB64, B.newLTHashState(), getKey);
    const r2 = await B.encodeSyncdPatch(star(false), keyIdB64, r1.state, getKey);
    writeFileSync(join(dir, 'b_patch1.bin'), proto.SyncdPatch.encode(r1.patch).finish());
    writeFileSync(join(dir, 'b_patch2.bin'), proto.SyncdPatch.encode(r2.patch).finish());
    writeFileSync(join(dir, 'b_hash1.hex'), hex(r1.state.hash));
    writeFileSync(join(dir, 'b_hash2.hex'), hex(r2.state.hash));
    writeFileSync(join(dir, 'b_index.txt'), JSON.stringify(m1.index));
    writeFileSync(join(dir, 'b_name.txt'), NAME);

    const r = spawnSync(testBin, ['test_oracle_dump'], {
      cwd: root, env: { ...process.env, APPSTATE_ORACLE_DIR: dir },
      encoding: 'utf8', timeout: 60000,
    });
    const lines = r.stdout.split('\n');
    const oracleOk = lines.filter((l) => /^ok \d+ - test_oracle_dump: oracle:/.test(l));
    await t.test('our decoder accepts Baileys\' star/unstar patches', () => {
      assert.equal(r.status, 0, `test_appstate failed:\n${r.stdout}${r.stderr}`);
      assert.ok(!lines.some((l) => l.startsWith('not ok')), r.stdout);
      assert.ok(oracleOk.length >= 12, `only ${oracleOk.length} oracle checks ran:\n${r.stdout}`);
    });

    // (a) Baileys decodes ours.
    const meta = JSON.parse(readFileSync(join(dir, 'c_meta.json'), 'utf8'));
    assert.equal(meta.keyData, hex(keyData));
    assert.equal(meta.collection, NAME);

    await t.test('key expansion == whatsapp-rust-bridge expandAppStateKeys', (tt) => {
      if (!bridge) { tt.skip('whatsapp-rust-bridge not found'); return; }
      const k = bridge.expandAppStateKeys(keyData);
      assert.deepEqual(meta.keys, [k.indexKey, k.valueEncryptionKey, k.valueMacKey,
        k.snapshotMacKey, k.patchMacKey].map(hex));
    });
    await t.test('LTHash == Baileys LT_HASH_ANTI_TAMPERING', () => {
      const a = Buffer.alloc(32, 0xab);
      const b = Buffer.from([...Array(32).keys()].map((i) => 32 + i));
      const h = B.LT_HASH_ANTI_TAMPERING.subtractThenAdd(new Uint8Array(128), [], [a, b]);
      assert.equal(hex(h), meta.lthashAB20);
      const back = B.LT_HASH_ANTI_TAMPERING.subtractThenAdd(h, [a, b], []);
      assert.equal(hex(back), '00'.repeat(128));
    });

    const ours = (n) => {
      const p = proto.SyncdPatch.decode(readFileSync(join(dir, `c_patch${n}.bin`)));
      assert.equal(p.version, null, 'we send no version field (as whatsmeow/Baileys)');
      p.version = { version: n };	// what chats.js does for its own patches
      return p;
    };

    await t.test('Baileys decodeSyncdPatch verifies our patch and value MACs', async () => {
      const seen = [];
      const res = await B.decodeSyncdPatch(ours(1), NAME, B.newLTHashState(), getKey,
        (m) => seen.push(m), true);
      assert.equal(seen.length, 2, 'both records passed value + index MAC checks');
      assert.deepEqual(seen.map((m) => m.index), meta.index1);
      assert.equal(hex(res.hash), meta.hash1, 'LTHash after v1');
      const sa = seen[0].syncAction;
      assert.equal(sa.version, 2);
      assert.equal(sa.value.starAction.starred, true);
      assert.equal(Number(sa.value.timestamp), 1700000000001);
      const del = seen[1].syncAction.value.deleteMessageForMeAction;
      assert.equal(sa.version, 2);
      assert.equal(seen[1].syncAction.version, 3);
      assert.equal(del.deleteMedia, false);
      assert.equal(Number(del.messageTimestamp), 1700000000);
    });

    await t.test('Baileys refuses our patch with a flipped patch MAC', async () => {
      const p = ours(1);
      p.patchMac = Buffer.from(p.patchMac);
      p.patchMac[0] ^= 1;
      await assert.rejects(B.decodeSyncdPatch(p, NAME, B.newLTHashState(), getKey,
        () => {}, true), /Invalid patch mac/);
    });

    await t.test('Baileys decodePatches: v1 then v2 (overwrite + REMOVE) reach our LTHash', async () => {
      const warns = [];
      const logger = { warn: (o, m) => warns.push(m ?? o), trace() {}, debug() {},
        info() {}, error: (o, m) => warns.push(m ?? o) };
      const s1 = await B.decodePatches(NAME, [ours(1)], B.newLTHashState(), getKey,
        undefined, undefined, logger, true);
      assert.deepEqual(warns, []);
      assert.equal(s1.state.version, 1);
      assert.equal(hex(s1.state.hash), meta.hash1);
      const s2 = await B.decodePatches(NAME, [ours(2)], s1.state, getKey,
        undefined, undefined, logger, true);
      assert.deepEqual(warns, [], 'no MAC / LTHash warnings');
      assert.equal(s2.state.version, 2);
      assert.equal(hex(s2.state.hash), meta.hash2, 'LTHash after v2');
      assert.equal(Object.keys(s2.state.indexValueMap).length, 1, 'REMOVE dropped one index');
      const unstar = s2.mutationMap[JSON.stringify(meta.index2[0])];
      assert.ok(unstar, 'unstar mutation recovered');
      assert.equal(unstar.syncAction.value.starAction.starred, false);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
