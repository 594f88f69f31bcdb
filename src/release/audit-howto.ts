// How anyone re-verifies a row of an audit report without Fixity: the same words in every rendering.

/** The steps, with `code` in backticks. */
export const REVERIFY_STEPS: readonly string[] = [
  'Get the ledger public key from a source you trust (`fixity ledger verify` pins it; the server publishes it at `GET /api/v1/ledger`) and check that the checkpoint note below is a C2SP signed note by that key. `fixity audit report` does this for every report it prints.',
  "Decode the row's `leaf` from base64 and hash it as an RFC 9162 leaf, SHA-256(0x00 ‖ leaf): `echo LEAF | base64 -d > leaf.json; (printf '\\0'; cat leaf.json) | sha256sum`. The result is the row's leaf hash.",
  "Fold the row's proof hashes into that leaf hash with the row's index and the checkpoint's tree size (RFC 9162 §2.1.3.2, the script below). The result must be the checkpoint's root hash; if it is, the leaf is exactly what the log signed, and its fields (who, what, when) are what the row shows.",
  '`fixity ledger proof DIGEST` re-checks every entry about one digest; `fixity ledger verify` recomputes the whole log and proves it only grew.',
];

/** RFC 9162 §2.1.3.2 in plain Python 3, so an auditor needs nothing of ours. */
export const REVERIFY_SCRIPT = `import base64, hashlib

def verify(index, tree_size, leaf_b64, proof_b64, root_b64):
    h = lambda b: hashlib.sha256(b).digest()
    r = h(b"\\x00" + base64.b64decode(leaf_b64))
    fn, sn = index, tree_size - 1
    for p in map(base64.b64decode, proof_b64):
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h(b"\\x01" + p + r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = h(b"\\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == base64.b64decode(root_b64)

# verify(row["index"], report["checkpoint"]["size"], row["leaf"],
#        row["inclusionProof"]["hashes"], report["checkpoint"]["rootHash"])
`;
