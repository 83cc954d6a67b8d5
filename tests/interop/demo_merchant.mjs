// Demo merchant: sells one resource over x402 v1 and v2, with mandated as its facilitator.
//
// GET /v1/premium is protected by x402-express (x402 v1, network base-sepolia) and GET
// /v2/premium by @x402/express (x402 v2, network eip155:84532); both are priced in Base Sepolia
// USDC base units and paid to one fixed merchant address. Payments are verified and settled by
// the facilitator at --facilitator (mandated's /x402), called with the merchant credential's
// Bearer token. GET /healthz is free. When it listens it prints one JSON line on stdout:
//   {"ready":true,"port":...,"url":...,"facilitator":...,"pay_to":...,"routes":[...]}
// and it stops cleanly on SIGINT or SIGTERM.
//
// It lives beside tests/interop/node_modules because Node resolves ES-module packages relative
// to the script. Run `npm ci` in tests/interop first.
import { HTTPFacilitatorClient } from "@x402/core/server";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import {
  paymentMiddlewareFromHTTPServer,
  x402HTTPResourceServer,
  x402ResourceServer,
} from "@x402/express";
import express from "express";
import { paymentMiddleware as paymentMiddlewareV1 } from "x402-express";

const USAGE = `usage: node demo_merchant.mjs --facilitator URL [options]

Serves GET /v1/premium (x402 v1, base-sepolia) and GET /v2/premium (x402 v2, eip155:84532),
both paid in Base Sepolia USDC through the facilitator at URL (mandated: http://HOST:PORT/x402).

options:
  --facilitator URL      the facilitator's base URL (or env MANDATED_FACILITATOR_URL)
  --merchant-token TOKEN Bearer token of a mandated credential with role merchant, sent to
                         /verify and /settle (or env MANDATED_MERCHANT_TOKEN)
  --host HOST            address to listen on (default 127.0.0.1)
  --port N               port to listen on; 0 picks a free one (default 4021)
  --pay-to ADDRESS       the merchant's address, 0x + 40 hex (default ${"0x90F79bf6EB2c4f870365E785982E1f101E93b906"})
  --price-v1 UNITS       price of /v1/premium in USDC base units (default 10000 = 0.01 USDC)
  --price-v2 UNITS       price of /v2/premium in USDC base units (default 2500 = 0.0025 USDC)
  --help                 this text

When ready it prints one JSON line on stdout with the port and the routes; logs go to stderr.
`;

// Base Sepolia USDC: the token both routes are priced in, and its EIP-712 domain.
const USDC = {
  address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
  decimals: 6,
  eip712: { name: "USDC", version: "2" },
};
// Anvil account #3: a well-known development address, never one with real funds.
const DEFAULT_PAY_TO = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

function fail(message) {
  process.stderr.write(`demo_merchant: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    facilitator: process.env.MANDATED_FACILITATOR_URL ?? "",
    merchantToken: process.env.MANDATED_MERCHANT_TOKEN ?? "",
    host: "127.0.0.1",
    port: 4021,
    payTo: DEFAULT_PAY_TO,
    priceV1: "10000",
    priceV2: "2500",
  };
  const flags = {
    "--facilitator": "facilitator",
    "--merchant-token": "merchantToken",
    "--host": "host",
    "--port": "port",
    "--pay-to": "payTo",
    "--price-v1": "priceV1",
    "--price-v2": "priceV2",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const [name, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const key = flags[name];
    if (key === undefined) fail(`unknown argument ${arg}`);
    const value = inline ?? argv[++i];
    if (value === undefined) fail(`${name} needs a value`);
    opts[key] = value;
  }
  if (!/^https?:\/\/\S+$/.test(opts.facilitator)) fail("--facilitator URL is required (http or https)");
  opts.facilitator = opts.facilitator.replace(/\/+$/, "");
  if (!/^0x[0-9a-fA-F]{40}$/.test(opts.payTo)) fail("--pay-to must be 0x + 40 hex digits");
  for (const k of ["priceV1", "priceV2"]) {
    if (!/^[1-9][0-9]{0,17}$/.test(opts[k])) fail(`--price-${k.slice(-2).toLowerCase()} must be a positive integer`);
  }
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail("--port must be 0..65535");
  opts.port = port;
  return opts;
}

// The resource both routes sell; `version` says which protocol paid for it.
function premium(version) {
  return {
    resource: "premium",
    x402Version: version,
    data: { pair: "ETH-USD", note: "demo data, paid for with x402 through mandated" },
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const auth = opts.merchantToken ? { Authorization: `Bearer ${opts.merchantToken}` } : {};
  const description = "Premium demo data";

  // x402 v2: @x402/express over x402ResourceServer, the exact EVM scheme on Base Sepolia.
  const facilitatorV2 = new HTTPFacilitatorClient({
    url: opts.facilitator,
    // GET /supported needs no credential; verify and settle carry the merchant's.
    createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: {} }),
  });
  const resourceServer = new x402ResourceServer(facilitatorV2).register(
    "eip155:84532",
    new ExactEvmScheme(),
  );
  const httpServer = new x402HTTPResourceServer(resourceServer, {
    "GET /v2/premium": {
      accepts: {
        scheme: "exact",
        network: "eip155:84532",
        payTo: opts.payTo,
        price: { amount: opts.priceV2, asset: USDC.address, extra: USDC.eip712 },
        maxTimeoutSeconds: 60,
      },
      description,
      mimeType: "application/json",
    },
  });
  // Fetches /supported and checks the route against it now, so a wrong URL fails at start.
  try {
    await httpServer.initialize();
  } catch (e) {
    process.stderr.write(
      `demo_merchant: the facilitator at ${opts.facilitator} did not answer /supported with ` +
        `exact on eip155:84532: ${e instanceof Error ? e.message : String(e)}\n`,
    );
    process.exit(1);
  }

  const app = express();
  app.get("/healthz", (_req, res) => res.json({ status: "ok" }));
  // x402 v1: x402-express; its facilitator config takes per-endpoint headers the same way.
  app.use(
    paymentMiddlewareV1(
      opts.payTo,
      {
        "GET /v1/premium": {
          price: { amount: opts.priceV1, asset: USDC },
          network: "base-sepolia",
          config: { description, mimeType: "application/json", maxTimeoutSeconds: 60 },
        },
      },
      {
        url: opts.facilitator,
        createAuthHeaders: async () => ({ verify: auth, settle: auth, supported: {} }),
      },
    ),
  );
  app.use(paymentMiddlewareFromHTTPServer(httpServer, undefined, undefined, false));
  app.get("/v1/premium", (_req, res) => res.json(premium(1)));
  app.get("/v2/premium", (_req, res) => res.json(premium(2)));

  const server = app.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    const url = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}`;
    const ready = {
      ready: true,
      port,
      url,
      facilitator: opts.facilitator,
      pay_to: opts.payTo,
      routes: [
        { path: "/v1/premium", x402Version: 1, network: "base-sepolia", asset: USDC.address, amount: opts.priceV1 },
        { path: "/v2/premium", x402Version: 2, network: "eip155:84532", asset: USDC.address, amount: opts.priceV2 },
      ],
    };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  server.on("error", (e) => {
    process.stderr.write(`demo_merchant: cannot listen on ${opts.host}:${opts.port}: ${e.message}\n`);
    process.exit(1);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((e) => {
  process.stderr.write(`demo_merchant: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
