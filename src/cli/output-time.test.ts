// Times and digests in text output (CLI style rule 5): relative and short on a terminal, RFC 3339 and whole
// for scripts.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { asciiText, relativeTime, shortDigest, wantsAscii, when } from './output.ts';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const DIGEST = `sha256:${'9c21de07'.repeat(8)}`;
const forced = process.env.FIXITY_FORCE_TTY;
afterEach(() => {
  if (forced === undefined) delete process.env.FIXITY_FORCE_TTY;
  else process.env.FIXITY_FORCE_TTY = forced;
});

test('relativeTime says the past and the future in the largest fitting unit, and a date beyond two weeks', () => {
  const at = (iso: string) => relativeTime(Date.parse(iso), NOW);
  assert.equal(at('2026-12-06T11:59:58Z'), 'just now');
  assert.equal(at('2026-12-06T11:59:15Z'), '45s ago');
  assert.equal(at('2026-12-06T11:48:00Z'), '12m ago');
  assert.equal(at('2026-12-06T07:00:00Z'), '5h ago');
  assert.equal(at('2026-12-03T12:00:00Z'), '3d ago');
  assert.equal(at('2026-12-06T14:00:00Z'), 'in 2h');
  assert.equal(at('2026-11-02T09:30:00Z'), '2026-11-02');
});

test('when() and shortDigest(): relative and short on a terminal, as given elsewhere; - for no time', () => {
  process.env.FIXITY_FORCE_TTY = '1';
  assert.equal(when('2026-12-06T11:48:00Z', NOW), '12m ago');
  assert.equal(shortDigest(DIGEST), `${DIGEST.slice(0, 19)}…`);
  assert.equal(when(null, NOW), '-');
  delete process.env.FIXITY_FORCE_TTY;
  if (process.stdout.isTTY !== true) {
    assert.equal(when('2026-12-06T11:48:00Z', NOW), '2026-12-06T11:48:00Z');
    assert.equal(shortDigest(DIGEST), DIGEST);
  }
  assert.equal(when(undefined, NOW), '-');
});

test('asciiText spells the status symbols as rule 7 says; wantsAscii follows --ascii, FIXITY_ASCII and the locale', () => {
  assert.equal(asciiText('✔ ok ✘ no ◷ wait ⚠ careful → next …'), '[ok] ok [x] no [wait] wait [!] careful -> next ...');
  assert.equal(wantsAscii(['--ascii'], { LANG: 'C.UTF-8' }), true);
  assert.equal(wantsAscii([], { FIXITY_ASCII: '1', LANG: 'en_US.UTF-8' }), true);
  assert.equal(wantsAscii([], { LANG: 'en_US.UTF-8' }), false);
  assert.equal(wantsAscii([], { LC_ALL: 'C.utf8', LANG: 'C' }), false, 'LC_ALL wins over LANG');
  assert.equal(wantsAscii([], { LC_ALL: 'POSIX', LANG: 'en_US.UTF-8' }), true);
  assert.equal(wantsAscii([], {}), true, 'no locale at all is the C locale');
});
