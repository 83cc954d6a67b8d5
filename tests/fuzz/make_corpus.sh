#!/usr/bin/env bash
# Rebuilds the committed seed corpora tests/fuzz/corpus/<target>/ from the test vectors
# (tests/vectors/) and from inputs our own code makes (tokens signed by the fuzz targets' fixed
# keys, audit export bundles: the fuzz_make_seeds program). Needs jq and a configured build
# directory with tests (default build/dev):
#   tests/fuzz/make_corpus.sh [build dir]
# Seeds are small (a few KB); the fuzzers' own discoveries are not committed (scripts/fuzz.sh
# keeps them under the build directory), except the inputs of fixed findings, kept as
# corpus/<target>/regress-* (specs/testing.md §1.3), which a rebuild keeps.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build/dev}"
out=tests/fuzz/corpus
vec=tests/vectors
kept=$(mktemp -d)
trap 'rm -rf "$kept"' EXIT
(cd "$out" 2>/dev/null && find . -name 'regress-*' -exec cp --parents {} "$kept" \;) || true
rm -rf "$out"
mkdir -p "$out"/{json,jws,credential,did,x402,eip712,status_list,audit_bundle,sd_jwt}
cp -r "$kept"/. "$out"/

# put <target> <name> <content>: one seed file.
put() { printf '%s' "$3" > "$out/$1/$2"; }
# put_each <target> <prefix> <jq filter> <file>: one seed per string the filter yields.
put_each() {
  local i=0 line
  while IFS= read -r line; do
    put "$1" "$2-$i" "$line"
    i=$((i + 1))
  done < <(jq -r "$3" "$4")
}

# json: request bodies of each kind, edge cases of the strict rules (specs/errors.md §JSON).
put json body-mandate '{"agent_id":"agt_1","terms":{"limits":{"lifetime":[{"asset":"USD","max":"500"}]}},"valid_until":"2026-02-01T00:00:00Z"}'
put json body-authorize '{"mandate_id":"mnd_1","amount":"1250","asset":"USD","payee":{"did":"did:web:shop.example"},"resource":"https://api.shop.example/v1/x"}'
put json escapes '{"s":"\u00e9\ud83d\ude00\n\t\"\\\/","n":[0,-0,1.5e-3,1E+2,18446744073709551616],"b":[true,false,null]}'
put json nested '[[[[[[[[[[{"a":[{"b":{}}]}]]]]]]]]]]'
put json duplicate '{"amount":"100","amount":"999999"}'
put json utf8 '"café € 😀"'
put json trailing '{"a":1} x'
jq -c '.tokenStatusList.statusListJwtExample' $vec/status-list/token-status-list.json > $out/json/vector-status-list
jq -c '.decodedPaymentPayload' $vec/x402/vector_v2_base_sepolia_usdc_10000.json > $out/json/vector-x402-payload

# jws: the did:key JWS self-test tokens, valid and invalid.
put_each jws selftest-valid '.valid[].token' $vec/jws/didkey-jws-selftest.json
put_each jws selftest-invalid '.invalid[].token' $vec/jws/didkey-jws-selftest.json
put jws rfc8037 "$(jq -r '.jws' $vec/jws/rfc8037-ed25519.json)"

# did: every did:key vector (valid and refused), did:pkh documents, addresses.
put_each did positive '.positive[].did' $vec/did-key/did-key-derived.json
put_each did positive-vm '.positive[:3][].verificationMethodId' $vec/did-key/did-key-derived.json
put_each did positive-jwk '.positive[:3][].publicKeyJwk | tojson' $vec/did-key/did-key-derived.json
put_each did negative '.negative[].did' $vec/did-key/did-key-derived.json
i=0
for f in $vec/did-pkh/*.jsonld; do
  jq -c . "$f" > "$out/did/did-pkh-document-$i"
  i=$((i + 1))
done
put did address-eip55 '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913'
put did address-lower '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913'

# x402: the headers each vector's client and server sent, v1 and v2.
i=0
for f in $vec/x402/vector_*.json; do
  jq -r '.http.requestHeaderValue' "$f" > "$out/x402/request-$i"
  jq -r '.http.status402Headers["PAYMENT-REQUIRED"] // empty' "$f" > "$out/x402/required-$i"
  jq -c '.http.status402Body | select(. != {})' "$f" | tr -d '\n' | base64 -w0 > "$out/x402/body402-$i"
  i=$((i + 1))
done
find "$out/x402" -type f -empty -delete
put x402 settle-response "$(jq -r '.["PAYMENT-RESPONSE header value for the v2 settle"] | if type == "string" then . else tojson end' $vec/x402/facilitator_api_examples.json)"

# eip712: eth_signTypedData_v4 inputs (the EIP's Mail example; EIP-3009; arrays and ints).
put eip712 mail '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}'
put eip712 eip3009 '{"types":{"TransferWithAuthorization":[{"name":"from","type":"address"},{"name":"to","type":"address"},{"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},{"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"}]},"primaryType":"TransferWithAuthorization","domain":{"name":"USDC","version":"2","chainId":84532,"verifyingContract":"0x036CbD53842c5426634e7929541eC2318f3dCF7e"},"message":{"from":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","value":"10000","validAfter":"0","validBefore":"1767225660","nonce":"0x5c6e0c0c5b1a4f2e8d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6"}}'
put eip712 arrays '{"types":{"T":[{"name":"v","type":"int256[]"},{"name":"m","type":"uint8[2][]"},{"name":"b","type":"bytes"},{"name":"b4","type":"bytes4"},{"name":"s","type":"S[]"},{"name":"ok","type":"bool"}],"S":[{"name":"x","type":"string"}]},"primaryType":"T","domain":{"name":"A","salt":"0x0000000000000000000000000000000000000000000000000000000000000001"},"message":{"v":[-1,"0x1f","-57896044618658097711785492504343953926634992332820282019728792003956564819968"],"m":[[1,2],[3,255]],"b":"0x","b4":"0xdeadBEEF","s":[{"x":"y"}],"ok":true}}'
put eip712 domain-only '{"types":{"EIP712Domain":[{"name":"name","type":"string"}]},"primaryType":"EIP712Domain","domain":{"name":"x"}}'
put eip712 recursive '{"types":{"A":[{"name":"b","type":"B"}],"B":[{"name":"a","type":"A[]"}]},"primaryType":"A","domain":{},"message":{"b":{"a":[{"b":{"a":[]}}]}}}'

# status_list: first byte 0x00-0x7f picks the bit width (index % 6 of 1,2,4,8 and two invalid
# widths) for a bare "lst"; 0x80 and above, a statuslist+jwt payload.
bits_byte() { case "$1" in 1) printf '\x00' ;; 2) printf '\x01' ;; 4) printf '\x02' ;; 8) printf '\x03' ;; esac; }
for ex in example1 example2; do
  b=$(jq -r ".tokenStatusList.$ex.bits" $vec/status-list/token-status-list.json)
  { bits_byte "$b"; jq -r ".tokenStatusList.$ex.lst" $vec/status-list/token-status-list.json | tr -d '\n'; } > "$out/status_list/lst-$ex"
done
{ printf '\x80'; jq -c '.tokenStatusList.statusListJwtExample.payload' $vec/status-list/token-status-list.json | tr -d '\n'; } > "$out/status_list/jwt-payload"
# A zlib bomb: 64 KiB of zeros (past the targets' 4 KiB limit), 2 bits per status.
{ printf '\x01'; head -c 65536 /dev/zero | python3 -c 'import sys,zlib,base64;sys.stdout.write(base64.urlsafe_b64encode(zlib.compress(sys.stdin.buffer.read(),9)).decode().rstrip("="))'; } > "$out/status_list/bomb"

# Signed tokens, credentials, did:web documents and audit bundles from our own code.
ninja -C "$build" fuzz_make_seeds >/dev/null
"$build/tests/fuzz/fuzz_make_seeds" "$out"

for d in "$out"/*; do
  echo "make_corpus: $(basename "$d"): $(find "$d" -type f | wc -l) files, $(du -sk "$d" | cut -f1) KB"
done
