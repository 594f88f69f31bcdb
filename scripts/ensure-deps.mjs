// Installs dependencies when they are missing or older than package.json / package-lock.json,
// so `npm start` and `npm test` work on a fresh clone. Runs on whatever Node npm found first.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const stamp = 'node_modules/.package-lock.json';
const stale =
  !existsSync(stamp) ||
  ['package.json', 'package-lock.json'].some((f) => existsSync(f) && statSync(f).mtimeMs > statSync(stamp).mtimeMs);
if (stale) {
  const cmd = existsSync('package-lock.json') ? 'npm ci --no-audit --no-fund' : 'npm install --no-audit --no-fund';
  process.stderr.write(`fixity: installing dependencies (${cmd})\n`);
  execSync(cmd, { stdio: 'inherit' });
}
