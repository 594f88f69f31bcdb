// A digest as an address (CLI style rule 2) against a running `fixity serve`: commands that take an image
// reference also take its digest or an unambiguous prefix of one; a prefix that matches several images is a
// usage error listing them, one that matches none says so, and images a token may not pull are never shown.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { aliasOf } from '../src/core/index.ts';
import { type Image, makeImage, pushImage } from './e2e/registry-client.ts';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess } from './support/server-process.ts';

const hex = (image: Image) => image.digest.slice('sha256:'.length);

// Two test images whose digests share their first 4 hex digits (and differ at the 5th), found by trying seeds.
function twoAlike(): [Image, Image] {
  const seen = new Map<string, Image>();
  for (let i = 0; ; i++) {
    const image = makeImage(`alike-${i}`);
    const other = seen.get(hex(image).slice(0, 4));
    if (other !== undefined && hex(other)[4] !== hex(image)[4]) return [other, image];
    seen.set(hex(image).slice(0, 4), image);
  }
}

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`digests and digest prefixes as addresses (${database.name})`, { timeout: 120_000 }, () => {
    let server: ServerProcess;
    const [app, other] = twoAlike();
    const status = (address: string) => server.cli(['status', address, '--json']);
    // Errors as people see them (with --json they come as a JSON object on stderr).
    const statusText = (address: string) => server.cli(['status', address]);

    before(async () => {
      server = await startServerProcess({ database });
      const registry = { url: server.url, auth: server.auth() };
      assert.equal((await pushImage(registry, 'app', '1.0.0', app)).status, 201);
      assert.equal((await pushImage(registry, 'other', '2.0.0', other)).status, 201);
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('a full digest, with or without sha256:, and a unique prefix each name the image', async () => {
      for (const address of [app.digest, hex(app), hex(app).slice(0, 12)]) {
        const shown = json<{ repository: string; digest: string }>(await status(address), address);
        assert.equal(shown.repository, 'app', address);
        assert.equal(shown.digest, app.digest, address);
      }
      const reference = json<{ digest: string }>(await status(`${server.host}/other:2.0.0`), 'a reference still works');
      assert.equal(reference.digest, other.digest);
    });

    test('a prefix matching two images is a usage error that lists both and a prefix that would do', async () => {
      const shared = hex(app).slice(0, 4);
      const r = await statusText(shared);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`"${shared}" matches 2 digests`));
      assert.match(r.stderr, new RegExp(`${app.digest.slice(0, 19)}….*app:1\\.0\\.0`));
      assert.match(r.stderr, new RegExp(`${other.digest.slice(0, 19)}….*other:2\\.0\\.0`));
      const suggested = /use more characters, e\.g\. ([0-9a-f]+)/.exec(r.stderr)?.[1];
      assert.ok(suggested !== undefined && suggested.length === 5, r.stderr);
      assert.equal(json<{ digest: string }>(await status(suggested), 'the suggestion').digest.slice(7, 12), suggested);
    });

    test('a prefix that matches nothing fails and says so; too short or not hex is a reference', async () => {
      const unused = ['0000', '1111', 'aaaa', 'ffff'].find(
        (p) => !hex(app).startsWith(p) && !hex(other).startsWith(p),
      )!;
      const none = await statusText(unused);
      assert.equal(none.code, 1, none.stderr);
      assert.match(none.stderr, new RegExp(`Cannot find an image whose digest starts with "${unused}"`));
      const short = await status(hex(app).slice(0, 3));
      assert.notEqual(short.code, 0, 'three digits are not an address');
    });

    test('an alias names its image; two images sharing one are listed; the text output shows aliases', async () => {
      const third = makeImage('alias-third');
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'app', '3.0.0', third)).status, 201);
      const own = aliasOf(third.digest)!;
      // The images are made from fixed seeds, so their digests (and aliases) are the same in every run.
      assert.notEqual(own, aliasOf(app.digest), 'the third image has an alias of its own');
      const shown = json<{ digest: string }>(await status(own), own);
      assert.equal(shown.digest, third.digest);
      const shared = aliasOf(app.digest)!;
      assert.equal(shared, aliasOf(other.digest), 'the same first 4 hex digits, the same alias');
      const r = await statusText(shared);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`"${shared}" matches 2 digests`));
      assert.match(r.stderr, /use more characters, e\.g\. [0-9a-f]{5}/);
      const human = await statusText(hex(app).slice(0, 12));
      assert.match(human.stdout, new RegExp(`📦 .*/app@${app.digest} \\(${shared}\\)`));
      const none = await statusText('able-aardvark');
      assert.ok(![app, other, third].some((i) => hex(i).startsWith('0000')), 'no image is able-aardvark');
      assert.equal(none.code, 1);
      assert.match(none.stderr, /Cannot find an image with the alias able-aardvark/);
    });

    test('a token that may pull only one repository sees only its images', async () => {
      const created = json<{ secret: string }>(
        await server.cli(['token', 'create', '--name', 'only-other', '--scope', 'pull', '--repo', 'other', '--json']),
        'token create',
      );
      const as = (address: string) =>
        server.cli(['status', address, '--json', '--server', server.url, '--token', created.secret], { bare: true });
      const mine = await as(hex(app).slice(0, 4));
      assert.equal(mine.code, 0, mine.stderr);
      assert.equal(JSON.parse(mine.stdout).digest, other.digest, 'the shared prefix names the one image it may see');
      const hidden = await as(hex(app).slice(0, 12));
      assert.equal(hidden.code, 1, hidden.stderr);
      assert.match(hidden.stderr, /among the repositories you may pull/);
    });
  });
}
