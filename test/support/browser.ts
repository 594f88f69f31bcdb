// A page as headless Chromium leaves it once its script has run: the dashboard's tests read the DOM it dumps.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p) => spawnSync(p, ['--version']).status === 0,
);

/** The DOM of `url` after its script ran (virtual time lets the fetches and timers finish). */
export function renderedDOM(url: string, profile: string): string {
  assert.ok(CHROMIUM, 'Chromium is needed for the dashboard tests (apt-get install -y chromium)');
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=5000',
      '--dump-dom',
      url,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
