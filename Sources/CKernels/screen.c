#include "aft_kernels.h"
#include <immintrin.h>
#include <math.h>

#define TARGET __attribute__((target("avx512f")))

// Two passes over one row's bf16 logits: the largest lower bound a[j] - t·n[j], then every token
// whose upper bound a[j] + t·n[j] reaches it, written in ascending order by compress-stores (a
// confident row leaves one or two, so the second pass is a read of a and n and little else).
TARGET
long aft_screen_candidates(const float *a, const float *n, long V, float t, float margin, int32_t *out, long cap) {
    __m512 tv = _mm512_set1_ps(t), low = _mm512_set1_ps(-INFINITY);
    long j = 0;
    for (; j + 16 <= V; j += 16)
        low = _mm512_max_ps(low, _mm512_fnmadd_ps(tv, _mm512_loadu_ps(n + j), _mm512_loadu_ps(a + j)));
    float best = _mm512_reduce_max_ps(low);
    for (; j < V; j++) { float v = a[j] - t * n[j]; if (v > best) best = v; }
    best -= (fabsf(best) + 1) * margin;
    if (!isfinite(best)) return -1;
    __m512 bv = _mm512_set1_ps(best);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), step = _mm512_set1_epi32(16);
    long count = 0;
    for (j = 0; j + 16 <= V; j += 16, idx = _mm512_add_epi32(idx, step)) {
        __m512 up = _mm512_fmadd_ps(tv, _mm512_loadu_ps(n + j), _mm512_loadu_ps(a + j));
        __mmask16 hit = _mm512_cmp_ps_mask(up, bv, _CMP_GE_OQ);
        if (hit) {
            int h = __builtin_popcount(hit);
            if (count + h > cap) return -1;
            _mm512_mask_compressstoreu_epi32(out + count, hit, idx);
            count += h;
        }
    }
    for (; j < V; j++)
        if (a[j] + t * n[j] >= best) {
            if (count == cap) return -1;
            out[count++] = (int32_t)j;
        }
    return count;
}
