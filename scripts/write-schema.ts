// Regenerates schema/fixity.schema.json, schema/pipeline.schema.json and schema/environment.schema.json from the
// zod schemas (`npm run schema`); tests keep them equal.
import { writeFileSync } from 'node:fs';
import { buildSpecJSONSchema } from '../src/build/spec.ts';
import { environmentSpecJSONSchema } from '../src/deploy/environment-spec.ts';
import { pipelineSpecJSONSchema } from '../src/release/pipeline-spec.ts';

writeFileSync(
  new URL('../schema/fixity.schema.json', import.meta.url),
  `${JSON.stringify(buildSpecJSONSchema(), null, 2)}\n`,
);
writeFileSync(
  new URL('../schema/pipeline.schema.json', import.meta.url),
  `${JSON.stringify(pipelineSpecJSONSchema(), null, 2)}\n`,
);
writeFileSync(
  new URL('../schema/environment.schema.json', import.meta.url),
  `${JSON.stringify(environmentSpecJSONSchema(), null, 2)}\n`,
);
