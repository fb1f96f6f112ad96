#include "aft_kernels.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))

// Decoding attention, one query row over a sequence's cached keys and values: every query head
// goes through a block of keys (or values) while it is in L1, so each cache row is read from memory
// once for all heads (OpenBLAS's sgemm would first copy K into its packed layout, for 7 × n × 64
// about as much work as the product). Query head h uses key/value head h / G, whose rows start at
// g · ldg with row stride ldk: the KV cache keeps each head's rows together (ldk = hd), so a head's
// pass over its keys or values is one front-to-back stream. hd need not be a multiple of 16 (the
// last step is masked).

static inline __mmask16 tail_mask(long left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}

// The lane sums of 16 vectors as one vector (lane t: the sum of v[t]'s lanes), by a tree of adds
// over pairs of lanes, then pairs of 128-bit quarters: 15 adds and 30 shuffles for 16 sums, where
// one horizontal sum a key cost about as much as that key's four FMAs.
static inline __attribute__((always_inline)) TARGET __m512 sums16(const __m512 *v) {
    __m512 a[8], b[4], c[2];
    for (int i = 0; i < 8; i++)   // each quarter of a[i]: partial sums of v[2i], v[2i+1], v[2i], v[2i+1]
        a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++)   // each quarter of b[i]: partial sums of v[4i..<4i+4]
        b[i] = _mm512_add_ps(_mm512_shuffle_ps(a[2 * i], a[2 * i + 1], 0x44), _mm512_shuffle_ps(a[2 * i], a[2 * i + 1], 0xEE));
    for (int i = 0; i < 2; i++)   // quarters 0, 1 of c[i]: v[8i..<8i+4]; quarters 2, 3: v[8i+4..<8i+8]
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x44), _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
}

// A query head's QV vectors (in registers; the last masked by m) against 16 key rows, read one row
// after another (a front-to-back stream through the block: going down all 16 rows a vector at a
// time ran at half the speed from memory): one accumulator of 16 partial sums per key.
static inline __attribute__((always_inline)) TARGET
void dots16(const int QV, const float *qh, const float *const *kr, __mmask16 m, __m512 *acc) {
    __m512 qv[8];
    for (int c = 0; c < QV; c++) qv[c] = _mm512_maskz_loadu_ps(c == QV - 1 ? m : (__mmask16)0xffff, qh + 16 * c);
    for (int t = 0; t < 16; t++) {
        __m512 a = _mm512_setzero_ps();
        for (int c = 0; c < QV; c++)
            a = _mm512_fmadd_ps(qv[c], _mm512_maskz_loadu_ps(c == QV - 1 ? m : (__mmask16)0xffff, kr[t] + 16 * c), a);
        acc[t] = a;
    }
}

// Heads up to 128 wide: per key/value head, sixteen keys at a time; each of its query heads' 16
// dot products with them (rows in L1 after the first head) accumulate in 16 vectors whose lanes
// `sums16` adds, one store of 16 scores.
static inline __attribute__((always_inline)) TARGET
void scores16(long H, long G, long hd, long n, const float *q, long ldq, const float *k, long ldk, long ldg,
              float scale, float *s, long lds) {
    const __m512 sv = _mm512_set1_ps(scale);
    long QV = (hd + 15) / 16;
    __mmask16 m = tail_mask(hd - 16 * (QV - 1));
    for (long g = 0; g < H / G; g++)
        for (long j0 = 0; j0 < n; j0 += 16) {
            long cols = n - j0 < 16 ? n - j0 : 16;
            const float *kr[16];
            // Past the last key, the last key again (computed, not stored), so the loops stay fixed.
            for (int t = 0; t < 16; t++) kr[t] = k + g * ldg + (j0 + (t < cols ? t : cols - 1)) * ldk;
            for (long h = g * G; h < (g + 1) * G; h++) {
                const float *qh = q + h * ldq;
                __m512 acc[16];
                switch (QV) {
                case 1: dots16(1, qh, kr, m, acc); break;
                case 2: dots16(2, qh, kr, m, acc); break;
                case 3: dots16(3, qh, kr, m, acc); break;
                case 4: dots16(4, qh, kr, m, acc); break;
                case 5: dots16(5, qh, kr, m, acc); break;
                case 6: dots16(6, qh, kr, m, acc); break;
                case 7: dots16(7, qh, kr, m, acc); break;
                default: dots16(8, qh, kr, m, acc); break;
                }
                _mm512_mask_storeu_ps(s + h * lds + j0, tail_mask(cols), _mm512_mul_ps(sv, sums16(acc)));
            }
        }
}

// Wider heads (Gemma's 256): four keys at a time, a horizontal sum each, which their 16 FMAs a
// key outweigh (the sixteen-key kernel would pass over the rows twice at this width: measured slower).
static inline __attribute__((always_inline)) TARGET
void scores4(long H, long G, long hd, long n, const float *q, long ldq, const float *k, long ldk, long ldg,
             float scale, float *s, long lds) {
    for (long g = 0; g < H / G; g++)
        for (long j0 = 0; j0 < n; j0 += 4) {
            const float *kr[4];
            for (int t = 0; t < 4; t++) kr[t] = k + g * ldg + (j0 + t < n ? j0 + t : n - 1) * ldk;
            for (long h = g * G; h < (g + 1) * G; h++) {
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

// A key/value head's keys are read once, in order, for all its query heads.
TARGET
void aft_f32_attention_scores(long H, long G, long hd, long n, const float *q, long ldq, const float *k, long ldk,
                              long ldg, float scale, float *s, long lds) {
    if (hd <= 128) scores16(H, G, hd, n, q, ldq, k, ldk, ldg, scale, s, lds);
    else scores4(H, G, hd, n, q, ldq, k, ldk, ldg, scale, s, lds);
}

// HC heads of one group (probabilities ph[i], outputs oh[i]) by DV vectors of 16 columns (the
// last masked by m), over value rows j0..<j1: HC × DV accumulators in registers, taken from and
// put back into the outputs, each value row loaded once for the HC heads.
static inline __attribute__((always_inline)) TARGET
void mix_heads(const int HC, const int DV, long j0, long j1, const float *const *ph, const float *v, long ldv,
               __mmask16 m, float *const *oh) {
    __m512 a[6][16];
    for (int h = 0; h < HC; h++)
        for (int c = 0; c < DV; c++) a[h][c] = _mm512_maskz_loadu_ps(c == DV - 1 ? m : (__mmask16)0xffff, oh[h] + 16 * c);
    for (long j = j0; j < j1; j++) {
        __m512 w[6];
        for (int h = 0; h < HC; h++) w[h] = _mm512_set1_ps(ph[h][j]);
        for (int c = 0; c < DV; c++) {
            __m512 vv = _mm512_maskz_loadu_ps(c == DV - 1 ? m : (__mmask16)0xffff, v + j * ldv + 16 * c);
            for (int h = 0; h < HC; h++) a[h][c] = _mm512_fmadd_ps(w[h], vv, a[h][c]);
        }
    }
    for (int h = 0; h < HC; h++)
        for (int c = 0; c < DV; c++) _mm512_mask_storeu_ps(oh[h] + 16 * c, c == DV - 1 ? m : (__mmask16)0xffff, a[h][c]);
}

#define MIX_HEADS(DV) \
    switch (hc) { \
    case 6: mix_heads(6, DV, j0, j1, ph, vd, ldv, m, oh); break; \
    case 5: mix_heads(5, DV, j0, j1, ph, vd, ldv, m, oh); break; \
    case 4: mix_heads(4, DV, j0, j1, ph, vd, ldv, m, oh); break; \
    case 3: mix_heads(3, DV, j0, j1, ph, vd, ldv, m, oh); break; \
    case 2: mix_heads(2, DV, j0, j1, ph, vd, ldv, m, oh); break; \
    default: mix_heads(1, DV, j0, j1, ph, vd, ldv, m, oh); break; \
    }

// Per key/value head, blocks of value rows (16 KB of a head's rows, in L1 for every pass over
// them), per band of up to 16 vectors of columns, the group's query heads in passes of as many as
// 24 accumulators hold (SmolLM2's 3 × 4 vectors: one pass; Qwen's 7: 4 + 3; Gemma's 256-wide
// heads: one head × 16 vectors a pass). Each output adds its terms in key order, as one pass would.
TARGET
void aft_f32_attention_mix(long H, long G, long hd, long n, const float *p, long ldp, const float *v, long ldv,
                           long ldg, float *out, long ldo) {
    for (long h = 0; h < H; h++)
        for (long d = 0; d < hd; d += 16) _mm512_mask_storeu_ps(out + h * ldo + d, tail_mask(hd - d), _mm512_setzero_ps());
    long block = 4096 / hd > 16 ? 4096 / hd : 16;
    for (long g = 0; g < H / G; g++)
        for (long j0 = 0; j0 < n; j0 += block) {
            long j1 = j0 + block < n ? j0 + block : n;
            for (long d0 = 0; d0 < hd;) {
                long vectors = (hd - d0 + 15) / 16;
                long dv = vectors >= 16 ? 16 : vectors >= 8 ? 8 : vectors >= 4 ? 4 : vectors;
                long width = 16 * dv < hd - d0 ? 16 * dv : hd - d0;
                __mmask16 m = tail_mask(width - 16 * (dv - 1));
                const float *vd = v + g * ldg + d0;
                long per = 24 / dv < 6 ? 24 / dv : 6, passes = (G + per - 1) / per;
                for (long h0 = 0, pass = 0; pass < passes; pass++) {
                    long hc = (G - h0 + passes - pass - 1) / (passes - pass);   // the group's heads split evenly
                    const float *ph[6];
                    float *oh[6];
                    for (long i = 0; i < hc; i++) { ph[i] = p + (g * G + h0 + i) * ldp; oh[i] = out + (g * G + h0 + i) * ldo + d0; }
                    switch (dv) {
                    case 16: MIX_HEADS(16) break;
                    case 8: MIX_HEADS(8) break;
                    case 4: MIX_HEADS(4) break;
                    case 3: MIX_HEADS(3) break;
                    case 2: MIX_HEADS(2) break;
                    default: MIX_HEADS(1) break;
                    }
                    h0 += hc;
                }
                d0 += width;
            }
        }
}
