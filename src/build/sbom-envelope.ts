/**
 * The unsigned DSSE envelope of an SBOM statement, written as a stream. For a 100k-file image the statement's
 * canonical JSON is ~46 MB and its base64 ~62 MB; building them as strings (then as bytes) held several
 * copies at once. Here each file row and relationship row is serialised, encoded and hashed in 64 KiB pieces,
 * and only the pieces are held.
 *
 * The bytes are those of `canonicalBytes(toDSSEEnvelope(createSBOMStatement(subject, createSPDXDocument(…))))`
 * (sbom-envelope.test.ts checks that): the fixed parts come from `canonicalJSON` itself with empty placeholders
 * cut out, and the rows are written with their keys in RFC 8785 order (UTF-16 code units) by hand.
 */
import { createHash } from 'node:crypto';
import { canonicalJSON, type Digest } from '../core/index.ts';
import { createStatement, IN_TOTO_PAYLOAD_TYPE, type StatementSubject } from './in-toto-statement.ts';
import { expandSPDXPlan, fileRows, relationshipRows, SBOM_PREDICATE_TYPE, type SPDXPlan } from './sbom.ts';

const PIECE = 1 << 16;

/** Streams the envelope to `write` (each chunk is handed over, not reused); returns its digest and size. */
export function writeSBOMEnvelope(
  plan: SPDXPlan,
  subject: StatementSubject | readonly StatementSubject[],
  write: (chunk: Buffer) => void,
): { digest: Digest; size: number } {
  const hash = createHash('sha256');
  let size = 0;
  const emit = (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.byteLength;
    write(chunk);
  };
  // Strings cannot hold an unescaped quote, so a quoted key followed by a placeholder occurs only where it is.
  const [envelopeHead, envelopeTail] = cut(
    canonicalJSON({ payload: '', payloadType: IN_TOTO_PAYLOAD_TYPE, signatures: [] }),
    '"payload":"',
  );
  const [statementHead, statementTail] = cut(
    canonicalJSON(createStatement(subject, SBOM_PREDICATE_TYPE, 0)),
    '"predicate":',
    '0',
  );
  const [documentHead, rest] = cut(
    canonicalJSON(expandSPDXPlan({ ...plan, files: [], fileIds: [], contained: [], relationships: [] })),
    ',"files":[',
    ']',
  );
  const [documentMiddle, documentTail] = cut(rest, ',"relationships":[', ']');

  emit(Buffer.from(envelopeHead));
  const payload = base64Stream((bytes) => emit(bytes));
  let text = statementHead + documentHead;
  const flush = () => {
    if (text.length >= PIECE) {
      payload.push(text);
      text = '';
    }
  };
  let i = 0;
  for (const [fileName, id, sha1, sha256] of fileRows(plan)) {
    text += `${i++ === 0 ? '' : ','}{"SPDXID":${JSON.stringify(id)},"checksums":[{"algorithm":"SHA1","checksumValue":"${sha1}"},{"algorithm":"SHA256","checksumValue":"${sha256}"}],"fileName":${JSON.stringify(fileName)}}`;
    flush();
  }
  text += `]${documentMiddle}`;
  i = 0;
  for (const [from, type, to] of relationshipRows(plan)) {
    text += `${i++ === 0 ? '' : ','}{"relatedSpdxElement":${JSON.stringify(to)},"relationshipType":"${type}","spdxElementId":${JSON.stringify(from)}}`;
    flush();
  }
  payload.push(`${text}]${documentTail}${statementTail}`);
  payload.end();
  emit(Buffer.from(envelopeTail));
  return { digest: `sha256:${hash.digest('hex')}` as Digest, size };
}

// `text` split around `marker` + `placeholder`: the head ends with the marker, the tail follows the placeholder.
function cut(text: string, marker: string, placeholder = ''): [string, string] {
  const at = text.indexOf(marker + placeholder);
  if (at < 0) throw new Error(`Cannot stream the SBOM envelope: ${marker} is missing from ${text.slice(0, 80)}`);
  return [text.slice(0, at + marker.length), text.slice(at + marker.length + placeholder.length)];
}

// UTF-8 text in, base64 out, in pieces: whole 3-byte groups are encoded as they come, the rest carried over.
function base64Stream(out: (chunk: Buffer) => void): { push(text: string): void; end(): void } {
  let carry = Buffer.alloc(0);
  return {
    push(text) {
      const bytes = carry.byteLength === 0 ? Buffer.from(text) : Buffer.concat([carry, Buffer.from(text)]);
      const whole = bytes.byteLength - (bytes.byteLength % 3);
      if (whole > 0) out(Buffer.from(bytes.subarray(0, whole).toString('base64'), 'latin1'));
      carry = Buffer.from(bytes.subarray(whole));
    },
    end() {
      if (carry.byteLength > 0) out(Buffer.from(carry.toString('base64'), 'latin1'));
    },
  };
}
