import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type CredentialSources, chooseServer, chooseToken, serverWithOrigin } from './context.ts';
import { findProjectFile } from './project-file.ts';

const sources = (over: Partial<CredentialSources> = {}): CredentialSources => ({
  flags: {},
  env: {},
  dataDir: { server: null, adminToken: null },
  saved: { current: null, hosts: {} },
  ...over,
});

describe('chooseServer() and chooseToken()', () => {
  test('the server: --server, FIXITY_SERVER, the data dir, the last login, then the local default', () => {
    const saved = { current: 'https://remote.example', hosts: {} };
    const dataDir = { server: 'http://127.0.0.1:9001/', adminToken: null };
    assert.equal(chooseServer(sources()), 'http://127.0.0.1:7070');
    assert.equal(chooseServer(sources({ saved })), 'https://remote.example');
    assert.equal(chooseServer(sources({ saved, dataDir })), 'http://127.0.0.1:9001');
    assert.equal(chooseServer(sources({ saved, dataDir, env: { FIXITY_SERVER: 'http://b:1' } })), 'http://b:1');
    assert.equal(
      chooseServer(
        sources({ saved, dataDir, env: { FIXITY_SERVER: 'http://b:1' }, flags: { server: 'http://a:2/x/' } }),
      ),
      'http://a:2/x',
    );
  });

  test('the token: --token, FIXITY_TOKEN, the one saved for that server, then the data dir admin token', () => {
    const saved = { current: null, hosts: { 'https://remote.example': { token: 'saved', user: 'u', savedAt: '' } } };
    const dataDir = { server: 'http://127.0.0.1:9001', adminToken: 'local-admin' };
    const all = sources({ saved, dataDir, env: { FIXITY_TOKEN: 'env' }, flags: { token: 'flag' } });
    assert.equal(chooseToken(all, 'https://remote.example'), 'flag');
    assert.equal(chooseToken({ ...all, flags: {} }, 'https://remote.example'), 'env');
    assert.equal(chooseToken(sources({ saved, dataDir }), 'https://remote.example'), 'saved');
    assert.equal(chooseToken(sources({ saved, dataDir }), 'http://127.0.0.1:9001'), 'local-admin');
  });

  test('a data dir admin token goes only to that data dir server or one on this machine', () => {
    const dataDir = { server: 'https://fixity.internal:7070', adminToken: 'local-admin' };
    assert.equal(chooseToken(sources({ dataDir }), 'https://fixity.internal:7070'), 'local-admin', 'its own server');
    for (const local of ['http://127.0.0.1:7070', 'http://localhost:8080', 'http://[::1]:7070'])
      assert.equal(chooseToken(sources({ dataDir }), local), 'local-admin', local);
    for (const remote of ['https://remote.example', 'http://10.0.0.5:7070', 'http://127.0.0.1.evil.example'])
      assert.equal(chooseToken(sources({ dataDir }), remote), null, remote);
  });
});

describe('the project file (.fixity.yaml)', () => {
  test('its server comes after flags, env and the data dir, and before the last login', () => {
    const saved = { current: 'https://last-login.example', hosts: {} };
    const project = { path: '/repo/.fixity.yaml', server: 'https://team.example' };
    assert.deepEqual(serverWithOrigin(sources({ saved, project })), {
      value: 'https://team.example',
      origin: 'project',
    });
    assert.equal(chooseServer(sources({ saved })), 'https://last-login.example');
    assert.equal(chooseServer(sources({ saved, project, env: { FIXITY_SERVER: 'http://env:1' } })), 'http://env:1');
    const dataDir = { server: 'http://127.0.0.1:9001', adminToken: null };
    assert.equal(chooseServer(sources({ saved, project, dataDir })), 'http://127.0.0.1:9001');
  });

  test('its context names a saved login', () => {
    const saved = {
      current: null,
      hosts: { 'https://prod.example': { token: 't', user: 'u', savedAt: '', name: 'prod' } },
    } as unknown as CredentialSources['saved'];
    const project = { path: '/repo/.fixity.yaml', context: 'prod' };
    assert.deepEqual(serverWithOrigin(sources({ saved, project })), {
      value: 'https://prod.example',
      origin: 'project',
    });
    const stale = { path: '/repo/.fixity.yaml', context: 'gone' };
    assert.equal(chooseServer(sources({ saved, project: stale, flags: { server: 'http://a:1' } })), 'http://a:1');
    assert.throws(() => chooseServer(sources({ saved, project: stale })), /No context "gone"/);
  });

  test('found from any directory below it; a token, an unknown key or a bad URL in it is a usage error', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fixity-project-'));
    try {
      await mkdir(join(root, 'a', 'b'), { recursive: true });
      assert.equal(findProjectFile(join(root, 'a', 'b'))?.server ?? null, null);
      await writeFile(join(root, '.fixity.yaml'), 'server: https://team.example\n');
      assert.deepEqual(findProjectFile(join(root, 'a', 'b')), {
        path: join(root, '.fixity.yaml'),
        server: 'https://team.example',
        context: undefined,
      });
      for (const [text, message] of [
        ['server: https://x.example\ntoken: fxt_abc\n', /holds a token/],
        ['sever: https://x.example\n', /unknown key "sever"/],
        ['server: not a url\n', /server must be a URL/],
        ['- server\n', /not a mapping/],
      ] as const) {
        await writeFile(join(root, '.fixity.yaml'), text);
        assert.throws(
          () => findProjectFile(join(root, 'a')),
          (err: Error) => message.test(err.message),
          text,
        );
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
