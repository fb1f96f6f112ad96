#ifndef AFT_BF16_H
#define AFT_BF16_H
#include <stdint.h>

/// bf16 GEMMs with f32 accumulation through oneDNN's matmul primitive (AVX512_BF16 where the
/// CPU has it), and f32 <-> bf16 conversion. Row-major throughout.

/// Converts n floats to bf16, rounding to nearest even (NaN stays NaN).
void aft_f32_to_bf16(const float *x, uint16_t *y, long n);

/// Converts n bf16 values to floats (exact).
void aft_bf16_to_f32(const uint16_t *x, float *y, long n);

/// C[M, N] = A[M, K] * op(W), A bf16 with row stride lda, C f32 with row stride ldc, M >= 1.
/// transposed != 0: W is stored [N, K] with row stride ldw (C = A * W^T, a linear layer's forward);
/// transposed == 0: W is stored [K, N] with row stride ldw (C = A * W, a linear layer's input gradient).
/// `threads` OpenMP threads run it (the calling thread's team). Returns 0 on success, else a
/// oneDNN status (no bf16 matmul on this CPU, out of memory).
int aft_bf16_matmul(long M, long N, long K, const uint16_t *A, long lda, const uint16_t *W, long ldw,
                    int transposed, float *C, long ldc, int threads);

/// The oneDNN implementation a bf16 matmul of this shape would use ("gemm:jit", "brg:avx512_core_bf16", ...),
/// written into buf; 0 on success.
int aft_bf16_matmul_impl(long N, long K, int transposed, char *buf, int bufSize);

#endif
