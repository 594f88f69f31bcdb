// Installs dependencies when they are missing or package.json / package-lock.json changed since the last
// install, so `npm start` and `npm test` work on a fresh clone. Runs on whatever Node npm found first.
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const stamp = 'node_modules/.fixity-deps';
const fingerprint = () =>
  createHash('sha256')
    .update(['package.json', 'package-lock.json'].map((f) => (existsSync(f) ? readFileSync(f) : '')).join('\0'))
    .digest('hex');

if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== fingerprint() || !existsSync('node_modules/node/bin/node')) {
  process.stderr.write('fixity: installing dependencies (npm install)\n');
  execSync('npm install --no-audit --no-fund --loglevel=error', { stdio: 'inherit' });
  writeFileSync(stamp, fingerprint());
}
