import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Signer } from '../core/index.ts';
import { LedgerError } from './ledger-error.ts';
import {
  ed25519NoteVerifier,
  type NoteVerifier,
  noteKeyHint,
  parseNote,
  parseVkey,
  rekorKeyHint,
  SIG_TYPE,
  signNote,
  verifyNote,
  vkeyOf,
} from './note.ts';

// The official example of C2SP signed-note v1.0.0 (research §5.4).
const VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const TEXT = 'This is an example message.\n';
const SIG_LINE =
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
const NOTE = `${TEXT}\n${SIG_LINE}`;

const hasCode = (code: string) => (e: unknown) => e instanceof LedgerError && e.code === code;

function ed25519Key(name: string): { signer: Signer; verifier: NoteVerifier; hint: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'jwk' }).x!;
  const hint = noteKeyHint(name, SIG_TYPE.ed25519, Buffer.from(raw, 'base64url'));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const signer: Signer = {
    keyId: createHash('sha256').update(spki).digest('hex'),
    algorithm: 'ed25519',
    publicKey,
    sign: async (data) => sign(null, data, privateKey),
  };
  return { signer, hint, verifier: { name, keyHint: hint, verify: (t, s) => verify(null, t, publicKey, s) } };
}

describe('signed notes', () => {
  test('verifyNote() accepts the official Ed25519 example', () => {
    assert.equal(verifyNote(NOTE, [ed25519NoteVerifier(VKEY)]), TEXT);
    assert.equal(verifyNote(Buffer.from(NOTE), [ed25519NoteVerifier(VKEY)]), TEXT);
  });

  test('parseVkey() and vkeyOf() round-trip the official vkey and derive its key ID', () => {
    const k = parseVkey(VKEY);
    assert.equal(k.name, 'example.com/foo');
    assert.equal(k.sigType, SIG_TYPE.ed25519);
    assert.equal(k.keyHint.toString('hex'), '530d903a');
    assert.deepEqual(noteKeyHint(k.name, k.sigType, k.publicKey), k.keyHint);
    assert.equal(vkeyOf(k.name, k.sigType, k.publicKey), VKEY);
  });

  test('parseVkey() rejects a wrong key ID, name or encoding', () => {
    for (const bad of [
      VKEY.replace('530d903a', '530d903b'),
      VKEY.replace('example.com/foo', 'example.com/bar'),
      VKEY.replace('+530d903a', '+530D903A'),
      'example.com/foo+530d903a',
      'example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k',
      `${VKEY}!`,
    ]) {
      assert.throws(() => parseVkey(bad), hasCode('KEY_INVALID'), bad);
    }
  });

  test('verifyNote() rejects a tampered text or signature', () => {
    const key = [ed25519NoteVerifier(VKEY)];
    assert.throws(() => verifyNote(NOTE.replace('example', 'Example'), key), hasCode('NOTE_SIGNATURE_INVALID'));
    const flipped = NOTE.replace('Uw2QOkn8', 'Uw2QOkn9');
    assert.throws(() => verifyNote(flipped, key), hasCode('NOTE_SIGNATURE_INVALID'));
  });

  test('verifyNote() ignores unknown keys but fails when no known key signed', () => {
    const other = ed25519Key('example.com/other');
    const key = [ed25519NoteVerifier(VKEY)];
    const extra = `${NOTE}— example.com/other ${Buffer.alloc(68, 1).toString('base64')}\n`;
    assert.equal(verifyNote(extra, key), TEXT);
    assert.throws(() => verifyNote(NOTE, [other.verifier]), hasCode('NOTE_UNVERIFIED'));
    // Same name, different key ID: a different key, so ignored.
    const sameName = { ...other.verifier, name: 'example.com/foo' };
    assert.throws(() => verifyNote(NOTE, [sameName]), hasCode('NOTE_UNVERIFIED'));
  });

  test('signNote() output verifies, parses back and rejects a second known key that signed wrongly', async () => {
    const a = ed25519Key('log.example/a');
    const b = ed25519Key('log.example/b');
    const text = 'hello\n\nworld\n';
    const note = await signNote(text, 'log.example/a', a.hint, a.signer);
    assert.equal(verifyNote(note, [a.verifier]), text);
    const parsed = parseNote(note);
    assert.equal(parsed.text, text);
    assert.deepEqual(parsed.signatures[0]?.keyHint, a.hint);
    const forged = `${note}— log.example/b ${Buffer.concat([b.hint, Buffer.alloc(64)]).toString('base64')}\n`;
    assert.throws(() => verifyNote(forged, [a.verifier, b.verifier]), hasCode('NOTE_SIGNATURE_INVALID'));
  });

  test('signNote() rejects text without a final newline and bad key names', async () => {
    const a = ed25519Key('a');
    await assert.rejects(signNote('no newline', 'a', a.hint, a.signer), hasCode('NOTE_INVALID'));
    await assert.rejects(signNote('x\n', 'a b', a.hint, a.signer), hasCode('KEY_INVALID'));
    await assert.rejects(signNote('x\n', 'a+b', a.hint, a.signer), hasCode('KEY_INVALID'));
    await assert.rejects(signNote('x\n', 'a', a.hint.subarray(1), a.signer), hasCode('KEY_INVALID'));
  });

  test('parseNote() rejects malformed notes', () => {
    const sig = SIG_LINE.slice(0, -1);
    const bad = [
      TEXT, // no signatures
      `${TEXT}${SIG_LINE}`, // no blank line
      `${TEXT}\n${sig}`, // no final newline
      `${TEXT}\n`, // empty signature block
      `${TEXT}\n- example.com/foo AAAAAAA=\n`, // hyphen, not em dash
      `${TEXT}\n— example.com/foo\n`, // no signature
      `${TEXT}\n—  Uw2QOkn8\n`, // empty name
      `${TEXT}\n— example.com/foo Uw2QOkn8*\n`, // not base64
      `${TEXT}\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM\n`,
      `${TEXT}\n— example.com/foo AAAAAA==\n`, // 4 bytes: no signature after the key ID
      `${TEXT}\n— example.com/foo AAAAAAA= extra\n`,
      `${TEXT}\n${SIG_LINE}\n`, // trailing blank line
      `This\tis\n\n${SIG_LINE}`, // control character
      `This\ris\n\n${SIG_LINE}`,
      `\uD800\n\n${SIG_LINE}`, // lone surrogate
      `${TEXT}\n${SIG_LINE.repeat(101)}`, // too many signatures
    ];
    for (const note of bad) assert.throws(() => parseNote(note), hasCode('NOTE_INVALID'), JSON.stringify(note));
    assert.throws(() => parseNote(Buffer.from([0x61, 0xff, 0x0a, 0x0a])), hasCode('NOTE_INVALID'));
    assert.equal(parseNote(`${TEXT}\n${SIG_LINE.repeat(100)}`).signatures.length, 100);
  });

  test('parseNote() never throws anything but NOTE_INVALID on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.constantFrom('', '\n\n— a ', '\n\n— a AAAAAAA=\n'), (s, tail) => {
        try {
          parseNote(s + tail);
        } catch (e) {
          assert.ok(hasCode('NOTE_INVALID')(e));
        }
      }),
    );
  });

  test('rekorKeyHint() is the first 4 bytes of SHA-256 of the SPKI DER', () => {
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    assert.deepEqual(rekorKeyHint(spki), createHash('sha256').update(spki).digest().subarray(0, 4));
  });
});
