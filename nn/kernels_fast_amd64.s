//go:build amd64 && !purego

#include "textflag.h"

// func epilogue8AVX2(dst, src, res *float32, n int, scale, shift, lo float32)
// dst[i] = max(src[i]·scale + shift (+ res[i] when res != nil), lo) for
// i < n, n a multiple of 8. NaN propagates (the value is VMAXPS's second
// source).
TEXT ·epilogue8AVX2(SB), NOSPLIT, $0-44
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ res+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS scale+32(FP), Y0
	VBROADCASTSS shift+36(FP), Y1
	VBROADCASTSS lo+40(FP), Y2
	TESTQ DX, DX
	JZ nores

res:
	CMPQ CX, $8
	JLT done
	VMOVUPS (SI), Y3
	VFMADD213PS Y1, Y0, Y3
	VADDPS (DX), Y3, Y3
	VMAXPS Y3, Y2, Y3
	VMOVUPS Y3, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP res

nores:
	CMPQ CX, $16
	JLT nores8
	VMOVUPS (SI), Y3
	VMOVUPS 32(SI), Y4
	VFMADD213PS Y1, Y0, Y3
	VFMADD213PS Y1, Y0, Y4
	VMAXPS Y3, Y2, Y3
	VMAXPS Y4, Y2, Y4
	VMOVUPS Y3, (DI)
	VMOVUPS Y4, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP nores

nores8:
	CMPQ CX, $8
	JLT done
	VMOVUPS (SI), Y3
	VFMADD213PS Y1, Y0, Y3
	VMAXPS Y3, Y2, Y3
	VMOVUPS Y3, (DI)

done:
	VZEROUPPER
	RET
