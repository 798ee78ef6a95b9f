; The Alys bridge contract, runtime bytecode, written by hand for the devnet.
;
; ABI (declared once in engine_types::pegout):
;   function requestPegOut(bytes _bitcoinAddress) external payable;
;   event RequestPegOut(address indexed _evmAddress, bytes _bitcoinAddress, uint256 _value);
;
; Behaviour: forward msg.value to 0x000000000000000000000000000000000000dEaD, then emit
; RequestPegOut(msg.sender, _bitcoinAddress, msg.value) with data = abi.encode(bytes, uint256).
; Any other call (no selector, another selector, plain value transfer, a malformed bytes
; argument) reverts, so no value can get stuck in the contract.
;
; Calldata: [0, 4) selector | [4, 36) offset o of the bytes | [4+o, 36+o) length n |
;           [36+o, 36+o+n) the bitcoin address as given.
; Event data in memory: 0x00 = 0x40 (offset of the bytes), 0x20 = msg.value,
;           0x40 = n, 0x60.. = the address right-padded with zeros to a 32-byte multiple.
;
; Uses PUSH0, so it needs Shanghai or later (the devnet's earliest fork).
;
; Columns: offset, bytes, label, instruction, comment (stack shown top first as [a, b]).
; The bytes column, read top to bottom, is exactly BRIDGE_RUNTIME_CODE in
; src/devnet/bridge.rs; a unit test there checks it line by line.

0000  6004                  PUSH1 0x04                     ; a call needs a 4-byte selector
0002  36                    CALLDATASIZE
0003  10                    LT                             ; calldatasize < 4
0004  610017                PUSH2 0x0017                   ; -> revert
0007  57                    JUMPI
0008  5f                    PUSH0
0009  35                    CALLDATALOAD
000a  60e0                  PUSH1 0xe0
000c  1c                    SHR                            ; selector = calldata[0:4]
000d  639911dc74            PUSH4 0x9911dc74               ; selector(requestPegOut(bytes))
0012  14                    EQ
0013  61001b                PUSH2 0x001b                   ; -> pegout
0016  57                    JUMPI                          ; the only entry point; anything else reverts
0017  5b           revert:  JUMPDEST
0018  5f                    PUSH0
0019  80                    DUP1
001a  fd                    REVERT                         ; revert(0, 0)
001b  5b           pegout:  JUMPDEST                       ; forward msg.value to the dead address first
001c  5f                    PUSH0                          ; retSize
001d  5f                    PUSH0                          ; retOffset
001e  5f                    PUSH0                          ; argsSize
001f  5f                    PUSH0                          ; argsOffset
0020  34                    CALLVALUE                      ; value
0021  61dead                PUSH2 0xdead                   ; to 0x…dEaD
0024  5a                    GAS
0025  f1                    CALL
0026  15                    ISZERO
0027  610017                PUSH2 0x0017                   ; -> revert
002a  57                    JUMPI                          ; a failed transfer reverts the request
002b  6004                  PUSH1 0x04
002d  35                    CALLDATALOAD                   ; [o] o = ABI offset of the bytes argument
002e  640100000000          PUSH5 0x0100000000
0034  81                    DUP2
0035  10                    LT                             ; o < 2^32 (keeps the additions below from overflowing)
0036  15                    ISZERO
0037  610017                PUSH2 0x0017                   ; -> revert
003a  57                    JUMPI
003b  6004                  PUSH1 0x04
003d  01                    ADD                            ; [p] p = 4 + o, position of the length word
003e  80                    DUP1
003f  35                    CALLDATALOAD                   ; [n, p] n = length of the bitcoin address
0040  640100000000          PUSH5 0x0100000000
0046  81                    DUP2
0047  10                    LT                             ; n < 2^32
0048  15                    ISZERO
0049  610017                PUSH2 0x0017                   ; -> revert
004c  57                    JUMPI
004d  90                    SWAP1
004e  6020                  PUSH1 0x20
0050  01                    ADD                            ; [s, n] s = p + 32, first byte of the address
0051  81                    DUP2
0052  81                    DUP2
0053  01                    ADD                            ; [s + n, s, n]
0054  36                    CALLDATASIZE
0055  10                    LT                             ; calldatasize < s + n: the bytes run past the calldata
0056  610017                PUSH2 0x0017                   ; -> revert
0059  57                    JUMPI                          ; [s, n]
005a  6040                  PUSH1 0x40
005c  5f                    PUSH0
005d  52                    MSTORE                         ; mem[0x00] = 0x40, offset of the bytes in the event data
005e  34                    CALLVALUE
005f  6020                  PUSH1 0x20
0061  52                    MSTORE                         ; mem[0x20] = msg.value
0062  81                    DUP2
0063  6040                  PUSH1 0x40
0065  52                    MSTORE                         ; mem[0x40] = n
0066  81                    DUP2
0067  81                    DUP2
0068  6060                  PUSH1 0x60
006a  37                    CALLDATACOPY                   ; mem[0x60..0x60+n] = the address; fresh memory pads with zeros
006b  50                    POP                            ; [n]
006c  601f                  PUSH1 0x1f
006e  01                    ADD
006f  6005                  PUSH1 0x05
0071  1c                    SHR
0072  6005                  PUSH1 0x05
0074  1b                    SHL                            ; [ceil(n / 32) * 32]
0075  6060                  PUSH1 0x60
0077  01                    ADD                            ; [size] of abi.encode(bytes, uint256)
0078  33                    CALLER                         ; topic1 = msg.sender
0079  7faa1c6070bc915de33c0fbc36ecf77b1e4fc1ebce832b2da62b6fe25f5a7dd5b0          PUSH32 0xaa1c6070bc915de33c0fbc36ecf77b1e4fc1ebce832b2da62b6fe25f5a7dd5b0 ; keccak(RequestPegOut(address,bytes,uint256))
009a  82                    DUP3
009b  5f                    PUSH0
009c  a2                    LOG2                           ; emit RequestPegOut(msg.sender, btcAddress, msg.value)
009d  00                    STOP
