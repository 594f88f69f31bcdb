import { createManualClock } from '../core/index.ts';
import { createRegistryClient } from '../oci/index.ts';

/** build() options for tests: no registry to reach, a fixed clock and SOURCE_DATE_EPOCH, tool version `test`. */
export function testBuildOptions(dir: string, cacheDir: string, noCache = false) {
  return {
    dir,
    cacheDir,
    toolVersion: 'test',
    registry: createRegistryClient({ credentials: () => null as never }),
    clock: createManualClock('2030-01-01T00:00:00Z'),
    sourceDateEpoch: 1_700_000_000,
    noCache,
  };
}
