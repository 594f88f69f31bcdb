// The dashboard at `/`, in a real browser (headless Chromium) against a running `fixity serve`: with a token
// from the URL fragment it draws the pipeline's stages with the digests promoted into them and each
// environment's services; without one it asks for a token, and a refused token says so. The page runs under
// a Content-Security-Policy that admits only its own script, which the rendering itself proves.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aliasOf } from '../src/core/index.ts';
import { makeImage, pushImage } from './e2e/registry-client.ts';
import { renderedDOM } from './support/browser.ts';
import { testDatabases } from './support/databases.ts';
import { json } from './support/deploy-kit.ts';
import { type ServerProcess, startServerProcess, tempDir } from './support/server-process.ts';

const PIPELINE = 'name: app\nstages:\n  - name: build\n  - name: staging\n    from: [build]\n    protected: true\n';

for (const makeDatabase of await testDatabases()) {
  const database = await makeDatabase();
  describe(`the dashboard (${database.name})`, { timeout: 180_000 }, () => {
    let server: ServerProcess;
    let dir: string;
    let digest: string;

    before(async () => {
      server = await startServerProcess({ database });
      dir = await tempDir('fixity-dashboard-');
      const cli = (args: string[]) => server.cli(args, { env: { FIXITY_CONFIG_DIR: join(dir, 'config') } });
      const image = makeImage('dashboard');
      digest = image.digest;
      assert.equal((await pushImage({ url: server.url, auth: server.auth() }, 'app', '1.0.0', image)).status, 201);
      await writeFile(join(dir, 'pipeline.yaml'), PIPELINE);
      json(await cli(['pipeline', 'apply', join(dir, 'pipeline.yaml'), '--json']), 'pipeline');
      const ref = `${server.host}/app@${digest}`;
      json(await cli(['promote', ref, '--to', 'build', '--json']), 'promote build');
      json(await cli(['promote', ref, '--to', 'staging', '--yes', '-m', 'QA done', '--json']), 'promote staging');
      await writeFile(
        join(dir, 'env.yaml'),
        `apiVersion: fixity.dev/v1\nkind: Environment\nname: live\nstage: staging\nservices:\n  - name: web\n    image: { repository: app, digest: "${digest}" }\n`,
      );
      json(await cli(['env', 'apply', join(dir, 'env.yaml'), '--json']), 'env apply');
      json(await cli(['hold', 'staging', '--reason', 'freeze <b>for</b> the audit', '--json']), 'hold');
    });
    after(async () => {
      if (server === undefined) await database.cleanup();
      else await server.cleanup();
    });

    test('GET / sends the page under a policy that admits only its own script', async () => {
      const res = await fetch(`${server.url}/`);
      assert.equal(res.status, 200);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]{44}'/);
      assert.match(csp, /connect-src 'self'/);
      assert.match(csp, /default-src 'none'/);
      assert.match(await res.text(), /<title>Fixity<\/title>/);
    });

    test('with a token it draws the stages, their digests and the environments', () => {
      const dom = renderedDOM(`${server.url}/#token=${server.token}`, join(dir, 'profile-a'));
      assert.match(dom, /<main id="main">/, 'the main view shows');
      assert.match(dom, /<form id="login" hidden="">/, 'the token form is hidden');
      for (const stage of ['build', 'staging']) {
        const card = new RegExp(`data-stage="${stage}"[\\s\\S]*?data-digest="${digest}"`);
        assert.match(dom, card, `${stage} holds the digest`);
      }
      assert.match(dom, /data-stage="staging"><h3>staging<\/h3><small>protected<\/small>/);
      assert.ok(dom.includes(`${digest.slice(7, 19)} ${aliasOf(digest)}`), 'a digest is shown with its alias');
      assert.match(dom, /title="[^"]*QA done"/, "the promotion's reason is in its tooltip");
      // The hold's reason is shown as text: its markup is escaped, not rendered.
      assert.match(dom, /data-held="true">on hold: freeze &lt;b&gt;for&lt;\/b&gt; the audit \(admin#[^)]+\)</);
      assert.match(dom, /data-env="live"[\s\S]*data-service="web"[\s\S]*not deployed yet/);
      // The ledger: its size, and its newest entries as a timeline, newest first.
      const size = Number(/<p class="summary" data-size="(\d+)">/.exec(dom)?.[1]);
      assert.ok(size >= 4, 'push, two promotions, the environment and the hold are in the ledger');
      const indexes = [...dom.matchAll(/<li data-index="(\d+)" data-event="([^"]+)"/g)].map((m) => Number(m[1]));
      assert.equal(indexes[0], size - 1, 'the newest entry first');
      assert.deepEqual(
        indexes,
        indexes.toSorted((a, b) => b - a),
      );
      assert.match(dom, /data-event="[^"]*promot[^"]*"/, 'a promotion is on the timeline');
      assert.ok(!dom.includes(server.token), 'the token is not in the page');
    });

    test('without a token it asks for one; a refused token says so', () => {
      const ask = renderedDOM(`${server.url}/`, join(dir, 'profile-b'));
      assert.match(ask, /<form id="login">/);
      assert.match(ask, /<main id="main" hidden="">/);
      const refused = renderedDOM(`${server.url}/#token=not-a-token`, join(dir, 'profile-c'));
      assert.match(refused, /That token was refused\./);
    });

    test('GET /api/v1/ledger/entries lists the newest entries first, at most ?last', async () => {
      const get = async (path: string) =>
        (await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${server.token}` } })).json();
      const ledger = (await get('/ledger')) as { size: number };
      const list = (await get('/ledger/entries?last=3')) as {
        kind: string;
        size: number;
        items: Array<{ index: number; entry: { time?: string } }>;
      };
      assert.equal(list.kind, 'LedgerEntryList');
      assert.ok(list.size >= ledger.size);
      assert.deepEqual(
        list.items.map((i) => i.index),
        [list.size - 1, list.size - 2, list.size - 3],
      );
      const anonymous = await fetch(`${server.url}/api/v1/ledger/entries`);
      assert.equal(anonymous.status, 401);
    });

    test('GET /api/v1/promotions lists the promotions of a stage', async () => {
      const res = await fetch(`${server.url}/api/v1/promotions?stage=staging`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      const body = (await res.json()) as { kind: string; items: Array<{ digest: string; reason: string | null }> };
      assert.equal(body.kind, 'PromotionList');
      assert.deepEqual(
        body.items.map((p) => [p.digest, p.reason]),
        [[digest, 'QA done']],
      );
    });
  });
}
