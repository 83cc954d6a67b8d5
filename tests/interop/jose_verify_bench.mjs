// The jose side of the JWS verification comparison (bench/run.sh, BENCHMARKS.md "Peer: jose"):
// verifies the tokens that `signer_bench --export-jws FILE` wrote, with their public JWKs, as
// fast as one Node.js thread can, and prints one JSON line per algorithm.
// Usage: node jose_verify_bench.mjs FILE [seconds per algorithm, default 2]
// jose 6 runs on WebCrypto, which has no secp256k1: ES256K is verified with jose 5 (node:crypto).
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import * as jose5 from 'jose5';

const [file, secondsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node jose_verify_bench.mjs FILE [seconds]');
  process.exit(2);
}
const seconds = Number(secondsArg ?? '2');
const cases = JSON.parse(readFileSync(file, 'utf8'));

for (const alg of ['EdDSA', 'ES256', 'ES256K']) {
  const { token, jwk } = cases[alg];
  const lib = alg === 'ES256K' ? jose5 : jose;
  const key = await lib.importJWK(jwk, alg);
  // Every verification must succeed: a rate of failures would compare nothing.
  const check = await lib.compactVerify(token, key);
  if (check.protectedHeader.alg !== alg) {
    throw new Error(`${alg}: verified with alg ${check.protectedHeader.alg}`);
  }
  const run = async (ms) => {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) await lib.compactVerify(token, key);
      n += 64;
    }
    return n;
  };
  await run(300);  // warm-up: JIT and key caches
  const start = performance.now();
  const n = await run(seconds * 1000);
  const elapsed = (performance.now() - start) / 1000;
  console.log(JSON.stringify({
    alg, library: alg === 'ES256K' ? 'jose 5 (node:crypto)' : 'jose 6 (WebCrypto)',
    verifies: n, seconds: Number(elapsed.toFixed(3)),
    ops_per_s: Math.round(n / elapsed), node: process.version,
  }));
}
