#include "aft_kernels.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

// c[i · ldc] = A row (r0 + i) · w for i < MR: one row of W, read front to back, against MR rows of A
// (held in cache), two accumulators of 16 floats per row of A, each a VDPBF16PS over 32 bf16
// pairs a step. Rows past M repeat the last real one (computed, not stored), so the loops have
// fixed trip counts and unroll once MR is a constant.
static inline __attribute__((always_inline)) TARGET
void row_dots(const int MR, long M, long K, const uint16_t *A, long lda, const uint16_t *w, float *c, long ldc, long r0) {
    const uint16_t *a[4];
    for (int i = 0; i < MR; i++) a[i] = A + (r0 + i < M ? r0 + i : M - 1) * lda;
    __m512 acc[4][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    long k = 0;
    for (; k + 64 <= K; k += 64) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(w + k), w1 = (__m512bh)_mm512_loadu_si512(w + k + 32);
        for (int i = 0; i < MR; i++) {
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], (__m512bh)_mm512_loadu_si512(a[i] + k), w0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], (__m512bh)_mm512_loadu_si512(a[i] + k + 32), w1);
        }
    }
    for (; k < K; k += 32) {
        __mmask32 mask = K - k >= 32 ? 0xffffffffu : (__mmask32)((1u << (K - k)) - 1);
        __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(mask, w + k);
        for (int i = 0; i < MR; i++)
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], (__m512bh)_mm512_maskz_loadu_epi16(mask, a[i] + k), wv);
    }
    for (int i = 0; i < MR && r0 + i < M; i++) c[(r0 + i) * ldc] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]));
}

// C[M, N] = A[M, K] · W[N, K]ᵀ for a few rows of A, reading W from memory once, row after row
// (decoding reads every weight once a token, so this is bound by memory bandwidth, not FLOPs; a
// plain front-to-back stream is what the hardware prefetcher follows best — interleaving several
// rows of W measured ~20 % slower). Every row of W meets the rows of A four at a time.
TARGET
void aft_bf16_few_rows(long M, long N, long K, const uint16_t *A, long lda, const uint16_t *W, long ldw,
                       float *C, long ldc) {
    for (long j = 0; j < N; j++) {
        const uint16_t *w = W + j * ldw;
        float *c = C + j;
        switch (M) {
        case 1: row_dots(1, M, K, A, lda, w, c, ldc, 0); break;
        case 2: row_dots(2, M, K, A, lda, w, c, ldc, 0); break;
        case 3: row_dots(3, M, K, A, lda, w, c, ldc, 0); break;
        default:
            for (long r0 = 0; r0 < M; r0 += 4) row_dots(4, M, K, A, lda, w, c, ldc, r0);
        }
    }
}
