// AP2 SD-JWT interop with the npm @sd-jwt libraries (versions pinned in package-lock.json).
// (a) @sd-jwt/core verifies SD-JWTs mandated issued (signature with the issuer's public JWK only,
//     disclosures, claims), and each hop of a chain mandated built (hop signature with the key the
//     previous hop binds in cnf, sd_hash recomputed with the library's hasher); an altered
//     disclosure must never show its altered value.
// (b) With an agent key the library generated, it builds what an agent presents to mandated: an
//     RFC 9901 SD-JWT+KB (core's present with kb), Delegate-SD-JWT hops issued by core with the
//     agent key (typ kb+sd-jwt / kb+sd-jwt+kb, sd_hash or issuer_jwt_hash over the exact previous
//     hop), and deliberately wrong ones (nonce, signer) mandated must refuse.
// Usage: node ap2_sdjwt.mjs INPUT.json -> prints one JSON object.
// INPUT {"mode":"keygen"} -> {"agent":{"public_jwk","private_jwk"},"sub":{...}}
// INPUT {"mode":"verify","issuer_jwk","issued":[{"name","token"}],"now"?} -> {"verified":[...]}
//   (as below; "now" is the verifier's clock in Unix seconds)
// INPUT {"mode":"close","open","agent":{"private_jwk"},"claims"} -> {"chain"}: the open mandate
//   closed by a kb+sd-jwt hop the library issues with the agent key (payee disclosable)
// INPUT {"mode":"run","issuer_jwk","issued":[{"name","token"}],"chain":{"name","token"},
//        "agent":{private_jwk, public_jwk},"sub":{...},"aud","nonce","iat"}
//   -> {"verified":[{"name","ok","error"?,"header","claims","sd_alg",
//                     "disclosures":[{"key"?,"value","digest","referenced"}],
//                     "altered":{"ok","error"?,"shows_altered_value"}}],
//       "chain":{"root_ok","hop_ok","hop_typ","sd_hash_matches","hop_claims","error"?},
//       "built":{"<name>": "<presentation>"}}
import { readFileSync } from 'node:fs';
import { SDJwtInstance } from '@sd-jwt/core';
import { ES256, digest, generateSalt } from '@sd-jwt/crypto-nodejs';
import { decodeSdJwt } from '@sd-jwt/decode';
import { present } from '@sd-jwt/present';
import { uint8ArrayToBase64Url } from '@sd-jwt/utils';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const hasher = (data, alg) => digest(data, alg);
const b64hash = (s, alg = 'sha-256') => uint8ArrayToBase64Url(digest(s, alg));
// The verifier's clock: "now" (Unix seconds) when the caller runs a service on a fake clock.
const timeOptions = input.now ? { currentDate: input.now } : undefined;
const publicOnly = (jwk) => ({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y });

async function keygen() {
  const agent = await ES256.generateKeyPair();
  const sub = await ES256.generateKeyPair();
  return {
    agent: { public_jwk: publicOnly(agent.publicKey), private_jwk: agent.privateKey },
    sub: { public_jwk: publicOnly(sub.publicKey), private_jwk: sub.privateKey },
  };
}

function verifierFor(jwk) {
  return new SDJwtInstance({
    hasher,
    verifier: async (data, sig) => (await ES256.getVerifier(jwk))(data, sig),
  });
}

// A library-issuing instance signing with `privateJwk`.
async function issuerFor(privateJwk, hashAlg = 'sha-256') {
  return new SDJwtInstance({
    hasher,
    hashAlg,
    saltGenerator: generateSalt,
    signer: await ES256.getSigner(privateJwk),
    signAlg: ES256.alg,
  });
}

// Re-encodes the first disclosure with its value replaced (the salt and name kept).
function alterFirstDisclosure(token) {
  const parts = token.split('~');
  const arr = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  arr[arr.length - 1] = { altered: 'ALTERED-VALUE' };
  parts[1] = Buffer.from(JSON.stringify(arr), 'utf8').toString('base64url');
  return parts.join('~');
}

async function verifyIssued(entry) {
  const out = { name: entry.name };
  try {
    const r = await verifierFor(input.issuer_jwk).verify(entry.token, timeOptions);
    out.ok = true;
    out.header = r.header;
    out.claims = r.payload;
  } catch (e) {
    out.ok = false;
    out.error = String(e.message ?? e);
  }
  const decoded = await decodeSdJwt(entry.token, hasher);
  const alg = decoded.jwt.payload._sd_alg ?? 'sha-256';
  out.sd_alg = alg;
  // Every digest the token carries, in the signed payload and inside disclosed values.
  const carried = new Set();
  const collect = (v) => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === '_sd') x.forEach((d) => carried.add(d));
        else if (k === '...') carried.add(x);
        else collect(x);
      }
    }
  };
  collect(decoded.jwt.payload);
  decoded.disclosures.forEach((d) => collect(d.value));
  out.disclosures = decoded.disclosures.map((d) => {
    const digest = b64hash(d.encode(), alg);
    return { key: d.key, value: d.value, digest, referenced: carried.has(digest) };
  });
  const altered = alterFirstDisclosure(entry.token);
  try {
    const r = await verifierFor(input.issuer_jwk).verify(altered, timeOptions);
    out.altered = { ok: true, shows_altered_value: JSON.stringify(r.payload).includes('ALTERED-VALUE') };
  } catch (e) {
    out.altered = { ok: false, error: String(e.message ?? e), shows_altered_value: false };
  }
  return out;
}

// Verifies a two-hop chain hop by hop: root with the issuer key, the hop with the root's cnf key.
async function verifyChain(token) {
  const out = {};
  try {
    const [root, hop] = [token.slice(0, token.indexOf('~~') + 1), token.slice(token.indexOf('~~') + 2)];
    const r = await verifierFor(input.issuer_jwk).verify(root);
    out.root_ok = true;
    const h = await verifierFor(r.payload.cnf.jwk).verify(hop);
    out.hop_ok = true;
    out.hop_typ = h.header.typ;
    out.hop_claims = h.payload;
    out.sd_hash_matches = h.payload.sd_hash === b64hash(root, r.payload._sd_alg ?? 'sha-256');
  } catch (e) {
    out.error = String(e.message ?? e);
  }
  return out;
}

async function build() {
  const { aud, nonce, iat } = input;
  const root = input.issued.find((e) => e.name === 'payment-open-sha256').token;
  const built = {};
  // RFC 9901 SD-JWT+KB: core's present() with a KB-JWT signed by the agent, revealing the amount
  // constraint and only the second allowed payee.
  const holder = new SDJwtInstance({
    hasher,
    kbSigner: await ES256.getSigner(input.agent.private_jwk),
    kbSignAlg: ES256.alg,
  });
  built.kb_presentation = await holder.present(root, { constraints: { 0: true, 2: true } },
    { kb: { payload: { iat, aud, nonce } } });
  // With a frame reaching into a disclosed array element (one payee of the payee list), core
  // 0.19.0's present() computes the KB-JWT's sd_hash over three disclosures but emits two: the
  // KB-JWT does not cover what is presented, and mandated must refuse it.
  const frame = { constraints: { 0: true, 1: { allowed: { 1: true } } } };
  built.kb_presentation_nested = await holder.present(root, frame,
    { kb: { payload: { iat, aud, nonce } } });
  // The same selection without a KB-JWT: the open mandate as the agent passes it on.
  const presented = await present(root, frame, hasher);
  const agentIssuer = await issuerFor(input.agent.private_jwk);
  const closed = {
    vct: 'mandate.payment.1',
    transaction_id: input.transaction_id,
    payee: { id: 'merchant-2', name: 'Two' },
    payment_amount: { amount: 1250, currency: 'USD' },
    payment_instrument: { id: 'inst-1', type: 'card' },
    iat, aud, nonce,
  };
  const closedFrame = { _sd: ['payee', 'payment_instrument'] };
  const terminal = { header: { typ: 'kb+sd-jwt' } };
  // Terminal hop bound with sd_hash over the presented open mandate.
  built.closed_sd_hash = presented + '~' + await agentIssuer.issue(
    { ...closed, sd_hash: b64hash(presented) }, closedFrame, terminal);
  // Terminal hop bound with issuer_jwt_hash, issued under sha-384.
  const agent384 = await issuerFor(input.agent.private_jwk, 'sha-384');
  built.closed_issuer_jwt_hash = presented + '~' + await agent384.issue(
    { ...closed, issuer_jwt_hash: b64hash(presented.split('~')[0]) }, closedFrame, terminal);
  // Intermediate hop delegating to the sub-agent, then the sub-agent's terminal hop.
  const mid = await agentIssuer.issue(
    { vct: 'mandate.payment.open.1', cnf: { jwk: input.sub.public_jwk }, sd_hash: b64hash(presented) },
    undefined, { header: { typ: 'kb+sd-jwt+kb' } });
  const subIssuer = await issuerFor(input.sub.private_jwk, 'sha-512');
  built.delegated = presented + '~' + mid + '~' + await subIssuer.issue(
    { ...closed, sd_hash: b64hash(mid) }, closedFrame, terminal);
  // Refusals: another nonce; signed by a key the open mandate does not bind.
  built.wrong_nonce = presented + '~' + await agentIssuer.issue(
    { ...closed, nonce: 'not-the-challenge', sd_hash: b64hash(presented) }, closedFrame, terminal);
  built.wrong_signer = presented + '~' + await subIssuer.issue(
    { ...closed, sd_hash: b64hash(presented) }, closedFrame, terminal);
  return built;
}

// Closes an open payment mandate the service issued: a terminal hop signed with the agent key,
// bound by sd_hash to the open mandate exactly as received.
async function close() {
  const agentIssuer = await issuerFor(input.agent.private_jwk);
  const hop = await agentIssuer.issue({ ...input.claims, sd_hash: b64hash(input.open) },
    { _sd: ['payee'] }, { header: { typ: 'kb+sd-jwt' } });
  return { chain: input.open + '~' + hop };
}

async function main() {
  if (input.mode === 'keygen') return keygen();
  if (input.mode === 'close') return close();
  if (input.mode === 'verify') {
    const verified = [];
    for (const entry of input.issued) verified.push(await verifyIssued(entry));
    return { verified };
  }
  const verified = [];
  for (const entry of input.issued) verified.push(await verifyIssued(entry));
  return { verified, chain: await verifyChain(input.chain.token), built: await build() };
}

main().then(
  (r) => process.stdout.write(JSON.stringify(r)),
  (e) => { process.stdout.write(JSON.stringify({ fatal: String(e.stack ?? e) })); process.exitCode = 1; },
);
