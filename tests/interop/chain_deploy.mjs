// Compiles the test contracts (contracts/EIP3009Token.sol, contracts/BatchSettler.sol) with the
// pinned solc and deploys them with viem to a local node, then mints test tokens.
//
//   node chain_deploy.mjs RPC_URL [ADDRESS=AMOUNT ...]
//
// The deployer (and token owner) is the node's first funded development account, or the key in
// DEPLOYER_KEY. The compiler's output is cached in the temp directory by a hash of its input.
// Prints one JSON line:
//   {"chainId", "token", "batchSettler", "deployer", "tokenName", "tokenVersion", "minted":{...}}
// and exits non-zero with the reason on standard error when anything fails.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

// Account 0 of the development mnemonic "test test ... junk" that anvil funds by default.
const DEFAULT_DEPLOYER = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

async function compile() {
  const here = dirname(fileURLToPath(import.meta.url));
  const sources = {};
  for (const f of ['EIP3009Token.sol', 'BatchSettler.sol']) {
    sources[f] = { content: readFileSync(join(here, 'contracts', f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  // solcjs takes seconds; its output for the same input and compiler is cached in the temp dir.
  const text = JSON.stringify(input);
  const solcPackage = readFileSync(join(here, 'node_modules', 'solc', 'package.json'), 'utf8');
  const digest = createHash('sha256').update(solcPackage + '\n' + text).digest('hex');
  const cache = join(tmpdir(), 'mandated-contracts-' + digest.slice(0, 16) + '.json');
  let compiled;
  try {
    compiled = readFileSync(cache, 'utf8');
  } catch {
    const solc = (await import('solc')).default;  // slow to load: only on a miss
    compiled = solc.compile(text);
    writeFileSync(cache + '.' + process.pid, compiled);
    renameSync(cache + '.' + process.pid, cache);
  }
  const out = JSON.parse(compiled);
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const pick = (file, name) => {
    const c = out.contracts[file][name];
    return { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
  };
  return { token: pick('EIP3009Token.sol', 'EIP3009Token'), settler: pick('BatchSettler.sol', 'BatchSettler') };
}

async function main() {
  const [rpc, ...mints] = process.argv.slice(2);
  if (!rpc) throw new Error('usage: node chain_deploy.mjs RPC_URL [ADDRESS=AMOUNT ...]');
  const { token, settler } = await compile();
  const account = privateKeyToAccount(process.env.DEPLOYER_KEY || DEFAULT_DEPLOYER);
  const pub = createPublicClient({ transport: http(rpc) });
  const chainId = await pub.getChainId();
  const chain = { id: chainId, name: 'local', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
                  rpcUrls: { default: { http: [rpc] } } };
  const wallet = createWalletClient({ account, chain, transport: http(rpc) });

  // Sends, then mines when the node does not mine by itself, then checks the receipt.
  const settle = async (hash) => {
    let receipt = null;
    for (let i = 0; i < 200 && receipt === null; ++i) {
      receipt = await pub.getTransactionReceipt({ hash }).catch(() => null);
      if (receipt === null) {
        await pub.request({ method: 'evm_mine', params: [] }).catch(() => {});
      }
    }
    if (receipt === null || receipt.status !== 'success') throw new Error('transaction failed: ' + hash);
    return receipt;
  };

  const tokenReceipt = await settle(await wallet.deployContract({ abi: token.abi, bytecode: token.bytecode }));
  const settlerReceipt = await settle(await wallet.deployContract({ abi: settler.abi, bytecode: settler.bytecode }));
  const minted = {};
  for (const m of mints) {
    const [to, amount] = m.split('=');
    await settle(await wallet.writeContract({ address: tokenReceipt.contractAddress, abi: token.abi,
                                               functionName: 'mint', args: [to, BigInt(amount)] }));
    minted[to] = amount;
  }
  process.stdout.write(JSON.stringify({
    chainId, token: tokenReceipt.contractAddress, batchSettler: settlerReceipt.contractAddress,
    deployer: account.address, tokenName: 'USD Coin', tokenVersion: '2', minted,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
