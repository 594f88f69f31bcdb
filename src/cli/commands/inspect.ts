import type { Command } from 'commander';
import { createRegistryClient, isIndexMediaType, parseReference } from '../../oci/index.ts';
import { resolveClient } from '../context.ts';
import { CLIError, emit, formatBytes, type GlobalOptions } from '../output.ts';
import { registryCredentials } from '../registry-credentials.ts';

export function addInspectCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('inspect')
    .description('show an image: digest, config, layers, annotations and referrers (signatures, attestations)')
    .argument('<image>', 'image reference, e.g. localhost:7070/hello:1.0.0 or …@sha256:…')
    .addHelpText(
      'after',
      '\nExamples:\n  fixity inspect localhost:7070/hello:1.0.0\n  fixity inspect localhost:7070/hello@sha256:… --json',
    )
    .action(async (text: string) => {
      const g = globals();
      const { server, token } = resolveClient(g);
      const client = createRegistryClient({ credentials: registryCredentials({ server, token }) });
      const ref = parseReference(text);
      const manifest = await client.getManifest(ref, ref.digest ?? ref.tag ?? 'latest');
      if (manifest === null)
        throw new CLIError(
          'FAILED',
          `Cannot inspect ${text}: no such manifest`,
          `list tags with: skopeo list-tags docker://${ref.registry}/${ref.repository}`,
        );
      const doc = JSON.parse(new TextDecoder().decode(manifest.bytes)) as {
        config?: { digest: `sha256:${string}`; size: number; mediaType: string };
        layers?: Array<{ digest: string; size: number; mediaType: string }>;
        manifests?: Array<{ digest: string; platform?: unknown }>;
        annotations?: Record<string, string>;
      };
      let config: unknown = null;
      if (!isIndexMediaType(manifest.mediaType) && doc.config !== undefined) {
        const chunks: Uint8Array[] = [];
        for await (const c of client.getBlob(ref, doc.config.digest, doc.config.size)) chunks.push(c);
        try {
          config = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          config = null;
        }
      }
      const referrers = await client.listReferrers(ref, manifest.digest);
      const value = {
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        size: manifest.bytes.byteLength,
        annotations: doc.annotations ?? {},
        layers: doc.layers ?? [],
        manifests: doc.manifests ?? [],
        config,
        referrers,
      };
      emit(g, 'Image', value, () => {
        const c =
          (config as {
            config?: Record<string, unknown>;
            created?: string;
            architecture?: string;
            os?: string;
          } | null) ?? {};
        return [
          `📦 ${ref.registry}/${ref.repository}@${manifest.digest}`,
          `   ${manifest.mediaType}, ${manifest.bytes.byteLength} B${c.os ? `, ${c.os}/${c.architecture}` : ''}${c.created ? `, created ${c.created}` : ''}`,
          ...(c.config ? Object.entries(c.config).map(([k, v]) => `   ${k}: ${JSON.stringify(v)}`) : []),
          ...Object.entries(doc.annotations ?? {}).map(([k, v]) => `   @ ${k}=${v}`),
          ...(doc.layers ?? []).map((l, i) => `   layer ${i}  ${l.digest}  ${formatBytes(l.size)}  ${l.mediaType}`),
          ...(doc.manifests ?? []).map((m) => `   manifest ${m.digest}  ${JSON.stringify(m.platform ?? {})}`),
          referrers.length === 0 ? '🔗 no referrers' : `🔗 ${referrers.length} referrer(s)`,
          ...referrers.map(
            (r) =>
              `   ${r.artifactType ?? r.mediaType}  ${r.digest}${r.annotations?.['in-toto.io/predicate-type'] ? `  ${r.annotations['in-toto.io/predicate-type']}` : ''}`,
          ),
        ].join('\n');
      });
    });
}
