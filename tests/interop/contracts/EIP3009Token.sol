// SPDX-License-Identifier: Apache-2.0
// EIP3009Token: the test token the on-chain settlement tests deploy on a local node. An ERC-20
// with 6 decimals whose EIP-712 domain is {name "USD Coin", version "2", the chain id, this
// contract}, the domain x402 requirements name in `extra` (specs/x402.md §3). It implements
// EIP-3009 transferWithAuthorization in its (v, r, s) form, authorizationState and the
// AuthorizationUsed event, with signatures checked as EIP-2 asks (low s, v 27 or 28). Written for
// the mandated tests from the EIP-20, EIP-712 and EIP-3009 texts; not for production use.
pragma solidity ^0.8.20;

contract EIP3009Token {
    string public constant name = "USD Coin";
    string public constant symbol = "USDC";
    string public constant version = "2";
    uint8 public constant decimals = 6;

    // keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    // EIP-3009's type hash of the signed transfer.
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    // secp256k1n / 2: a larger s is the malleable twin of a valid signature (EIP-2).
    uint256 private constant HALF_N =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    address public immutable owner;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    // authorizer => nonce => used (EIP-3009 nonces are random 32 bytes, not sequential).
    mapping(address => mapping(bytes32 => bool)) private usedNonces;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);

    constructor() {
        owner = msg.sender;
    }

    // The EIP-712 domain separator, computed with the current chain id (it changes on a fork).
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(name)), keccak256(bytes(version)),
                                    block.chainid, address(this)));
    }

    // Only the deployer creates tokens (test funding).
    function mint(address to, uint256 value) external {
        require(msg.sender == owner, "mint: not the owner");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "ERC20: insufficient allowance");
        if (allowed != type(uint256).max) allowance[from][msg.sender] = allowed - value;
        _transfer(from, to, value);
        return true;
    }

    // EIP-3009: true when `nonce` of `authorizer` was used (or cancelled; we have no cancel).
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return usedNonces[authorizer][nonce];
    }

    // EIP-3009: moves `value` from `from` to `to` with `from`'s signature over the typed transfer,
    // valid strictly after `validAfter` and strictly before `validBefore`, once per nonce. Anyone
    // may submit it (the facilitator pays the gas).
    function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter,
                                       uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r,
                                       bytes32 s) external {
        require(block.timestamp > validAfter, "authorization is not yet valid");
        require(block.timestamp < validBefore, "authorization is expired");
        require(!usedNonces[from][nonce], "authorization is used or canceled");
        bytes32 structHash = keccak256(abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value,
                                                  validAfter, validBefore, nonce));
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), structHash));
        require(_recover(digest, v, r, s) == from, "invalid signature");
        usedNonces[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _transfer(from, to, value);
    }

    function _recover(bytes32 digest, uint8 v, bytes32 r, bytes32 s) private pure returns (address) {
        require(uint256(s) <= HALF_N, "ECRecover: invalid signature 's' value");
        require(v == 27 || v == 28, "ECRecover: invalid signature 'v' value");
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "ECRecover: invalid signature");
        return signer;
    }

    function _transfer(address from, address to, uint256 value) private {
        require(to != address(0), "ERC20: transfer to the zero address");
        uint256 have = balanceOf[from];
        require(have >= value, "ERC20: transfer amount exceeds balance");
        unchecked {
            balanceOf[from] = have - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
