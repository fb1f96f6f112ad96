#ifndef AFT_KERNELS_H
#define AFT_KERNELS_H
#include <stdint.h>

/// Hand-written AVX-512 kernels for the shapes where the libraries spend more than the work needs
/// (decoding: a row or a few). Row-major throughout; the caller checks the CPU flags named.

/// C[M, N] = A[M, K] * W^T with A bf16 [M, K] (row stride lda), W bf16 [N, K] (row stride ldw), C f32
/// (row stride ldc), f32 accumulation, on the calling thread: for a few rows (decoding), streaming W
/// once. Needs AVX512_BF16.
void aft_bf16_few_rows(long M, long N, long K, const uint16_t *A, long lda, const uint16_t *W, long ldw,
                       float *C, long ldc);

/// Attention scores of one query row: s[h * lds + j] = scale * q_h . k_j[g] for H query heads q [H, hd]
/// (row stride ldq), query head h using key/value head g = h / G, and n keys: head g's key j at
/// k + g * ldg + j * ldk (row-major [n, kvDim]: ldk = kvDim, ldg = hd; head-major: ldk = hd). Needs AVX512F.
void aft_f32_attention_scores(long H, long G, long hd, long n, const float *q, long ldq, const float *k, long ldk,
                              long ldg, float scale, float *s, long lds);

/// Attention output of one query row: out[h * ldo + d] = sum_j p[h * ldp + j] * v_j[g][d] for H heads,
/// head h using value head g = h / G of n values, head g's value j at v + g * ldg + j * ldv. Needs AVX512F.
void aft_f32_attention_mix(long H, long G, long hd, long n, const float *p, long ldp, const float *v, long ldv,
                           long ldg, float *out, long ldo);

/// Keys k [n, hd] (row stride ldk) repacked for aft_f32_block_scores: panels of 32 keys, each [hd][32],
/// the last zero-padded; kp holds ceil(n / 32) * 32 * hd floats.
void aft_f32_pack_keys(long n, long hd, const float *k, long ldk, float *kp);

/// Prompt attention scores of one head: s[i * lds + j] = scale * q_i . k_j for rows i < M (q row stride
/// ldq) and keys j below span[i] (keys packed by aft_f32_pack_keys). Entries of row i from span[i] up
/// to the largest span of its tile of 6 rows are written with the same products; the rest are not
/// touched. Needs AVX512F.
void aft_f32_block_scores(long M, long hd, const float *q, long ldq, const float *kp, const long *span, float scale,
                          float *s, long lds);

/// Prompt attention output of one head: out[i * ldo + d] = sum_j p[i * ldp + j] * v_j[d] over the keys
/// below the largest span of row i's tile of 6 rows (p must be 0 past span[i] up to it), v [n, hd]
/// with row stride ldv; hd a multiple of 16. Needs AVX512F.
void aft_f32_block_mix(long M, long hd, const float *p, long ldp, const long *span, const float *v, long ldv,
                       float *out, long ldo);

/// The tokens of one row of bf16 logits a [V] that could be the f32 argmax, given f32 logits within
/// t * n[j] of a[j]: every j with a[j] + t n[j] >= L - (|L| + 1) margin, L = max_k (a[k] - t n[k]), into
/// out in ascending order. Returns their count, or -1 when there are more than cap or L is not
/// finite. Needs AVX512F.
long aft_screen_candidates(const float *a, const float *n, long V, float t, float margin, int32_t *out, long cap);

/// The arithmetic peak of the calling core: iters rounds of 12 independent 16-lane f32 FMAs on
/// registers (no memory traffic). Returns the FLOPs done (a multiply-add counts 2); their sum goes
/// to *sink. Needs AVX512F.
double aft_f32_fma_peak(long iters, float *sink);

/// As aft_f32_fma_peak with bf16 dot products (vdpbf16ps: 32 bf16 pairs into 16 f32 lanes, 64 FLOPs
/// an instruction). Needs AVX512_BF16.
double aft_bf16_dot_peak(long iters, float *sink);

#endif
