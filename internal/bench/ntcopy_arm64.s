#include "textflag.h"

// func ntCopyBlocks(dst, src *byte, n uintptr)
// n is a positive multiple of 64 and dst is 64-byte aligned. Loads are
// LDP of two 128-bit registers; stores are STNP of two, which Go's
// assembler does not know, so they are spelled as their encodings:
// STNP Qt1, Qt2, [Xn, #imm] is 0xac000000 | imm/16<<15 | t2<<10 | n<<5 | t1.
TEXT ·ntCopyBlocks(SB), NOSPLIT, $0-24
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	n+16(FP), R2
loop:
	FLDPQ	0(R1), (F0, F1)
	FLDPQ	32(R1), (F2, F3)
	WORD	$0xac000400 // STNP Q0, Q1, [X0]
	WORD	$0xac010c02 // STNP Q2, Q3, [X0, #32]
	ADD	$64, R1
	ADD	$64, R0
	SUBS	$64, R2
	BNE	loop
	RET

// func ntFence()
TEXT ·ntFence(SB), NOSPLIT, $0-0
	DMB	$0xb // ISH
	RET
