// Regenerates schema/fixity.schema.json from the zod schema (`npm run schema`); a test keeps them equal.
import { writeFileSync } from 'node:fs';
import { buildSpecJSONSchema } from '../src/build/spec.ts';

writeFileSync(
  new URL('../schema/fixity.schema.json', import.meta.url),
  `${JSON.stringify(buildSpecJSONSchema(), null, 2)}\n`,
);
