#include "aft_kernels.h"
#include <immintrin.h>

// Twelve independent chains of 16-lane operations on registers alone: enough in flight to cover
// the instructions' latency on both FMA pipes, and nothing read from memory, so the loop runs at
// the core's arithmetic peak. The chains' sum goes to *sink so that no compiler drops the loop.

#define TWELVE(S) S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11)
#define DECLARE(i) __m512 a##i = _mm512_set1_ps(0.01f * (i + 1));
#define FMA(i) a##i = _mm512_fmadd_ps(a##i, m, c);
#define DOT(i) a##i = _mm512_dpbf16_ps(a##i, x, y);
#define SUM_INTO(sink) \
    *(sink) = _mm512_reduce_add_ps(_mm512_add_ps( \
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), \
                      _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))), \
        _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))));

__attribute__((target("avx512f")))
double aft_f32_fma_peak(long iters, float *sink) {
    __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    TWELVE(DECLARE)
    for (long i = 0; i < iters; i++) { TWELVE(FMA) }
    SUM_INTO(sink)
    return (double)iters * 12 * 16 * 2;
}

__attribute__((target("avx512f,avx512bf16")))
double aft_bf16_dot_peak(long iters, float *sink) {
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3c00), y = (__m512bh)_mm512_set1_epi16(0x3c01);
    TWELVE(DECLARE)
    for (long i = 0; i < iters; i++) { TWELVE(DOT) }
    SUM_INTO(sink)
    return (double)iters * 12 * 32 * 2;
}
