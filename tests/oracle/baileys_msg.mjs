// baileys_msg.mjs - independent oracle for waproc's messaging building
// blocks: Baileys 7.0.0-rc14's own WAProto (protobufjs, generated from
// WhatsApp's schema) decodes the Message bytes our msg-send.c / msg-node.c
// produced, and its own binary-XML decoder decodes our stanzas.  The inputs
// are fixed in tests/unit/test_msg.c (test_oracle_dump), which writes
// <name>.bin (Message) and <name>.node (flag byte + node) into a folder:
//   MSG_ORACLE_DIR=/tmp/x build/tests/test_msg oracle
//   node tests/oracle/baileys_msg.mjs /tmp/x          (prints TAP)
// tests/system/test_msg_oracle.mjs runs both under node --test.
// Test-only: nothing here is linked into the product.
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const systemDir = join(here, '..', 'system');

export async function loadBaileys() {
  try {
    const req = createRequire(join(systemDir, 'package.json'));
    return await import(pathToFileURL(req.resolve('baileys')).href);
  } catch (e) {
    return null;
  }
}

const num = (v) => (v !== null && typeof v === 'object' && 'toNumber' in v)
  ? v.toNumber() : Number(v);
const hex = (b) => Buffer.from(b ?? []).toString('hex');
const fill = (byte, n) => Buffer.alloc(n, byte).toString('hex');

// One entry per file: what Baileys must see.  `eq` = [label, got, want].
function expectations(B) {
  const { proto, getContentType, normalizeMessageContent } = B;
  const T = proto.Message.ProtocolMessage.Type;
  const media = (m) => [
    ['url', m.url, 'https://mmg.whatsapp.net/v/t62/abc'],
    ['directPath', m.directPath, '/v/t62/abc?ccb=1'],
    ['mediaKey', hex(m.mediaKey), fill(0x11, 32)],
    ['fileSha256', hex(m.fileSha256), fill(0x22, 32)],
    ['fileEncSha256', hex(m.fileEncSha256), fill(0x33, 32)],
    ['fileLength', num(m.fileLength), 12345],
  ];
  return {
    'text.bin': (m) => {
      const e = m.extendedTextMessage, c = e.contextInfo;
      return [
        ['content type', getContentType(m), 'extendedTextMessage'],
        ['text', e.text, 'hi @6285555'],
        ['mentionedJid', JSON.stringify(c.mentionedJid),
          JSON.stringify(['6285555@s.whatsapp.net'])],
        ['stanzaId', c.stanzaId, '3EB0QUOTED'],
        ['participant', c.participant, '6281111@s.whatsapp.net'],
        ['quotedMessage', c.quotedMessage?.conversation, 'original text'],
        ['isForwarded', c.isForwarded, true],
        ['forwardingScore', c.forwardingScore, 100],
        ['expiration (chat default)', c.expiration, 604800],
      ];
    },
    'image.bin': (m) => [
      ['content type', getContentType(m), 'imageMessage'],
      ...media(m.imageMessage),
      ['mimetype', m.imageMessage.mimetype, 'image/jpeg'],
      ['caption', m.imageMessage.caption, 'cap'],
      ['viewOnce', m.imageMessage.viewOnce, true],
      ['width', m.imageMessage.width, 640],
      ['expiration', m.imageMessage.contextInfo?.expiration, 86400],
    ],
    'video.bin': (m) => [
      ['content type', getContentType(m), 'videoMessage'],
      ...media(m.videoMessage),
      ['seconds', m.videoMessage.seconds, 42],
      ['caption', m.videoMessage.caption, 'vid'],
    ],
    'audio.bin': (m) => [
      ['content type', getContentType(m), 'audioMessage'],
      ...media(m.audioMessage),
      ['ptt', m.audioMessage.ptt, true],
      ['seconds', m.audioMessage.seconds, 42],
      ['mimetype', m.audioMessage.mimetype, 'audio/ogg; codecs=opus'],
    ],
    'file.bin': (m) => [
      ['content type', getContentType(m), 'documentMessage'],
      ...media(m.documentMessage),
      ['fileName', m.documentMessage.fileName, 'report.pdf'],
      ['title', m.documentMessage.title, 'report.pdf'],
      ['caption', m.documentMessage.caption, 'doc'],
    ],
    'sticker.bin': (m) => [
      ['content type', getContentType(m), 'stickerMessage'],
      ...media(m.stickerMessage),
      ['mimetype', m.stickerMessage.mimetype, 'image/webp'],
      ['isAnimated', m.stickerMessage.isAnimated, false],
    ],
    'contact.bin': (m) => [
      ['content type', getContentType(m), 'contactMessage'],
      ['displayName', m.contactMessage.displayName, 'Ann'],
      ['vcard', m.contactMessage.vcard, 'BEGIN:VCARD\nVERSION:3.0\n' +
        'N:;Ann;;;\nFN:Ann\nTEL;type=CELL;waid=6281122:+6281122\nEND:VCARD'],
    ],
    'location.bin': (m) => [
      ['content type', getContentType(m), 'locationMessage'],
      ['degreesLatitude', m.locationMessage.degreesLatitude, -6.2],
      ['degreesLongitude', m.locationMessage.degreesLongitude, 106.816666],
      ['name', m.locationMessage.name, 'Monas'],
    ],
    'link.bin': (m) => [
      ['content type', getContentType(m), 'extendedTextMessage'],
      ['text', m.extendedTextMessage.text, 'look\nhttps://example.com/'],
      ['matchedText', m.extendedTextMessage.matchedText,
        'https://example.com/'],
      ['title', m.extendedTextMessage.title, 'Example'],
    ],
    'poll.bin': (m) => [
      ['content type', getContentType(m), 'pollCreationMessage'],
      ['name', m.pollCreationMessage.name, 'Lunch?'],
      ['options', JSON.stringify(m.pollCreationMessage.options
        .map((o) => o.optionName)), JSON.stringify(['rice', 'noodles'])],
      ['selectableOptionsCount',
        m.pollCreationMessage.selectableOptionsCount, 1],
      ['messageSecret', hex(m.messageContextInfo?.messageSecret),
        fill(0x5a, 32)],
    ],
    'reaction.bin': (m) => [
      ['content type', getContentType(m), 'reactionMessage'],
      ['text', m.reactionMessage.text, '\u{1F44D}'],
      ['key.id', m.reactionMessage.key.id, '3EB0AAAA'],
      ['key.remoteJid', m.reactionMessage.key.remoteJid,
        '6281234@s.whatsapp.net'],
      ['key.fromMe', m.reactionMessage.key.fromMe, true],
      ['senderTimestampMs', num(m.reactionMessage.senderTimestampMs),
        1700000000123],
    ],
    'revoke.bin': (m) => [
      ['content type', getContentType(m), 'protocolMessage'],
      ['type REVOKE', m.protocolMessage.type, T.REVOKE],
      ['key.id', m.protocolMessage.key.id, '3EB0AAAA'],
      ['key.fromMe', m.protocolMessage.key.fromMe, true],
    ],
    'edit.bin': (m) => {
      const p = normalizeMessageContent(m)?.protocolMessage;
      return [
        ['wrapper editedMessage', !!m.editedMessage?.message, true],
        ['type MESSAGE_EDIT', p?.type, T.MESSAGE_EDIT],
        ['edited text', p?.editedMessage?.conversation, 'fixed'],
        ['key.id', p?.key?.id, '3EB0AAAA'],
        ['timestampMs', num(p?.timestampMs), 1700000000123],
      ];
    },
    'dsm.bin': (m) => [
      ['destinationJid', m.deviceSentMessage?.destinationJid,
        '5599@s.whatsapp.net'],
      ['inner message', m.deviceSentMessage?.message?.conversation,
        'hello'],
    ],
  };
}

function nodeChecks(B) {
  const { getBinaryNodeChild, getBinaryNodeChildren } = B;
  const attr = (n, k) => (n?.attrs ?? {})[k];
  return {
    'stanza-1to1.node': (n) => {
      const parts = getBinaryNodeChildren(getBinaryNodeChild(n,
        'participants'), 'to');
      const enc1 = getBinaryNodeChild(parts[1], 'enc');
      const di = getBinaryNodeChild(n, 'device-identity');
      return [
        ['tag', n.tag, 'message'],
        ['id', attr(n, 'id'), '3EB0ABCDEF0123456789AB'],
        ['to', attr(n, 'to'), '5599@s.whatsapp.net'],
        ['type', attr(n, 'type'), 'media'],
        ['participants', parts.length, 2],
        ['device jid', attr(parts[1], 'jid'), '5599:4@s.whatsapp.net'],
        ['enc type', attr(enc1, 'type'), 'pkmsg'],
        ['enc v', attr(enc1, 'v'), '2'],
        ['enc mediatype', attr(enc1, 'mediatype'), 'image'],
        ['enc bytes', hex(enc1?.content), '33637431'],
        ['device-identity', Buffer.from(di?.content ?? []).toString(),
          'ADV'],
      ];
    },
    'stanza-group.node': (n) => {
      const sk = getBinaryNodeChildren(n, 'enc')
        .find((c) => attr(c, 'type') === 'skmsg');
      return [
        ['to', attr(n, 'to'), '120363012345678901@g.us'],
        ['phash shape', /^2:[A-Za-z0-9+/]{8}$/.test(attr(n, 'phash') ?? ''),
          true],
        ['addressing_mode', attr(n, 'addressing_mode'), 'lid'],
        ['skmsg bytes', hex(sk?.content), '33736b'],
        ['participants', getBinaryNodeChildren(getBinaryNodeChild(n,
          'participants'), 'to').length, 2],
      ];
    },
    'receipt.node': (n) => [
      ['tag', n.tag, 'receipt'],
      ['id', attr(n, 'id'), 'ABCDEF0123'],
      ['to', attr(n, 'to'), '120363012345678901@g.us'],
      ['participant', attr(n, 'participant'), '5577:1@s.whatsapp.net'],
      ['no type', attr(n, 'type'), undefined],
    ],
    'retry.node': (n) => {
      const r = getBinaryNodeChild(n, 'retry');
      return [
        ['type', attr(n, 'type'), 'retry'],
        ['retry count', attr(r, 'count'), '1'],
        ['retry id', attr(r, 'id'), 'ABCDEF0123'],
        ['retry t', attr(r, 't'), '1700000000'],
        ['retry v', attr(r, 'v'), '1'],
        ['registration', hex(getBinaryNodeChild(n, 'registration')?.content),
          '01020304'],
      ];
    },
    'ack.node': (n) => [
      ['tag', n.tag, 'ack'],
      ['class', attr(n, 'class'), 'message'],
      ['id', attr(n, 'id'), 'ABCDEF0123'],
      ['to', attr(n, 'to'), '120363012345678901@g.us'],
      ['participant', attr(n, 'participant'), '5577:1@s.whatsapp.net'],
    ],
  };
}

// Returns [{ name, ok, detail }] for every file of dir.
export async function check(dir, B) {
  B = B ?? await loadBaileys();
  if (!B) throw new Error('baileys is not installed in tests/system');
  const out = [];
  const add = (name, rows) => {
    for (const [label, got, want] of rows) {
      out.push({ name: `${name}: ${label}`, ok: Object.is(got, want) ||
        (typeof want === 'number' && Math.abs(got - want) < 1e-9),
        detail: `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}` });
    }
  };
  for (const [file, fn] of Object.entries(expectations(B))) {
    const path = join(dir, file);
    if (!existsSync(path)) {
      out.push({ name: file, ok: false, detail: 'missing' });
      continue;
    }
    let m;
    try {
      m = B.proto.Message.decode(readFileSync(path));
    } catch (e) {
      out.push({ name: `${file}: decodes`, ok: false, detail: e.message });
      continue;
    }
    try {
      add(file, fn(m));
    } catch (e) {
      out.push({ name: `${file}: fields`, ok: false, detail: e.message });
    }
  }
  for (const [file, fn] of Object.entries(nodeChecks(B))) {
    const path = join(dir, file);
    if (!existsSync(path)) {
      out.push({ name: file, ok: false, detail: 'missing' });
      continue;
    }
    try {
      add(file, fn(await B.decodeBinaryNode(readFileSync(path))));
    } catch (e) {
      out.push({ name: `${file}: decodes`, ok: false, detail: e.message });
    }
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node baileys_msg.mjs DIR');
    process.exit(2);
  }
  const res = await check(dir);
  let n = 0, bad = 0;
  for (const r of res) {
    n++;
    if (!r.ok) bad++;
    console.log(`${r.ok ? 'ok' : 'not ok'} ${n} - ${r.name}` +
      (r.ok ? '' : `\n#   ${r.detail}`));
  }
  console.log(`1..${n}`);
  process.exit(bad ? 1 : 0);
}
