// Prints what viem produces for the transactions and ABI calls of an input file, so the C++
// encoders can be checked byte for byte against it (tests/settlement/evm_tx_test.cc,
// evm_abi_test.cc). Input: {txs: [{privateKey, chainId, nonce, maxPriorityFeePerGas,
// maxFeePerGas, gas, to, value, data}], calls: [{abi, functionName, args}]} with integers as
// decimal strings. Output: {txs: [{serialized, hash, signingHash}], calls: ["0x..."], selectors,
// topics}.
import { readFileSync } from 'node:fs';
import {
  encodeFunctionData,
  keccak256,
  serializeTransaction,
  toEventSelector,
  toFunctionSelector,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));

// Turns decimal strings marked "n:<digits>" into BigInt, recursively.
function revive(v) {
  if (typeof v === 'string' && v.startsWith('n:')) return BigInt(v.slice(2));
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  }
  return v;
}

const txs = [];
for (const t of input.txs ?? []) {
  const account = privateKeyToAccount(t.privateKey);
  const tx = {
    type: 'eip1559',
    chainId: Number(t.chainId),
    nonce: Number(t.nonce),
    maxPriorityFeePerGas: BigInt(t.maxPriorityFeePerGas),
    maxFeePerGas: BigInt(t.maxFeePerGas),
    gas: BigInt(t.gas),
    to: t.to,
    value: BigInt(t.value),
    data: t.data,
    accessList: [],
  };
  const serialized = await account.signTransaction(tx);
  txs.push({
    from: account.address,
    serialized,
    hash: keccak256(serialized),
    signingHash: keccak256(serializeTransaction(tx)),
  });
}

const calls = (input.calls ?? []).map((c) =>
  encodeFunctionData({ abi: c.abi, functionName: c.functionName, args: revive(c.args) }),
);
const selectors = (input.selectors ?? []).map((s) => toFunctionSelector(s));
const topics = (input.topics ?? []).map((s) => toEventSelector(s));

process.stdout.write(JSON.stringify({ txs, calls, selectors, topics }));
