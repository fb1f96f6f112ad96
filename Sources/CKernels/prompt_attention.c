#include "aft_kernels.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline, target("avx512f")))

// Prompt attention of one query head over a block of query rows, in two register-blocked products
// whose row tiles stop at the keys their last row sees (causal attention: the block's triangle, not
// its square). OpenBLAS's sgemm, with the head's 64-long inner dimension, spends much of each call
// packing its operands and ran these products at well under half the FMA peak.

// Keys j < n (row stride ldk) in panels of 32 keys, each [hd][32] and zero-padded past n, so a
// panel's row for one dimension is two vectors.
TARGET
void aft_f32_pack_keys(long n, long hd, const float *k, long ldk, float *kp) {
    for (long j0 = 0; j0 < n; j0 += 32) {
        float *panel = kp + j0 * hd;
        long cols = n - j0 < 32 ? n - j0 : 32;
        for (long d = 0; d < hd; d++) {
            float *dst = panel + d * 32;
            for (long t = 0; t < cols; t++) dst[t] = k[(j0 + t) * ldk + d];
            for (long t = cols; t < 32; t++) dst[t] = 0;
        }
    }
}

INLINE __mmask16 lanes(long left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}

// R rows (R ≤ 6, a constant once inlined) against one panel: s[r][0..<cols] = scale * q_r . k_j.
INLINE void scores_tile(const int R, long hd, const float *q, long ldq, const float *panel, float scale,
                        float *s, long lds, long cols) {
    __m512 a0[6], a1[6];
    for (int r = 0; r < R; r++) { a0[r] = _mm512_setzero_ps(); a1[r] = _mm512_setzero_ps(); }
    for (long d = 0; d < hd; d++) {
        __m512 k0 = _mm512_loadu_ps(panel + d * 32), k1 = _mm512_loadu_ps(panel + d * 32 + 16);
        for (int r = 0; r < R; r++) {
            __m512 qv = _mm512_set1_ps(q[r * ldq + d]);
            a0[r] = _mm512_fmadd_ps(qv, k0, a0[r]);
            a1[r] = _mm512_fmadd_ps(qv, k1, a1[r]);
        }
    }
    __m512 sv = _mm512_set1_ps(scale);
    __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_ps(s + r * lds, m0, _mm512_mul_ps(a0[r], sv));
        _mm512_mask_storeu_ps(s + r * lds + 16, m1, _mm512_mul_ps(a1[r], sv));
    }
}

// The keys a tile of R rows runs over: the largest of its rows' spans.
static inline long tile_keys(const long *span, long R) {
    long n = 0;
    for (long r = 0; r < R; r++) if (span[r] > n) n = span[r];
    return n;
}

TARGET
void aft_f32_block_scores(long M, long hd, const float *q, long ldq, const float *kp, const long *span, float scale,
                          float *s, long lds) {
    for (long i0 = 0; i0 < M; i0 += 6) {
        long R = M - i0 < 6 ? M - i0 : 6, n = tile_keys(span + i0, R);
        const float *qt = q + i0 * ldq;
        float *st = s + i0 * lds;
        for (long j0 = 0; j0 < n; j0 += 32) {
            long cols = n - j0 < 32 ? n - j0 : 32;
            const float *panel = kp + j0 * hd;
            switch (R) {
            case 6: scores_tile(6, hd, qt, ldq, panel, scale, st + j0, lds, cols); break;
            case 5: scores_tile(5, hd, qt, ldq, panel, scale, st + j0, lds, cols); break;
            case 4: scores_tile(4, hd, qt, ldq, panel, scale, st + j0, lds, cols); break;
            case 3: scores_tile(3, hd, qt, ldq, panel, scale, st + j0, lds, cols); break;
            case 2: scores_tile(2, hd, qt, ldq, panel, scale, st + j0, lds, cols); break;
            default: scores_tile(1, hd, qt, ldq, panel, scale, st + j0, lds, cols); break;
            }
        }
    }
}

// R rows (R ≤ 6) by C vectors of 16 output columns (C ≤ 4): out[r][c] = sum_{j < n} p[r][j] * v_j[c].
INLINE void mix_tile(const int R, const int C, long n, const float *p, long ldp, const float *v, long ldv,
                     float *out, long ldo) {
    __m512 a[6][4];
    for (int r = 0; r < R; r++) for (int c = 0; c < C; c++) a[r][c] = _mm512_setzero_ps();
    for (long j = 0; j < n; j++) {
        __m512 vv[4];
        for (int c = 0; c < C; c++) vv[c] = _mm512_loadu_ps(v + j * ldv + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 w = _mm512_set1_ps(p[r * ldp + j]);
            for (int c = 0; c < C; c++) a[r][c] = _mm512_fmadd_ps(w, vv[c], a[r][c]);
        }
    }
    for (int r = 0; r < R; r++) for (int c = 0; c < C; c++) _mm512_storeu_ps(out + r * ldo + 16 * c, a[r][c]);
}

#define MIX_ROWS(C) \
    switch (R) { \
    case 6: mix_tile(6, C, n, pt, ldp, v + c0, ldv, ot + c0, ldo); break; \
    case 5: mix_tile(5, C, n, pt, ldp, v + c0, ldv, ot + c0, ldo); break; \
    case 4: mix_tile(4, C, n, pt, ldp, v + c0, ldv, ot + c0, ldo); break; \
    case 3: mix_tile(3, C, n, pt, ldp, v + c0, ldv, ot + c0, ldo); break; \
    case 2: mix_tile(2, C, n, pt, ldp, v + c0, ldv, ot + c0, ldo); break; \
    default: mix_tile(1, C, n, pt, ldp, v + c0, ldv, ot + c0, ldo); break; \
    }

TARGET
void aft_f32_block_mix(long M, long hd, const float *p, long ldp, const long *span, const float *v, long ldv,
                       float *out, long ldo) {
    for (long i0 = 0; i0 < M; i0 += 6) {
        long R = M - i0 < 6 ? M - i0 : 6, n = tile_keys(span + i0, R);
        const float *pt = p + i0 * ldp;
        float *ot = out + i0 * ldo;
        long c0 = 0;
        for (; c0 + 64 <= hd; c0 += 64) { MIX_ROWS(4) }
        for (; c0 + 16 <= hd; c0 += 16) { MIX_ROWS(1) }
    }
}
