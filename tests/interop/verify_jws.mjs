// Verifies JWS/JWT tokens produced by mandated with independent third-party libraries:
// jose (with the public JWK only) and did-jwt (resolving the did:key issuer). jose 6 has no
// secp256k1 (WebCrypto lacks it), so ES256K goes through jose 5, which uses node:crypto.
// Usage: node verify_jws.mjs INPUT.json  -> prints a JSON array of results on stdout.
// INPUT: [{"name", "token", "jwk", "alg", "audience"?}]
import { readFileSync } from 'node:fs';
import * as jose6 from 'jose';
import * as jose5 from 'jose5';
import { verifyJWT } from 'did-jwt';
import { Resolver } from 'did-resolver';
import { getResolver as keyDidResolver } from 'key-did-resolver';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const resolver = new Resolver(keyDidResolver());
const results = [];
for (const c of cases) {
  const r = { name: c.name };
  try {
    const jose = c.alg === 'ES256K' ? jose5 : jose6;
    const key = await jose.importJWK(c.jwk, c.alg);
    const { payload, protectedHeader } = await jose.compactVerify(c.token, key);
    r.jose = 'ok';
    r.jose_version = c.alg === 'ES256K' ? 5 : 6;
    r.jose_alg = protectedHeader.alg;
    r.jose_payload = new TextDecoder().decode(payload);
  } catch (e) {
    r.jose = `error: ${e.code ?? e.name}: ${e.message}`;
  }
  try {
    const v = await verifyJWT(c.token, { resolver, audience: c.audience });
    r.did_jwt = 'ok';
    r.did_jwt_issuer = v.issuer;
    r.did_jwt_signer = v.signer?.id;
  } catch (e) {
    r.did_jwt = `error: ${e.message}`;
  }
  results.push(r);
}
process.stdout.write(JSON.stringify(results));
