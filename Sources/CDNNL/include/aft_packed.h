#ifndef AFT_PACKED_H
#define AFT_PACKED_H

/// f32 GEMMs over weights packed once, through oneDNN's matmul primitive: OpenBLAS packs the
/// whole weight matrix on every call, which costs as much as the product when a call has a few
/// dozen rows (a decoding step); a packed matrix is multiplied at the CPU's peak from a few rows on.
/// Row-major throughout; every call runs on the calling thread alone.

typedef struct aft_packed_f32 aft_packed_f32;

/// Packs W [N, K] (row stride ldw) for C = A * W^T with any number of rows. Returns 0 and sets *out,
/// or a oneDNN status (out of memory, no f32 matmul).
int aft_f32_pack(long N, long K, const float *W, long ldw, aft_packed_f32 **out);

/// C[M, N] = A[M, K] * W^T, A with row stride lda, C with row stride ldc, M >= 1, on one thread.
/// Returns 0 on success, else a oneDNN status.
int aft_f32_packed_matmul(const aft_packed_f32 *p, long M, const float *A, long lda, float *C, long ldc);

/// Bytes the packed weights take.
long aft_f32_packed_bytes(const aft_packed_f32 *p);

void aft_f32_packed_free(aft_packed_f32 *p);

#endif
