// Pays the demo merchant with the reference x402 clients: x402-fetch (v1) and @x402/fetch (v2).
//
// usage: node pay_demo.mjs --merchant URL [--key 0x<64 hex>] [--only v1|v2]
//
// GETs URL/v1/premium through x402-fetch's wrapFetchWithPayment and URL/v2/premium through
// @x402/fetch's, both signing with --key (default: the public Anvil account #1 development key,
// address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8; never use it for real funds). For each
// call it prints one JSON line on stdout:
//   {"call":"v1"|"v2", "client", "url", "status", "body", "payment_required", "payment_header":
//    {"name","value"}, "payment_response_header", "payment_response", "error"?}
// where payment_required is the merchant's 402 (v1 body, or v2 PAYMENT-REQUIRED decoded),
// payment_header the header the client paid with, and payment_response the decoded
// X-PAYMENT-RESPONSE / PAYMENT-RESPONSE. It exits 0 when every call printed a line, even a
// refused one (the status says so); 1 on a usage or internal error.
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { toClientEvmSigner } from "@x402/evm";
import {
  decodePaymentResponseHeader,
  wrapFetchWithPayment as wrapFetchV2,
  x402Client,
} from "@x402/fetch";
import { privateKeyToAccount } from "viem/accounts";
import { createSigner, decodeXPaymentResponse, wrapFetchWithPayment as wrapFetchV1 } from "x402-fetch";

const USAGE = `usage: node pay_demo.mjs --merchant URL [--key 0x<64 hex>] [--only v1|v2]

Pays URL/v1/premium with x402-fetch (x402 v1) and URL/v2/premium with @x402/fetch (x402 v2) and
prints one JSON line per call (status, body, the payment header sent, the decoded settlement).
--key defaults to the public Anvil #1 development key (0x70997970...79C8).
`;

const ANVIL_1_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

function fail(message) {
  process.stderr.write(`pay_demo: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { merchant: "", key: ANVIL_1_KEY, only: "" };
  const flags = { "--merchant": "merchant", "--key": "key", "--only": "only" };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--help" || argv[i] === "-h") {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const [name, inline] = argv[i].includes("=") ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const key = flags[name];
    if (key === undefined) fail(`unknown argument ${argv[i]}`);
    const value = inline ?? argv[++i];
    if (value === undefined) fail(`${name} needs a value`);
    opts[key] = value;
  }
  if (!/^https?:\/\/\S+$/.test(opts.merchant)) fail("--merchant URL is required");
  opts.merchant = opts.merchant.replace(/\/+$/, "");
  if (!/^0x[0-9a-fA-F]{64}$/.test(opts.key)) fail("--key must be 0x + 64 hex digits");
  if (!["", "v1", "v2"].includes(opts.only)) fail("--only must be v1 or v2");
  return opts;
}

// A fetch that remembers the last request's payment header and the last 402 it saw.
function recordingFetch(seen) {
  return async (input, init) => {
    const request = new Request(input, init);
    for (const name of ["PAYMENT-SIGNATURE", "X-PAYMENT"]) {
      const value = request.headers.get(name);
      if (value) seen.paymentHeader = { name, value };
    }
    const response = await fetch(request);
    if (response.status === 402) {
      const header = response.headers.get("PAYMENT-REQUIRED");
      if (header) {
        seen.paymentRequired = decodePaymentRequiredHeader(header);
      } else {
        seen.paymentRequired = await response.clone().json().catch(() => null);
      }
    }
    return response;
  };
}

async function readBody(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// One paid GET: `wrap(fetch)` is the reference client's wrapped fetch; `responseHeader` names the
// settlement header of that version and `decode` is the client library's decoder for it.
async function payOnce(call, client, url, wrap, responseHeader, decode) {
  const seen = {};
  const out = { call, client, url };
  try {
    const response = await wrap(recordingFetch(seen))(url, { method: "GET" });
    out.status = response.status;
    out.body = await readBody(response);
    const raw = response.headers.get(responseHeader);
    out.payment_response_header = raw ?? null;
    out.payment_response = raw ? decode(raw) : null;
  } catch (e) {
    out.error = e instanceof Error ? e.message : String(e);
  }
  out.payment_required = seen.paymentRequired ?? null;
  out.payment_header = seen.paymentHeader ?? null;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));

  if (opts.only !== "v2") {
    // x402-fetch: a viem wallet client on Base Sepolia; it pays at most 0.1 USDC by default.
    const wallet = await createSigner("base-sepolia", opts.key);
    await payOnce(
      "v1",
      "x402-fetch@1.2.0",
      `${opts.merchant}/v1/premium`,
      (f) => wrapFetchV1(f, wallet),
      "X-PAYMENT-RESPONSE",
      decodeXPaymentResponse,
    );
  }
  if (opts.only !== "v1") {
    // @x402/fetch: the exact EVM scheme for every eip155 chain, default spend controls
    // (known assets only, at most $1 a payment).
    const signer = toClientEvmSigner(privateKeyToAccount(opts.key));
    const client = new x402Client().register("eip155:*", new ExactEvmScheme(signer));
    await payOnce(
      "v2",
      "@x402/fetch@2.27.0",
      `${opts.merchant}/v2/premium`,
      (f) => wrapFetchV2(f, client),
      "PAYMENT-RESPONSE",
      decodePaymentResponseHeader,
    );
  }
}

main().catch((e) => {
  process.stderr.write(`pay_demo: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
