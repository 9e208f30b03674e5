// test_msg_oracle.mjs - Baileys 7.0.0-rc14 as an independent oracle for
// waproc's messaging building blocks: build/tests/test_msg writes the
// Message bytes and stanzas our code makes for fixed inputs
// (MSG_ORACLE_DIR), and tests/oracle/baileys_msg.mjs decodes them with
// Baileys' own WAProto and binary decoder and checks every field.
// Run: node --test tests/system/test_msg_oracle.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, loadBaileys } from '../oracle/baileys_msg.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const testMsg = join(root, 'build', 'tests', 'test_msg');

test('Baileys decodes what msg-send / msg-node produce', async (t) => {
  if (!existsSync(testMsg)) {
    t.skip('build/tests/test_msg not built (make)');
    return;
  }
  const B = await loadBaileys();
  if (!B) {
    t.skip('baileys not installed in tests/system (npm install)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'msg-oracle-'));
  try {
    const r = spawnSync(testMsg, ['test_oracle_dump'], {
      cwd: root, env: { ...process.env, MSG_ORACLE_DIR: dir },
      encoding: 'utf8', timeout: 60000,
    });
    assert.equal(r.status, 0, `test_msg oracle dump failed:\n${r.stdout}`);
    const res = await check(dir, B);
    assert.ok(res.length > 100, `only ${res.length} checks ran`);
    for (const c of res) {
      await t.test(c.name, () => assert.ok(c.ok, c.detail));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
