// SPDX-License-Identifier: Apache-2.0
// BatchSettler: submits many EIP-3009 transfers of one token in one transaction, for deferred
// settlement of micro-payments (specs/evm.md §6). Each transfer is tried on its own: one that the
// token refuses (used nonce, expired, drained payer) does not undo the others, and its outcome is
// told by a TransferSettled event. Anyone may call it; the token checks every signature. A test
// fixture written for mandated.
pragma solidity ^0.8.20;

interface IEIP3009 {
    function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter,
                                       uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r,
                                       bytes32 s) external;
}

contract BatchSettler {
    struct Item {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    // One per item, in order: `ok` false when the token reverted that transfer.
    event TransferSettled(address indexed token, bytes32 indexed nonce, bool ok);

    function settleBatch(address token, Item[] calldata items) external {
        for (uint256 i = 0; i < items.length; ++i) {
            emit TransferSettled(token, items[i].nonce, _settle(IEIP3009(token), items[i]));
        }
    }

    function _settle(IEIP3009 token, Item calldata it) private returns (bool) {
        try token.transferWithAuthorization(it.from, it.to, it.value, it.validAfter, it.validBefore,
                                            it.nonce, it.v, it.r, it.s) {
            return true;
        } catch {
            return false;
        }
    }
}
