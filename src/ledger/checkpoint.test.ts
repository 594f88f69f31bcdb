import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Signer } from '../core/index.ts';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, signCheckpoint } from './checkpoint.ts';
import { LedgerError } from './ledger-error.ts';
import { leafHash } from './merkle.ts';
import { parseNote, rekorKeyHint } from './note.ts';

const ORIGIN = 'fixity.example/log';
const ROOT = leafHash(Buffer.from('root'));
const hasCode = (code: string) => (e: unknown) => e instanceof LedgerError && e.code === code;

function keySigner(type: 'ec' | 'ed25519'): Signer {
  const { publicKey, privateKey } =
    type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    keyId: createHash('sha256').update(spki).digest('hex'),
    algorithm: type === 'ec' ? 'ecdsa-p256-sha256' : 'ed25519',
    publicKey,
    sign: async (data) => sign(type === 'ec' ? 'sha256' : null, data, privateKey),
  };
}
const spkiOf = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });

describe('checkpoint text', () => {
  test('formatCheckpoint() writes origin, size and base64 root, one per line', () => {
    const text = formatCheckpoint({ origin: ORIGIN, size: 20852163, root: ROOT });
    assert.equal(text, `${ORIGIN}\n20852163\n${ROOT.toString('base64')}\n`);
  });

  test('parseCheckpoint() round-trips formatCheckpoint() including extension lines', () => {
    fc.assert(
      fc.property(
        fc.maxSafeNat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.stringMatching(/^[a-z0-9 ]{1,10}$/), { maxLength: 3 }),
        (size, root, extensions) => {
          const cp = { origin: ORIGIN, size, root: Buffer.from(root), extensions };
          assert.deepEqual(parseCheckpoint(formatCheckpoint(cp)), cp);
        },
      ),
    );
  });

  test('parseCheckpoint() rejects malformed checkpoints', () => {
    const r = ROOT.toString('base64');
    const bad = [
      `${ORIGIN}\n1\n${r}`, // no final newline
      `\n1\n${r}\n`, // empty origin
      `${ORIGIN}\n01\n${r}\n`, // leading zero
      `${ORIGIN}\n-1\n${r}\n`,
      `${ORIGIN}\n+1\n${r}\n`,
      `${ORIGIN}\n1.0\n${r}\n`,
      `${ORIGIN}\n9007199254740992\n${r}\n`, // beyond 2^53 - 1
      `${ORIGIN}\n1\n${r.slice(0, -2)}=\n`, // not 32 bytes
      `${ORIGIN}\n1\n${Buffer.alloc(33).toString('base64')}\n`,
      `${ORIGIN}\n1\n${r.slice(0, 42)}B=\n`, // non-canonical padding bits
      `${ORIGIN}\n1\n${r}\n\n`, // empty extension line
      `${ORIGIN}\n1\n`,
    ];
    for (const text of bad) assert.throws(() => parseCheckpoint(text), hasCode('CHECKPOINT_INVALID'), text);
  });

  test('formatCheckpoint() rejects an origin with a newline, a bad size or a short root', () => {
    for (const cp of [
      { origin: 'a\nb', size: 1, root: ROOT },
      { origin: '', size: 1, root: ROOT },
      { origin: ORIGIN, size: -1, root: ROOT },
      { origin: ORIGIN, size: 1.5, root: ROOT },
      { origin: ORIGIN, size: 1, root: ROOT.subarray(1) },
      { origin: ORIGIN, size: 1, root: ROOT, extensions: [''] },
    ]) {
      assert.throws(() => formatCheckpoint(cp), hasCode('CHECKPOINT_INVALID'));
    }
  });
});

describe('signed checkpoints', () => {
  for (const type of ['ec', 'ed25519'] as const) {
    test(`openCheckpoint() returns what signCheckpoint() signed with a ${type} key`, async () => {
      const signer = keySigner(type);
      const note = await signCheckpoint({ size: 42, root: ROOT }, signer, ORIGIN);
      assert.deepEqual(openCheckpoint(note, signer.publicKey, ORIGIN), {
        origin: ORIGIN,
        size: 42,
        root: ROOT,
        extensions: [],
      });
    });
  }

  test('signCheckpoint() uses the origin as key name and SHA-256(SPKI)[0:4] as key ID', async () => {
    const signer = keySigner('ec');
    const { text, signatures } = parseNote(
      await signCheckpoint({ origin: ORIGIN, size: 0, root: ROOT }, signer, ORIGIN),
    );
    assert.equal(text, formatCheckpoint({ origin: ORIGIN, size: 0, root: ROOT }));
    assert.equal(signatures.length, 1);
    assert.equal(signatures[0]!.name, ORIGIN);
    assert.deepEqual(signatures[0]!.keyHint, rekorKeyHint(spkiOf(signer.publicKey)));
  });

  test('signCheckpoint() rejects a checkpoint of another origin', async () => {
    await assert.rejects(
      signCheckpoint({ origin: 'other.example', size: 1, root: ROOT }, keySigner('ec'), ORIGIN),
      hasCode('CHECKPOINT_INVALID'),
    );
  });

  test('openCheckpoint() rejects a wrong key, another origin and an altered size or root', async () => {
    const signer = keySigner('ec');
    const note = await signCheckpoint({ size: 42, root: ROOT }, signer, ORIGIN);
    assert.throws(() => openCheckpoint(note, keySigner('ec').publicKey, ORIGIN), hasCode('NOTE_UNVERIFIED'));
    assert.throws(() => openCheckpoint(note, signer.publicKey, 'other.example'), hasCode('NOTE_UNVERIFIED'));
    const resized = note.replace('\n42\n', '\n43\n');
    assert.throws(() => openCheckpoint(resized, signer.publicKey, ORIGIN), hasCode('NOTE_SIGNATURE_INVALID'));
    const other = leafHash(Buffer.from('other')).toString('base64');
    const rerooted = note.replace(ROOT.toString('base64'), other);
    assert.throws(() => openCheckpoint(rerooted, signer.publicKey, ORIGIN), hasCode('NOTE_SIGNATURE_INVALID'));
  });

  test('openCheckpoint() rejects a validly signed note whose origin line differs from the key name', async () => {
    const signer = keySigner('ec');
    const text = formatCheckpoint({ origin: 'other.example', size: 1, root: ROOT });
    const sig = await signer.sign(Buffer.from(text));
    const hint = rekorKeyHint(spkiOf(signer.publicKey));
    const note = `${text}\n— ${ORIGIN} ${Buffer.concat([hint, sig]).toString('base64')}\n`;
    assert.throws(() => openCheckpoint(note, signer.publicKey, ORIGIN), hasCode('CHECKPOINT_INVALID'));
  });
});
