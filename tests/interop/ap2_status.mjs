// AP2 open mandates checked the way a verifier without mandated's API checks an SD-JWT VC: the
// npm @sd-jwt/sd-jwt-vc verifier (versions pinned in package-lock.json) with the issuer's keys
// fetched from the principal's public AP2 JWKS, and the mandate's Token Status List fetched over
// HTTP by the library's own fetcher from the URI in the token's `status` claim (it requires
// Content-Type application/statuslist+jwt and verifies the list with the issuer's keys).
// Usage: node ap2_status.mjs INPUT.json -> prints one JSON object.
// INPUT {"jwks_url","tokens":[{"name","token"}]}
//   -> {"keys": <number of keys fetched>,
//       "results":[{"name","ok","error"?,"vct","status_uri","idx","list_status"?,"list_error"?}]}
//   "ok": the library's verify (signature, claims, status) passed; "list_status": the entry as
//   @sd-jwt/jwt-status-list reads it from the list fetched again.
import { readFileSync } from 'node:fs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { getListFromStatusListJWT } from '@sd-jwt/jwt-status-list';
import { ES256, digest } from '@sd-jwt/crypto-nodejs';
import { decodeSdJwt } from '@sd-jwt/decode';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const hasher = (data, alg) => digest(data, alg);

async function main() {
  const res = await fetch(input.jwks_url);
  if (!res.ok) throw new Error(`GET ${input.jwks_url}: ${res.status}`);
  const jwks = await res.json();
  const verifiers = await Promise.all(jwks.keys.map((k) => ES256.getVerifier(k)));
  // Any published key (the active one, or one retired since the token was signed).
  const verifier = async (data, sig) => {
    for (const v of verifiers) {
      if (await v(data, sig)) return true;
    }
    return false;
  };
  const vc = new SDJwtVcInstance({ hasher, verifier });
  const results = [];
  for (const { name, token } of input.tokens) {
    const out = { name };
    const decoded = await decodeSdJwt(token, hasher);
    const entry = decoded.jwt.payload.status?.status_list;
    out.vct = decoded.jwt.payload.vct;
    out.status_uri = entry?.uri;
    out.idx = entry?.idx;
    try {
      await vc.verify(token);
      out.ok = true;
    } catch (e) {
      out.ok = false;
      out.error = String(e.message ?? e);
    }
    if (entry) {
      try {
        const list = await fetch(entry.uri, { headers: { Accept: 'application/statuslist+jwt' } });
        out.list_status = getListFromStatusListJWT(await list.text()).getStatus(entry.idx);
      } catch (e) {
        out.list_error = String(e.message ?? e);
      }
    }
    results.push(out);
  }
  return { keys: jwks.keys.length, results };
}

main().then(
  (out) => process.stdout.write(JSON.stringify(out)),
  (e) => {
    process.stdout.write(JSON.stringify({ error: String(e.stack ?? e) }));
    process.exitCode = 1;
  },
);
