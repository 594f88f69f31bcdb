import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CredentialSources, chooseServer, chooseToken } from './context.ts';

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
