// Runs the reference x402 facilitators' verify on payment headers against a local stand-in chain.
//
// usage: node reference_verify.mjs <cases.json>
//
// <cases.json> is an array of cases:
//   {"name": "...",
//    "header": "<X-PAYMENT or PAYMENT-SIGNATURE value, base64>",
//    "requirements": {...the PaymentRequirements the payment is checked against...},
//    "now"?: unix seconds (default: the real clock),
//    "chain"?: {"balance"?: "<payer's token balance, base units>" (default 10^12),
//               "used_nonces"?: ["0x<64 hex>", ...] (the payer's spent EIP-3009 nonces),
//               "token"?: {"name", "version"} (what the token contract answers; default: the
//                         known USDC deployments below, else requirements.extra),
//               "payer_code"?: "0x..." (default "0x": an EOA),
//               "asset_code"?: "0x..." (default: some bytecode; "0x" = no contract there)}}
//
// For each case it decodes the header with the reference decoder of its version and prints, as
// one JSON array on stdout, {"name", "x402Version", "payer", "decoded", "schema", "x402_evm",
// "legacy_x402"?}: x402_evm is the VerifyResponse of @x402/core's x402Facilitator with
// @x402/evm's ExactEvmScheme (v2) or ExactEvmSchemeV1 (v1); legacy_x402 (v1 only) is x402's own
// facilitator verify. A verify that throws is reported as {"error": "<message>"}. What the
// libraries print on the console while verifying is collected in "console"? (an array of lines),
// so that stdout stays one JSON document even when read together with stderr.
//
// The stand-in chain answers the reads the verifiers make (eth_getCode, balanceOf, name, version,
// authorizationState, Multicall3 tryAggregate) and simulates transferWithAuthorization the way
// FiatToken v2 checks it: strict time window, unused nonce, ECRecover's v in {27, 28} and low s,
// the signer recovered from the token's own EIP-712 domain, and the balance. It never writes.
import { readFileSync } from "node:fs";

import { x402Facilitator } from "@x402/core/facilitator";
import { decodePaymentSignatureHeader } from "@x402/core/http";
import { PaymentPayloadV1Schema, PaymentPayloadV2Schema } from "@x402/core/schemas";
import { eip3009ABI, resetAssetContractCache } from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmSchemeV1 } from "@x402/evm/exact/v1/facilitator";
import {
  decodeFunctionData,
  encodeFunctionResult,
  getAddress,
  hashTypedData,
  hexToBigInt,
  isAddressEqual,
  recoverAddress,
  verifyTypedData,
} from "viem";
import { verify as legacyVerify } from "x402/facilitator";
import { exact } from "x402/schemes";
import { PaymentPayloadSchema as LegacyPaymentPayloadSchema } from "x402/types";

const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
const SOME_BYTECODE = "0x608060405234801561001057600080fd5b50";
const DEFAULT_BALANCE = 10n ** 12n;
// secp256k1 group order / 2: ECRecover refuses any s above it.
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

// The EIP-712 domains of well-known USDC deployments, as their contracts answer name()/version().
const KNOWN_TOKENS = new Map([
  ["84532/0x036cbd53842c5426634e7929541ec2318f3dcf7e", { name: "USDC", version: "2" }],
  ["8453/0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", { name: "USD Coin", version: "2" }],
  ["43114/0xb97ef9ef8734c71904d8002f8b6bc66dd9c48a6e", { name: "USD Coin", version: "2" }],
]);

const V1_CHAIN_IDS = {
  "base-sepolia": 84532,
  base: 8453,
  "avalanche-fuji": 43113,
  avalanche: 43114,
  polygon: 137,
};

// The chain id the stand-in chain takes for `network`, or null for a network it cannot place (a
// v1 name not above, a CAIP-2 id outside eip155): the verifiers refuse those before any
// simulation, and a simulation on such a chain fails.
function chainIdOf(network) {
  if (typeof network === "string" && network.startsWith("eip155:")) {
    return Number(network.slice("eip155:".length));
  }
  return V1_CHAIN_IDS[network] ?? null;
}

class Revert extends Error {}

// One chain's state as the verifiers see it: the payer's code, one EIP-3009 token at `asset`.
class StandInChain {
  constructor({ chainId, asset, payer, token, balance, usedNonces, payerCode, assetCode }) {
    this.chainId = chainId;
    this.asset = getAddress(asset);
    this.payer = getAddress(payer);
    this.token = token;
    this.balances = new Map([[this.payer.toLowerCase(), balance]]);
    this.used = new Set(usedNonces.map((n) => `${this.payer.toLowerCase()}/${n.toLowerCase()}`));
    this.payerCode = payerCode;
    this.assetCode = assetCode;
  }

  getAddresses() {
    // Anvil account #2: stands for the facilitator's own (never used) sending key.
    return ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"];
  }

  async getCode({ address }) {
    if (isAddressEqual(address, this.asset)) return this.assetCode;
    if (isAddressEqual(address, MULTICALL3)) return SOME_BYTECODE;
    if (isAddressEqual(address, this.payer)) return this.payerCode;
    return "0x";
  }

  async verifyTypedData(params) {
    return verifyTypedData(params);
  }

  async readContract({ address, functionName, args = [] }) {
    if (isAddressEqual(address, MULTICALL3) && functionName === "tryAggregate") {
      return this.tryAggregate(args[1]);
    }
    if (!isAddressEqual(address, this.asset) || this.assetCode === "0x") {
      throw new Revert(`stand-in chain: no contract answers ${functionName} at ${address}`);
    }
    return this.tokenCall(functionName, args);
  }

  async writeContract() {
    throw new Error("stand-in chain: read-only (verify never writes)");
  }
  async sendTransaction() {
    throw new Error("stand-in chain: read-only (verify never writes)");
  }
  async waitForTransactionReceipt() {
    throw new Error("stand-in chain: read-only (verify never writes)");
  }

  // Multicall3.tryAggregate(false, calls): each call's success and ABI-encoded answer.
  async tryAggregate(calls) {
    const results = [];
    for (const { target, callData } of calls) {
      try {
        if (!isAddressEqual(target, this.asset) || this.assetCode === "0x") {
          throw new Revert("no contract");
        }
        const { functionName, args } = decodeFunctionData({ abi: eip3009ABI, data: callData });
        const result = await this.tokenCall(functionName, args ?? []);
        const returnData =
          result === undefined
            ? "0x"
            : encodeFunctionResult({ abi: eip3009ABI, functionName, result });
        results.push({ success: true, returnData });
      } catch {
        results.push({ success: false, returnData: "0x" });
      }
    }
    return results;
  }

  async tokenCall(functionName, args) {
    switch (functionName) {
      case "name":
        return this.token.name;
      case "version":
        return this.token.version;
      case "decimals":
        return 6;
      case "balanceOf":
        return this.balances.get(getAddress(args[0]).toLowerCase()) ?? 0n;
      case "authorizationState":
        return this.used.has(`${getAddress(args[0]).toLowerCase()}/${args[1].toLowerCase()}`);
      case "transferWithAuthorization":
        await this.simulateTransferWithAuthorization(args);
        return undefined;
      default:
        throw new Revert(`stand-in chain: token has no ${functionName}`);
    }
  }

  // FiatToken v2's transferWithAuthorization checks, in its order; throws the revert text.
  async simulateTransferWithAuthorization(args) {
    const [from, to, value, validAfter, validBefore, nonce] = args;
    let v, r, s;
    if (args.length === 9) {
      [v, r, s] = args.slice(6);
    } else {
      const sig = args[6];
      if (typeof sig !== "string" || sig.length !== 132) {
        throw new Revert("stand-in chain: only 65-byte ECDSA signatures are modelled");
      }
      r = `0x${sig.slice(2, 66)}`;
      s = `0x${sig.slice(66, 130)}`;
      v = Number.parseInt(sig.slice(130, 132), 16);
    }
    if (this.chainId === null) throw new Revert("stand-in chain: no chain id to simulate on");
    const now = BigInt(Math.floor(Date.now() / 1000));
    if (!(now > BigInt(validAfter))) throw new Revert("FiatTokenV2: authorization is not yet valid");
    if (!(now < BigInt(validBefore))) throw new Revert("FiatTokenV2: authorization is expired");
    const key = `${getAddress(from).toLowerCase()}/${nonce.toLowerCase()}`;
    if (this.used.has(key)) throw new Revert("FiatTokenV2: authorization is used or canceled");
    if (hexToBigInt(s) > HALF_N) throw new Revert("ECRecover: invalid signature 's' value");
    const vNum = Number(v);
    if (vNum !== 27 && vNum !== 28) throw new Revert("ECRecover: invalid signature 'v' value");
    const digest = hashTypedData({
      domain: {
        name: this.token.name,
        version: this.token.version,
        chainId: this.chainId,
        verifyingContract: this.asset,
      },
      types: {
        TransferWithAuthorization: [
          { name: "from", type: "address" },
          { name: "to", type: "address" },
          { name: "value", type: "uint256" },
          { name: "validAfter", type: "uint256" },
          { name: "validBefore", type: "uint256" },
          { name: "nonce", type: "bytes32" },
        ],
      },
      primaryType: "TransferWithAuthorization",
      message: { from, to, value, validAfter, validBefore, nonce },
    });
    const signer = await recoverAddress({ hash: digest, signature: { r, s, v: BigInt(vNum) } });
    if (!isAddressEqual(signer, from)) throw new Revert("FiatTokenV2: invalid signature");
    const balance = this.balances.get(getAddress(from).toLowerCase()) ?? 0n;
    if (balance < BigInt(value)) throw new Revert("ERC20: transfer amount exceeds balance");
  }
}

// Runs `fn` with Date.now fixed at `now` seconds (when given).
async function atTime(now, fn) {
  if (now === undefined || now === null) return fn();
  const realNow = Date.now;
  Date.now = () => Number(now) * 1000;
  try {
    return await fn();
  } finally {
    Date.now = realNow;
  }
}

// Runs `fn` with the console's output collected in `lines` instead of printed.
async function quietly(lines, fn) {
  const saved = {};
  for (const k of ["log", "info", "warn", "error", "debug"]) {
    saved[k] = console[k];
    console[k] = (...args) =>
      lines.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(" "));
  }
  try {
    return await fn();
  } finally {
    Object.assign(console, saved);
  }
}

function plain(value) {
  return JSON.parse(
    JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)),
  );
}

async function settleOrError(fn) {
  try {
    return plain(await fn());
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

async function runCase(c) {
  const out = { name: c.name };
  const version = c.requirements?.maxAmountRequired !== undefined ? 1 : 2;
  let payload;
  try {
    payload = version === 1 ? exact.evm.decodePayment(c.header) : decodePaymentSignatureHeader(c.header);
  } catch (e) {
    out.decoded = false;
    out.error = `header does not decode: ${e instanceof Error ? e.message : String(e)}`;
    return out;
  }
  out.decoded = true;
  out.x402Version = payload.x402Version;
  out.payer = payload?.payload?.authorization?.from ?? "";
  const schema =
    payload.x402Version === 1
      ? LegacyPaymentPayloadSchema.safeParse(payload)
      : PaymentPayloadV2Schema.safeParse(payload);
  const schemaV1New = payload.x402Version === 1 ? PaymentPayloadV1Schema.safeParse(payload) : null;
  out.schema = {
    valid: schema.success && (schemaV1New === null || schemaV1New.success),
    ...(schema.success ? {} : { error: schema.error.issues.map((i) => i.message).join("; ") }),
  };

  const chainIn = c.chain ?? {};
  const chainId = chainIdOf(c.requirements.network);
  const token = chainIn.token ??
    KNOWN_TOKENS.get(`${chainId}/${String(c.requirements.asset).toLowerCase()}`) ?? {
      name: c.requirements.extra?.name ?? "",
      version: c.requirements.extra?.version ?? "",
    };
  const makeChain = () =>
    new StandInChain({
      chainId,
      asset: c.requirements.asset,
      payer: out.payer || "0x0000000000000000000000000000000000000000",
      token,
      balance: chainIn.balance !== undefined ? BigInt(chainIn.balance) : DEFAULT_BALANCE,
      usedNonces: chainIn.used_nonces ?? [],
      payerCode: chainIn.payer_code ?? "0x",
      assetCode: chainIn.asset_code ?? SOME_BYTECODE,
    });

  const logs = [];
  await quietly(logs, () => atTime(c.now, async () => {
    // @x402/evm caches "the asset is a contract" process-wide; each case has its own chain.
    resetAssetContractCache();
    const chain = makeChain();
    const facilitator = new x402Facilitator();
    if (payload.x402Version === 1) {
      facilitator.registerV1([c.requirements.network], new ExactEvmSchemeV1(chain));
    } else {
      facilitator.register([c.requirements.network], new ExactEvmScheme(chain));
    }
    out.x402_evm = await settleOrError(() => facilitator.verify(payload, c.requirements));
    if (payload.x402Version === 1) {
      out.legacy_x402 = await settleOrError(() =>
        legacyVerify(makeChain(), payload, c.requirements),
      );
    }
  }));
  if (logs.length > 0) out.console = logs;
  return out;
}

async function main() {
  if (process.argv.length !== 3 || process.argv[2] === "--help" || process.argv[2] === "-h") {
    process.stderr.write(
      "usage: node reference_verify.mjs <cases.json>\n" +
        "Verifies x402 payment headers with the reference facilitators (@x402/evm, x402) against\n" +
        "a local stand-in chain and prints one JSON array of results (see the file's header).\n",
    );
    process.exit(2);
  }
  const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
  const cases = Array.isArray(input) ? input : [input];
  const results = [];
  for (const c of cases) {
    results.push(await runCase(c));
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((e) => {
  process.stderr.write(`reference_verify: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
