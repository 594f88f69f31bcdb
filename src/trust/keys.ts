import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import type { SignatureAlgorithm, Signer } from '../core/index.ts';
import { TrustError } from './trust-error.ts';

export type KeyType = 'p256' | 'ed25519';

/** A freshly generated key: PKCS#8 private PEM, SPKI public PEM and the key id. */
export interface KeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
}

/** Generates an ECDSA P-256 (the default, verifiable everywhere) or Ed25519 key pair. */
export function generateKeyPair(type: KeyType = 'p256'): KeyPair {
  const { privateKey, publicKey } =
    type === 'p256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** The key id: hex SHA-256 of the public key's SPKI DER (also a private key's public half). */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/**
 * The scheme a key signs with. Anything but P-256 and Ed25519 is refused: sigstore-js verifies DSSE with
 * SHA-256 whatever the curve, so a P-384 signature would be silently unverifiable there.
 */
export function algorithmOf(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    return 'ecdsa-p256-sha256';
  }
  const what =
    key.asymmetricKeyType === 'ec'
      ? `an EC ${key.asymmetricKeyDetails?.namedCurve} key`
      : `a ${key.asymmetricKeyType} key`;
  throw new TrustError('KEY_UNSUPPORTED', `Cannot use ${what}: Fixity signs with ECDSA P-256 or Ed25519 only`);
}

/** A `Signer` over a PEM private key (PKCS#8, or SEC1/PKCS#1 PEM that OpenSSL reads), optionally encrypted. */
export function loadSigner(pem: string, passphrase?: string): Signer {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (err) {
    const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
    const why = !encrypted
      ? 'it is not a PEM private key'
      : passphrase === undefined
        ? 'it is encrypted and no passphrase was given'
        : 'the passphrase is wrong';
    throw new TrustError('KEY_INVALID', `Cannot load the private key: ${why}`, { cause: err });
  }
  const algorithm = algorithmOf(privateKey);
  const publicKey = createPublicKey(privateKey);
  const digest = algorithm === 'ed25519' ? null : 'sha256';
  return {
    keyId: keyIdOf(publicKey),
    algorithm,
    publicKey,
    sign: (data) =>
      new Promise((resolve, reject) =>
        sign(digest, data, { key: privateKey, dsaEncoding: 'der' }, (err, sig) => (err ? reject(err) : resolve(sig))),
      ),
  };
}

/** Parses an SPKI PEM public key of a supported type. A private key is refused: give the `.pub` file. */
export function loadPublicKey(pem: string): KeyObject {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new TrustError('KEY_INVALID', 'Cannot load the public key: this is a private key; give the .pub file');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new TrustError('KEY_INVALID', 'Cannot load the public key: it is not a PEM public key', { cause: err });
  }
  algorithmOf(key);
  return key;
}

/** True when `signature` over `data` verifies: ECDSA as DER, or 64-byte IEEE P1363 r‖s; Ed25519 as is. */
export function verifySignature(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (algorithmOf(publicKey) === 'ed25519') return verify(null, data, publicKey, signature);
    if (verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature)) return true;
    return (
      signature.byteLength === 64 && verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
    );
  } catch {
    return false; // malformed DER, or a key of another type: not a valid signature
  }
}

/** Writes NAME.key (mode 0600) and NAME.pub; refuses to overwrite either. */
export async function writeKeyFiles(
  name: string,
  pair: KeyPair,
): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
  const privateKeyFile = `${name}.key`;
  const publicKeyFile = `${name}.pub`;
  const exists = (file: string) => (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new TrustError('KEY_FILE_EXISTS', `Cannot write ${file}: it exists; choose another name or remove it`);
  };
  await writeFile(privateKeyFile, pair.privateKeyPem, { mode: 0o600, flag: 'wx' }).catch(exists(privateKeyFile));
  try {
    await writeFile(publicKeyFile, pair.publicKeyPem, { mode: 0o644, flag: 'wx' }).catch(exists(publicKeyFile));
  } catch (err) {
    await unlink(privateKeyFile); // never leave half a pair behind
    throw err;
  }
  return { privateKeyFile, publicKeyFile };
}
