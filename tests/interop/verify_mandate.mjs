// Verifies mandates issued by the running service with third-party libraries and public data only.
// The input is what any verifier holds: the tokens, the issuer's JWKS, its did:web document(s)
// and the status list token; no private key and no service code. jose checks each token against
// the JWKS (jose 6; jose 5 for ES256K, which WebCrypto lacks) and reads the Token Status List;
// did-jwt resolves the issuer through a did-resolver Resolver whose `web` method maps the DID to
// its did.json URL (did:web §3.2) and answers with the document the caller fetched from there.
// From every entry marked `negatives`, the script derives forgeries both libraries must refuse.
// Usage: node verify_mandate.mjs INPUT.json  -> prints a JSON array (one object per case).
// INPUT: [{"name", "alg", "token", "jwks", "did_documents": {"<host>/<path>/did.json": doc},
//          "status_list_token"?, "negatives"?: bool, "forged"?: [{"label", "token", "jwk"?}]}]
// RESULT: {"name", "case", "header",
//          "jose": {"verified", "error"?, "version", "alg", "kid", "iss", "sub", "jti",
//                   "claim_failures"},
//          "did_jwt": {"verified", "error"?, "issuer", "signer", "signer_is_kid"},
//          "status"?: {"verified", "error"?, "uri", "idx", "bits", "value"},
//          "forger"?: {"signature_valid", "error"?}}
// Cases: "as-issued", then "payload-byte-changed", "alg-changed", "alg-none" (when `negatives`)
// and "signature-from-<label>" for each `forged` token the caller made (the entry's header and
// payload signed with another key). With a `jwk` (that other key's public JWK), "forger" says
// whether the forged signature is valid under it: then only the key binding refuses the token.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import * as jose6 from 'jose';
import * as jose5 from 'jose5';
import { verifyJWT } from 'did-jwt';
import { Resolver } from 'did-resolver';

const ALGS = ['EdDSA', 'ES256', 'ES256K'];
// The algorithm a forged header claims instead of the real one: another of ours, so the token
// still parses and only the alg / key binding can refuse it.
const SWAPPED_ALG = { EdDSA: 'ES256', ES256: 'EdDSA', ES256K: 'ES256' };
const VC_V2_CONTEXT = 'https://www.w3.org/ns/credentials/v2';
const MANDATE_ID_PREFIX = 'urn:mandated:mandate:';

const b64u = {
  encode: (s) => Buffer.from(s, 'utf8').toString('base64url'),
  decode: (s) => Buffer.from(s, 'base64url').toString('utf8'),
};

// jose 6 has no ES256K; jose 5 (node:crypto) verifies all three, so it takes the secp256k1 tokens.
function joseFor(alg) {
  return alg === 'ES256K'
    ? { jose: jose5, version: 5, algorithms: ALGS }
    : { jose: jose6, version: 6, algorithms: ['EdDSA', 'ES256'] };
}

function errorText(e) {
  return `${e.code ?? e.name}: ${e.message}`;
}

// did:web (https://w3c-ccg.github.io/did-method-web/ §3.2): the method-specific id's colons
// become slashes, %3A the port's colon, and the document is at <path>/did.json (or at
// /.well-known/did.json without a path). `documents`: what the caller fetched, keyed by that URL
// without its scheme.
function webResolver(documents) {
  return {
    web: async (did, parsed) => {
      const parts = parsed.id.split(':').map(decodeURIComponent);
      const where =
        parts.length === 1 ? `${parts[0]}/.well-known/did.json` : `${parts.join('/')}/did.json`;
      const meta = {};
      const doc = documents[where];
      if (doc === undefined) {
        return {
          didDocument: null,
          didDocumentMetadata: meta,
          didResolutionMetadata: {
            error: 'notFound',
            message: `nothing fetched from https://${where}`,
          },
        };
      }
      if (doc.id !== did) {
        return {
          didDocument: null,
          didDocumentMetadata: meta,
          didResolutionMetadata: {
            error: 'invalidDid',
            message: `https://${where} describes ${doc.id}`,
          },
        };
      }
      return {
        didDocument: doc,
        didDocumentMetadata: meta,
        didResolutionMetadata: { contentType: 'application/did+json' },
      };
    },
  };
}

// The VC 2.0 / JWT members specs/mandate.md §2 requires, and that the mirrored ones agree.
// Returns the failures.
function claimFailures(payload, header) {
  const f = [];
  const isStr = (v) => typeof v === 'string' && v.length > 0;
  const isInt = (v) => Number.isSafeInteger(v);
  for (const k of ['iss', 'sub', 'jti']) if (!isStr(payload[k])) f.push(`${k} missing`);
  for (const k of ['iat', 'nbf', 'exp']) if (!isInt(payload[k])) f.push(`${k} missing`);
  const ctx = payload['@context'];
  if (!Array.isArray(ctx) || ctx[0] !== VC_V2_CONTEXT) f.push('@context: not VC 2.0 first');
  const type = payload.type;
  if (!Array.isArray(type) || !type.includes('VerifiableCredential') ||
      !type.includes('SpendingMandate')) {
    f.push('type lacks VerifiableCredential or SpendingMandate');
  }
  if (payload.issuer !== payload.iss) f.push('issuer != iss');
  if (payload.id !== payload.jti) f.push('id != jti');
  if (!isStr(payload.jti) || !payload.jti.startsWith(MANDATE_ID_PREFIX)) {
    f.push(`jti is not ${MANDATE_ID_PREFIX}...`);
  }
  const subject = payload.credentialSubject;
  if (typeof subject !== 'object' || subject === null) {
    f.push('credentialSubject missing');
  } else {
    if (subject.id !== payload.sub) f.push('credentialSubject.id != sub');
    if (typeof subject.mandate !== 'object' || subject.mandate === null) {
      f.push('credentialSubject.mandate missing');
    }
  }
  if (Date.parse(payload.validFrom) / 1000 !== payload.nbf) f.push('validFrom != nbf');
  if (Date.parse(payload.validUntil) / 1000 !== payload.exp) f.push('validUntil != exp');
  const entry = payload.status?.status_list;
  if (!isInt(entry?.idx) || !isStr(entry?.uri)) f.push('status.status_list missing');
  if (JSON.stringify(payload.credentialStatus?.status_list) !== JSON.stringify(entry)) {
    f.push('credentialStatus.status_list != status.status_list');
  }
  if (!isStr(header.kid) || header.kid.split('#')[0] !== payload.iss) {
    f.push('kid is not a method of iss');
  }
  return f;
}

async function verifyWithJose(c) {
  const { jose, version, algorithms } = joseFor(c.alg);
  const r = { verified: false, version };
  try {
    const keys = jose.createLocalJWKSet(c.jwks);
    const { payload, protectedHeader } = await jose.jwtVerify(c.token, keys, {
      typ: 'vc+jwt',
      algorithms,
    });
    r.verified = true;
    r.alg = protectedHeader.alg;
    r.kid = protectedHeader.kid;
    r.iss = payload.iss;
    r.sub = payload.sub;
    r.jti = payload.jti;
    r.claim_failures = claimFailures(payload, protectedHeader);
    r.payload = payload;
  } catch (e) {
    r.error = errorText(e);
  }
  return r;
}

async function verifyWithDidJwt(c, kid) {
  const r = { verified: false };
  try {
    // A fresh options object per call: verifyJWT caches the resolved authenticators in it.
    // Mandates carry no `aud`, so the audience policy never triggers (no `policies` needed);
    // proofPurpose limits the keys to the issuer's assertionMethod ones, as a VC needs.
    const v = await verifyJWT(c.token, {
      resolver: new Resolver(webResolver(c.did_documents)),
      proofPurpose: 'assertionMethod',
    });
    r.verified = v.verified === true;
    r.issuer = v.issuer;
    r.signer = v.signer?.id;
    // did-jwt tries every assertion method of the issuer and ignores `kid`: a verifier that
    // wants the kid bound compares them itself.
    r.signer_is_kid = v.signer?.id === kid;
  } catch (e) {
    r.error = errorText(e);
  }
  return r;
}

// The mandate's entry in the Token Status List (draft-ietf-oauth-status-list): the list token is
// verified with jose against the same issuer keys and must name the mandate's list URI as `sub`;
// `lst` is base64url of a ZLIB stream of `bits`-bit entries, entry 0 in the least significant
// bits of byte 0.
async function statusOf(c, mandate) {
  const r = { verified: false };
  const entry = mandate.status?.status_list;
  r.uri = entry?.uri;
  r.idx = entry?.idx;
  const { jose, algorithms } = joseFor(c.alg);
  try {
    const keys = jose.createLocalJWKSet(c.jwks);
    const { payload } = await jose.jwtVerify(c.status_list_token, keys, {
      typ: 'statuslist+jwt',
      algorithms,
      issuer: mandate.iss,
      subject: entry.uri,
    });
    r.verified = true;
    const { bits, lst } = payload.status_list;
    r.bits = bits;
    const bytes = inflateSync(Buffer.from(lst, 'base64url'));
    const bit = entry.idx * bits;
    if (Math.floor(bit / 8) >= bytes.length) {
      throw new Error(`idx ${entry.idx} is beyond the list (${bytes.length} bytes)`);
    }
    r.value = (bytes[Math.floor(bit / 8)] >> (bit % 8)) & ((1 << bits) - 1);
  } catch (e) {
    r.error = errorText(e);
  }
  return r;
}

// The forgeries derived from a genuine token.
function forgeries(c) {
  const [h, p, s] = c.token.split('.');
  const out = [];
  if (c.negatives) {
    // One payload byte changed and re-encoded: the per-transaction limit 5000 becomes 9000. The
    // JSON still parses, so only the signature can refuse it.
    const payload = b64u.decode(p);
    const raised = payload.replace('"5000"', '"9000"');
    if (raised === payload) throw new Error(`${c.name}: no "5000" to change in the payload`);
    out.push({ case: 'payload-byte-changed', token: `${h}.${b64u.encode(raised)}.${s}` });
    const header = JSON.parse(b64u.decode(h));
    const swapped = b64u.encode(JSON.stringify({ ...header, alg: SWAPPED_ALG[c.alg] }));
    out.push({ case: 'alg-changed', token: `${swapped}.${p}.${s}` });
    const none = b64u.encode(JSON.stringify({ ...header, alg: 'none' }));
    out.push({ case: 'alg-none', token: `${none}.${p}.` });
  }
  for (const f of c.forged ?? []) {
    if (f.token.split('.').slice(0, 2).join('.') !== `${h}.${p}`) {
      throw new Error(`${c.name}: forged token ${f.label} signs other bytes`);
    }
    out.push({ case: `signature-from-${f.label}`, token: f.token, forger_jwk: f.jwk });
  }
  return out;
}

// Whether a forged token's signature is valid under the key that made it (kid ignored).
async function forgerCheck(alg, token, jwk) {
  const { jose } = joseFor(alg);
  try {
    await jose.compactVerify(token, await jose.importJWK(jwk, alg));
    return { signature_valid: true };
  } catch (e) {
    return { signature_valid: false, error: errorText(e) };
  }
}

async function run(c, kase, token, forgerJwk) {
  const header = JSON.parse(b64u.decode(token.split('.')[0]));
  const one = { ...c, token };
  const r = { name: c.name, case: kase, header };
  r.jose = await verifyWithJose(one);
  r.did_jwt = await verifyWithDidJwt(one, header.kid);
  if (kase === 'as-issued' && c.status_list_token && r.jose.verified) {
    r.status = await statusOf(one, r.jose.payload);
  }
  delete r.jose.payload;
  if (forgerJwk) r.forger = await forgerCheck(c.alg, token, forgerJwk);
  return r;
}

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const c of input) {
  results.push(await run(c, 'as-issued', c.token));
  for (const f of forgeries(c)) results.push(await run(c, f.case, f.token, f.forger_jwk));
}
process.stdout.write(JSON.stringify(results));
