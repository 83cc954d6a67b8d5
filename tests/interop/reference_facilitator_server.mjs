// The reference x402 facilitator's verify behind plain node:http, for bench/x402_load.sh to drive.
//
// usage: node reference_facilitator_server.mjs --vector <vector.json> [--port 0] [--host 127.0.0.1]
//
// Serves POST /verify with the facilitator HTTP API's body ({"x402Version", "paymentPayload",
// "paymentRequirements"}) and answers what @x402/core's x402Facilitator, with @x402/evm's
// ExactEvmScheme registered for the vector's network, returns: 200 with the VerifyResponse (valid
// or not), 400 when a field is missing, 500 when verify throws. Once listening it prints
// {"port": N} as one line on stdout.
//
// No chain is reached: the facilitator's signer is a stand-in written here that answers the reads
// verify makes for the vector's token. The payer (any address but the token's) has no code, so
// its signature goes through the reference's ECDSA recovery; the token has code, answers name()
// and version() from the vector's requirements.extra, a large balanceOf, authorizationState
// false, and its transferWithAuthorization simulation succeeds without further checks. The
// reference's own work per verify (decoding, EIP-712 hashing, secp256k1 recovery, the checks and
// its calls into the signer) is what a request costs here.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

import { x402Facilitator } from "@x402/core/facilitator";
import { ExactEvmScheme } from "@x402/evm/exact/facilitator";
import { getAddress, isAddressEqual, verifyTypedData } from "viem";

function parseArgs(argv) {
  const opts = { port: 0, host: "127.0.0.1", vector: "" };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--port") opts.port = Number(value);
    else if (flag === "--host") opts.host = value;
    else if (flag === "--vector") opts.vector = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!opts.vector) throw new Error("--vector <vector.json> is required");
  return opts;
}

// What the facilitator's signer would read from a node, for one EIP-3009 token and EOA payers.
function standInSigner({ asset, name, version }) {
  const token = getAddress(asset);
  const bytecode = "0x6080604052"; // any non-empty code: the reference only checks that it is there
  return {
    getAddresses() {
      return ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]; // never sends anything in verify
    },
    async getCode({ address }) {
      return isAddressEqual(address, token) ? bytecode : "0x";
    },
    async verifyTypedData(params) {
      return verifyTypedData(params);
    },
    async readContract({ address, functionName }) {
      if (!isAddressEqual(address, token)) {
        throw new Error(`stand-in signer: no contract at ${address} for ${functionName}`);
      }
      switch (functionName) {
        case "transferWithAuthorization":
          return undefined; // the simulated call succeeds
        case "balanceOf":
          return 10n ** 30n;
        case "authorizationState":
          return false;
        case "name":
          return name;
        case "version":
          return version;
        case "decimals":
          return 6;
        default:
          throw new Error(`stand-in signer: the token has no ${functionName}`);
      }
    },
    async writeContract() {
      throw new Error("stand-in signer: verify only");
    },
    async sendTransaction() {
      throw new Error("stand-in signer: verify only");
    },
    async waitForTransactionReceipt() {
      throw new Error("stand-in signer: verify only");
    },
  };
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function handleVerify(facilitator, raw, res) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    send(res, 400, { error: "Invalid JSON" });
    return;
  }
  const { paymentPayload, paymentRequirements } = body ?? {};
  if (!paymentPayload || !paymentRequirements) {
    send(res, 400, { error: "Missing paymentPayload or paymentRequirements" });
    return;
  }
  try {
    send(res, 200, await facilitator.verify(paymentPayload, paymentRequirements));
  } catch (e) {
    send(res, 500, { error: e instanceof Error ? e.message : String(e) });
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const vector = JSON.parse(readFileSync(opts.vector, "utf8"));
  const requirements = vector.facilitatorRequests["POST /verify"].paymentRequirements;
  const signer = standInSigner({
    asset: requirements.asset,
    name: requirements.extra.name,
    version: requirements.extra.version,
  });
  const facilitator = new x402Facilitator().register(
    [requirements.network],
    new ExactEvmScheme(signer),
  );

  const server = createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/verify") {
      send(res, 404, { error: "Not found" });
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      handleVerify(facilitator, Buffer.concat(chunks).toString("utf8"), res);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(opts.port, opts.host, () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
}

main();
