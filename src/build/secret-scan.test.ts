import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EvidenceError } from './evidence-error.ts';
import { PATTERN_RULES } from './secret-rules.ts';
import {
  cleanKey,
  createSecretScanner,
  formatFindings,
  SECRET_RULES,
  type SecretFinding,
  scanForSecrets,
} from './secret-scan.ts';

// Fake secrets are built at run time from split prefixes and hashed bodies, so this file holds none literally.
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64 = `${ALNUM}+/`;
function fake(length: number, seed: string, alphabet = ALNUM): string {
  let out = '';
  for (let i = 0; out.length < length; i++) {
    for (const byte of createHash('sha256').update(`${seed}:${i}`).digest()) {
      if (out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}
const BEGIN = (kind: string) => `-----BEGIN ${kind}PRIVATE ${'KEY-----'}`;
const END = (kind: string) => `-----END ${kind}PRIVATE ${'KEY-----'}`;
const pemBody = (seed: string) => (fake(256, seed, BASE64).match(/.{1,64}/g) ?? []).join('\n');

const SECRETS = {
  pemRSA: `${BEGIN('RSA ')}\n${pemBody('rsa')}\n${END('RSA ')}`,
  pemOpenSSH: `${BEGIN('OPENSSH ')}\n${pemBody('ssh')}\n${END('OPENSSH ')}`,
  pemEncrypted: `${BEGIN('RSA ')}\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${fake(32, 'iv', '0123456789ABCDEF')}\n\n${pemBody('enc')}\n${END('RSA ')}`,
  awsKeyId: `${'AK'}IA${fake(16, 'aws-id', UPPER)}`,
  awsSecret: fake(40, 'aws-secret', BASE64),
  github: `${'gh'}p_${fake(36, 'gh')}`,
  githubFine: `${'github'}_pat_${fake(22, 'ghf1')}_${fake(59, 'ghf2')}`,
  gitlab: `${'gl'}pat-${fake(20, 'gl')}`,
  slack: `${'xo'}xb-${fake(12, 's1', '0123456789')}-${fake(13, 's2', '0123456789')}-${fake(24, 's3')}`,
  slackHook: `https://hooks.${'slack'}.com/services/T${fake(8, 'w1', UPPER)}/B${fake(8, 'w2', UPPER)}/${fake(24, 'w3')}`,
  stripe: `${'sk'}_live_${fake(24, 'stripe')}`,
  google: `${'AI'}za${fake(35, 'google')}`,
  npm: `${'np'}m_${fake(36, 'npm')}`,
  envValue: fake(32, 'env'),
};

const root = await mkdtemp(join(tmpdir(), 'fixity-secrets-'));
after(() => rm(root, { recursive: true, force: true }));

let staged = 0;
async function stage(files: Record<string, string | Uint8Array>) {
  const dir = join(root, String(staged++));
  return Promise.all(
    Object.entries(files).map(async ([path, content]) => {
      const source = join(dir, path);
      await mkdir(dirname(source), { recursive: true });
      await writeFile(source, content);
      return { path, source, size: typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength };
    }),
  );
}

/** Asserts that no finding, nor their rendering, carries any secret or the first 8 characters of one. */
function assertNoSecretText(findings: SecretFinding[]): void {
  const rendered = `${JSON.stringify(findings)}\n${formatFindings(findings)}`;
  for (const secret of Object.values(SECRETS)) {
    const lines = secret.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
    for (const part of [secret.slice(0, 8), ...lines.map((l) => l.slice(0, 8))]) {
      assert.ok(!rendered.includes(part), `output carries secret text ${part.slice(0, 2)}…`);
    }
  }
}

const positives: Array<[rule: string, path: string, content: string]> = [
  ['private-key', '/app/certs/server.key', `# test key\n\n${SECRETS.pemRSA}\n`],
  ['private-key', '/root/.ssh/id_ed25519', `\n\n${SECRETS.pemOpenSSH}\n`],
  ['private-key', '/app/legacy.pem', `\n\n${SECRETS.pemEncrypted}\n`],
  [
    'private-key',
    '/app/src/keys.js',
    `// signing\nconst a = 1;\nconst key = '${SECRETS.pemRSA.replaceAll('\n', '\\n')}';\n`,
  ],
  [
    'private-key-json',
    '/app/gcp.json',
    `{\n  "type": "service_account",\n  "private_key": "${SECRETS.pemRSA.replaceAll('\n', '\\n')}\\n",\n  "client_email": "svc@proj.iam.gserviceaccount.com"\n}\n`,
  ],
  [
    'aws-access-key-id',
    '/app/deploy.sh',
    `#!/bin/sh\nset -e\naws configure set aws_access_key_id ${SECRETS.awsKeyId}\n`,
  ],
  [
    'aws-secret-access-key',
    '/app/src/s3.ts',
    `import { S3 } from 'x';\n\nconst creds = { secretAccessKey: "${SECRETS.awsSecret}" };\n`,
  ],
  ['github-token', '/app/scripts/release.py', `import os\n\nTOKEN = "${SECRETS.github}"\n`],
  [
    'github-token',
    '/app/scripts/fine.py',
    `import os\n\nheaders = {"Authorization": "Bearer ${SECRETS.githubFine}"}\n`,
  ],
  ['gitlab-token', '/app/ci.yml', `stages: [build]\nvariables:\n  GL: ${SECRETS.gitlab}\n`],
  ['slack-token', '/app/bot.rb', `require 'slack'\n\nclient = Slack::Web::Client.new(token: '${SECRETS.slack}')\n`],
  ['slack-webhook', '/app/notify.go', `package main\n\nconst hook = "${SECRETS.slackHook}"\n`],
  ['stripe-secret-key', '/app/pay.php', `<?php\n\n\\Stripe\\Stripe::setApiKey('${SECRETS.stripe}');\n`],
  [
    'google-api-key',
    '/app/public/maps.html',
    `<html>\n<body>\n<script src="https://maps.googleapis.com/maps/api/js?key=${SECRETS.google}"></script>\n`,
  ],
  [
    'npm-token',
    '/app/Dockerfile.ci',
    `FROM node\nARG X=1\nRUN echo "//registry.npmjs.org/:_authToken=${SECRETS.npm}" > ~/.npmrc\n`,
  ],
  ['secret-assignment', '/app/.env', `NODE_ENV=production\nPORT=8080\nDB_PASSWORD=${SECRETS.envValue}\n`],
  ['secret-assignment', '/app/.env.production', `# prod\nLOG=info\nexport API_KEY="${SECRETS.envValue}"\n`],
  [
    'secret-assignment',
    '/app/config/app.properties',
    `server.port=8080\nspring.datasource.url=jdbc:postgresql://db/app\nspring.datasource.password=${SECRETS.envValue}\n`,
  ],
  [
    'secret-assignment',
    '/app/config.json',
    `{\n  "port": 8080,\n  "sessionSecret": "${SECRETS.envValue}",\n  "debug": false\n}\n`,
  ],
  ['secret-assignment', '/var/www/config.php', `<?php\nreturn [\n    'db_password' => '${SECRETS.envValue}',\n];\n`],
  [
    'secret-assignment',
    '/app/.npmrc',
    `registry=https://registry.npmjs.org/\nalways-auth=true\n//npm.corp.io/:_authToken=${fake(8, 'u1', '0123456789abcdef')}-${fake(4, 'u2', '0123456789abcdef')}-${fake(4, 'u3', '0123456789abcdef')}-${fake(4, 'u4', '0123456789abcdef')}-${fake(12, 'u5', '0123456789abcdef')}\n`,
  ],
];

describe('scanForSecrets()', () => {
  for (const [rule, path, content] of positives) {
    test(`scanForSecrets() reports ${rule} on line 3 of ${path}`, async () => {
      const findings = await scanForSecrets(await stage({ [path]: content }));
      const description = SECRET_RULES.find((r) => r.id === rule)!.description;
      assert.deepEqual(findings, [{ path, line: 3, rule, description }]);
      assertNoSecretText(findings);
    });
  }

  test('scanForSecrets() ignores placeholders, references and low-entropy values', async () => {
    const files = await stage({
      '/app/.env': [
        'API_KEY=changeme',
        `DB_PASSWORD=${'$'}{DB_PASSWORD}`,
        'GITHUB_TOKEN=<your-github-token>',
        'SECRET=xxxxxxxxxxxxxxxxxxxxxxxx',
        'SECRET_KEY=aaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        'SESSION_SECRET=passwordpassword1',
        'PASSWORD_FILE=/run/secrets/db_password',
        'TOKEN_URL=https://auth.acme.io/oauth2/v1/token',
        'TEMPLATE_TOKEN={{ vault_token }}',
        `PRIVATE_MODE=${'on'}`,
        'NAME=value-with-high-entropy-Q7x9Lm2Pz4Kw8',
      ].join('\n'),
      '/app/src/config.js': [
        'const isPrivate = (k, v) => isProtected(k) || redact(v) !== v;',
        'export default { password: process.env.DATABASE_PASSWORD_VALUE,',
        "  apiKey: settings.get('api-key-for-service'),",
        '};',
      ].join('\n'),
      '/app/src/pem.js': `const HEADER = '${BEGIN('RSA ')}';\nconst FOOTER = '${END('RSA ')}';\n`,
      '/app/docs/aws.md': `Example: ${'AK'}IA${'IOSFODNN7'}EXAMPLE and ${'gh'}p_${'x'.repeat(36)}\n`,
      '/app/README.md': `Set \`${'xo'}xb-your-token-here\` in the bot settings.\n`,
    });
    assert.deepEqual(await scanForSecrets(files), []);
  });

  test('every rule is found in text full of multi-byte UTF-8, on the right line (the Latin-1 prefilter)', async () => {
    // Each anchor must stay ASCII without classes that match non-ASCII text (\s, \W, .): the prefilter reads
    // the bytes as Latin-1, where a multi-byte character is several characters none of them ASCII.
    for (const rule of PATTERN_RULES)
      assert.match(rule.anchor.source, /^(?:[A-Za-z0-9_ |-]|\\\.|\[[a-z]+\])+$/, rule.id);
    for (const [rule, path, content] of positives) {
      const wide = `// héllo — ünïcödé ✓ 日本語\u2028${content.replace('\n', ' € \n')}`;
      const findings = await scanForSecrets(await stage({ [path]: wide }));
      assert.deepEqual(
        findings.map((f) => [f.rule, f.line]),
        [[rule, 3]],
        path,
      );
    }
  });

  test('scanForSecrets() does not flag JWTs by default', async () => {
    const jwt = `${'ey'}J${fake(30, 'jwt1')}.${'ey'}J${fake(60, 'jwt2')}.${fake(43, 'jwt3')}`;
    const files = await stage({ '/app/src/fixture.js': `export const token = '${jwt}';\n` });
    assert.deepEqual(await scanForSecrets(files), []);
  });

  test('scanForSecrets() applies the assignment rule only to env, .npmrc, properties and config files', async () => {
    const line = `API_TOKEN=${SECRETS.envValue}\n`;
    const files = await stage({
      '/app/notes.txt': line,
      '/app/prod.env': line,
      '/app/config.yaml': line.replace('=', ': '),
    });
    const findings = await scanForSecrets(files);
    assert.deepEqual(
      findings.map((f) => f.path),
      ['/app/config.yaml', '/app/prod.env'],
    );
  });

  test('scanForSecrets() skips binary files and files over maxFileBytes', async () => {
    const secretLine = `TOKEN = "${SECRETS.github}"\n`;
    const binary = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01]), Buffer.from(secretLine)]);
    const files = await stage({ '/app/bin/tool': binary, '/app/big.txt': `${'#'.repeat(2000)}\n${secretLine}` });
    assert.deepEqual(await scanForSecrets(files, { maxFileBytes: 1024 }), []);
    const big = await scanForSecrets(files);
    assert.deepEqual(
      big.map((f) => [f.path, f.line, f.rule]),
      [['/app/big.txt', 2, 'github-token']],
    );
  });

  test('scanForSecrets() reports one secret once, by its most specific rule', async () => {
    const json = `{"private_key": "${SECRETS.pemRSA.replaceAll('\n', '\\n')}"}\n`;
    const env = `GITHUB_TOKEN=${SECRETS.github}\n`;
    const findings = await scanForSecrets(await stage({ '/app/key.json': json, '/app/.env': env }));
    assert.deepEqual(
      findings.map((f) => [f.path, f.rule]),
      [
        ['/app/.env', 'github-token'],
        ['/app/key.json', 'private-key-json'],
      ],
    );
  });

  test('scanForSecrets() reports two different secrets on one line', async () => {
    const findings = await scanForSecrets(
      await stage({ '/app/min.js': `var a="${SECRETS.stripe}",b="${SECRETS.google}";` }),
    );
    assert.deepEqual(
      findings.map((f) => [f.line, f.rule]),
      [
        [1, 'google-api-key'],
        [1, 'stripe-secret-key'],
      ],
    );
  });

  test('scanForSecrets() leaves out findings the allowlist matches by path, rule and line', async () => {
    const files = await stage({
      '/app/test/fixtures/server.key': SECRETS.pemRSA,
      '/app/test/fixtures/.env': `A=1\nDB_PASSWORD=${SECRETS.envValue}\n`,
      '/app/src/keys.ts': `const a = '${SECRETS.npm}';\nconst b = '${SECRETS.github}';\n`,
    });
    const all = await scanForSecrets(files);
    assert.equal(all.length, 4);
    const byPath = await scanForSecrets(files, { allow: [{ path: 'app/test/fixtures/**' }] });
    assert.deepEqual(
      byPath.map((f) => f.path),
      ['/app/src/keys.ts', '/app/src/keys.ts'],
    );
    const byRule = await scanForSecrets(files, { allow: [{ rule: 'private-key' }, { rule: 'secret-assignment' }] });
    assert.deepEqual(
      byRule.map((f) => f.rule),
      ['npm-token', 'github-token'],
    );
    const byLine = await scanForSecrets(files, { allow: [{ path: '/app/src/*.ts', line: 2 }, {}] });
    assert.deepEqual(
      byLine.map((f) => [f.path, f.line]),
      [
        ['/app/src/keys.ts', 1],
        ['/app/test/fixtures/.env', 2],
        ['/app/test/fixtures/server.key', 1],
      ],
      'an empty allow entry suppresses nothing',
    );
  });

  test('scanForSecrets() throws FILE_UNREADABLE naming the image path when a file cannot be read', async () => {
    const files = [{ path: '/app/gone.txt', source: join(root, 'does-not-exist'), size: 10 }];
    await assert.rejects(scanForSecrets(files), (err: unknown) => {
      assert.ok(err instanceof EvidenceError && err.code === 'FILE_UNREADABLE');
      assert.equal(err.message, 'Cannot scan /app/gone.txt for secrets: ENOENT');
      return true;
    });
  });

  test('scanForSecrets() does not read content known clean, and remembers only content it found clean', async () => {
    const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}` as const;
    const [clean, secret, changed] = await stage({
      '/app/clean.js': 'module.exports = 1;\n',
      '/app/key.js': `const k = '${SECRETS.github}';\n`,
      '/app/changed.js': 'changed since it was hashed\n',
    });
    const known = new Set([cleanKey('/app/known.js', digestOf('known'))]);
    const files = [
      { ...clean!, digest: digestOf('module.exports = 1;\n') },
      { ...secret!, digest: digestOf(`const k = '${SECRETS.github}';\n`) },
      { ...changed!, digest: digestOf('what was hashed') },
      // Not on disk: reading it would throw FILE_UNREADABLE.
      { path: '/app/known.js', source: join(root, 'not-there.js'), size: 5, digest: digestOf('known') },
    ];
    const before = [...known];
    const findings = await scanForSecrets(files, { clean: known });
    assert.deepEqual(
      findings.map((f) => [f.path, f.rule]),
      [['/app/key.js', 'github-token']],
    );
    assert.deepEqual([...known].sort(), [cleanKey('/app/clean.js', files[0]!.digest), ...before].sort());
    assert.notEqual(cleanKey('/app/.env', digestOf('x')), cleanKey('/app/x.txt', digestOf('x')));
  });

  test('createSecretScanner() scans content handed to it and reads only the files it has not seen', async () => {
    const digestOf = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}` as const;
    const leaked = `const k = '${SECRETS.github}';\n`;
    const [onDisk] = await stage({ '/app/z.txt': `token ${SECRETS.npm}\n` });
    const gone = (path: string, text: string) => ({ path, source: join(root, 'gone', path), size: text.length });
    const seen = [
      { ...gone('/app/a.js', leaked), digest: digestOf(leaked) },
      { ...gone('/app/clean.js', 'x = 1;\n'), digest: digestOf('x = 1;\n') },
      { ...gone('/app/copy-of-clean.js', 'x = 1;\n'), digest: digestOf('x = 1;\n') },
    ];
    const scanner = createSecretScanner();
    scanner.scanContent(seen[0]!, Buffer.from(leaked));
    scanner.scanContent(seen[1]!, Buffer.from('x = 1;\n'));
    const findings = await scanner.finish([...seen, { ...onDisk!, digest: null }]);
    assert.deepEqual(
      findings.map((f) => [f.path, f.line, f.rule]),
      [
        ['/app/a.js', 1, 'github-token'],
        ['/app/z.txt', 1, 'npm-token'],
      ],
    );
  });

  test('every rule anchor occurs in what the rule finds, so skipping text without anchors misses nothing', () => {
    for (const [rule, , content] of positives) {
      const { anchor, pattern } = PATTERN_RULES.find((r) => r.id === rule) ?? {};
      if (anchor === undefined || pattern === undefined) continue;
      for (const match of content.matchAll(new RegExp(pattern.source, pattern.flags))) {
        assert.match(match[0], new RegExp(anchor.source, 'i'), rule);
      }
    }
  });

  test('scanForSecrets() stops when its signal is aborted', async () => {
    const files = await stage({ '/app/a.txt': 'hello' });
    await assert.rejects(scanForSecrets(files, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });
});

describe('formatFindings()', () => {
  test('formatFindings() renders path:line, rule and description, one finding per line', () => {
    const text = formatFindings([
      { path: '/app/.env', line: 3, rule: 'secret-assignment', description: 'High-entropy value' },
      { path: '/app/key.pem', line: 1, rule: 'private-key', description: 'PEM private key' },
    ]);
    assert.equal(
      text,
      '/app/.env:3  secret-assignment  High-entropy value\n/app/key.pem:1  private-key  PEM private key',
    );
  });

  test('SECRET_RULES lists every rule once with a description', () => {
    const ids = SECRET_RULES.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(SECRET_RULES.every((r) => r.description.length > 10));
    assert.ok(ids.includes('secret-assignment') && ids.includes('private-key'));
  });
});
