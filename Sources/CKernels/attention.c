#include "aft_kernels.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))

// Decoding attention, one query row over a sequence's cached keys and values: every query head
// goes through a block of keys (or values) while it is in L1, so each cache row is read from memory
// once for all heads, whole (a pass per key/value head would read every row once per head, the
// rest of each line brought in by the prefetcher anyway; OpenBLAS's sgemm would first copy K into
// its packed layout, for 7 × n × 64 about as much work as the product). Query head h uses key/value
// head h / G. hd need not be a multiple of 16 (the last step is masked).

static inline __mmask16 tail_mask(long left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

// Four keys at a time: their rows stay in L1 while every head's dot products with them are formed.
TARGET
void aft_f32_attention_scores(long H, long G, long hd, long n, const float *q, long ldq, const float *k, long ldk,
                              float scale, float *s, long lds) {
    for (long j0 = 0; j0 < n; j0 += 4) {
        const float *kr[4];
        for (long h = 0; h < H; h++) {
            if (h % G == 0)
                for (int t = 0; t < 4; t++) kr[t] = k + (j0 + t < n ? j0 + t : n - 1) * ldk + (h / G) * hd;
            const float *qh = q + h * ldq;
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (long d = 0; d < hd; d += 16) {
                __mmask16 m = tail_mask(hd - d);
                __m512 qv = _mm512_maskz_loadu_ps(m, qh + d);
                for (int t = 0; t < 4; t++) acc[t] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, kr[t] + d), acc[t]);
            }
            for (int t = 0; t < 4 && j0 + t < n; t++) s[h * lds + j0 + t] = scale * _mm512_reduce_add_ps(acc[t]);
        }
    }
}

// Blocks of 64 value rows (32 KB for Qwen's two 64-wide heads, held in L1) against each head in
// turn; the heads' outputs accumulate in `out` across blocks.
TARGET
void aft_f32_attention_mix(long H, long G, long hd, long n, const float *p, long ldp, const float *v, long ldv,
                           float *out, long ldo) {
    for (long h = 0; h < H; h++)
        for (long d = 0; d < hd; d += 16) _mm512_mask_storeu_ps(out + h * ldo + d, tail_mask(hd - d), _mm512_setzero_ps());
    for (long j0 = 0; j0 < n; j0 += 64) {
        long j1 = j0 + 64 < n ? j0 + 64 : n;
        for (long h = 0; h < H; h++) {
            const float *ph = p + h * ldp, *vh = v + (h / G) * hd;
            float *oh = out + h * ldo;
            long d = 0;
            for (; d + 64 <= hd; d += 64) {
                __m512 a0 = _mm512_loadu_ps(oh + d), a1 = _mm512_loadu_ps(oh + d + 16);
                __m512 a2 = _mm512_loadu_ps(oh + d + 32), a3 = _mm512_loadu_ps(oh + d + 48);
                for (long j = j0; j < j1; j++) {
                    __m512 w = _mm512_set1_ps(ph[j]);
                    const float *vr = vh + j * ldv + d;
                    a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vr), a0);
                    a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vr + 16), a1);
                    a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vr + 32), a2);
                    a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vr + 48), a3);
                }
                _mm512_storeu_ps(oh + d, a0); _mm512_storeu_ps(oh + d + 16, a1);
                _mm512_storeu_ps(oh + d + 32, a2); _mm512_storeu_ps(oh + d + 48, a3);
            }
            for (; d < hd; d += 16) {
                __mmask16 m = tail_mask(hd - d);
                __m512 a = _mm512_maskz_loadu_ps(m, oh + d);
                for (long j = j0; j < j1; j++) a = _mm512_fmadd_ps(_mm512_set1_ps(ph[j]), _mm512_maskz_loadu_ps(m, vh + j * ldv + d), a);
                _mm512_mask_storeu_ps(oh + d, m, a);
            }
        }
    }
}
