#include "aft_bf16.h"
#include "engine.h"
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int);

// One float's bf16 bits, rounded to nearest even; a NaN stays a (quiet) NaN.
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// The same rounding, 16 floats at a time on AVX-512 integer lanes (bit for bit the scalar's,
// denormals included: VCVTNEPS2BF16 would flush those to zero).
__attribute__((target("avx512f,avx512bw")))
static void to_bf16_avx512(const float *x, uint16_t *y, long n) {
    const __m512i round = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    const __m512i magnitude = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i u = _mm512_loadu_si512(x + i), high = _mm512_srli_epi32(u, 16);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(round, _mm512_and_si512(high, one))), 16);
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, magnitude), inf);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(high, quiet));
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(r));
    }
    for (; i < n; i++) y[i] = to_bf16(x[i]);
}

static int has_avx512;
static pthread_once_t avx512_once = PTHREAD_ONCE_INIT;
static void check_avx512(void) {
    __builtin_cpu_init();
    has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

void aft_f32_to_bf16(const float *x, uint16_t *y, long n) {
    pthread_once(&avx512_once, check_avx512);
    if (has_avx512) { to_bf16_avx512(x, y, n); return; }
    for (long i = 0; i < n; i++) y[i] = to_bf16(x[i]);
}

void aft_bf16_to_f32(const uint16_t *x, float *y, long n) {
    for (long i = 0; i < n; i++) { uint32_t u = (uint32_t)x[i] << 16; memcpy(&y[i], &u, 4); }
}

// Primitives by (N, K, W's layout and row stride, threads), with M and the row strides of A and C given at run time.
typedef struct { long n, k, ldw; int transposed, threads; dnnl_primitive_t prim; } cached;
static cached *cache;
static int cache_count, cache_cap;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static dnnl_status_t descs(long M, long N, long K, long lda, long ldw, int transposed, long ldc,
                           dnnl_memory_desc_t *a, dnnl_memory_desc_t *w, dnnl_memory_desc_t *c) {
    dnnl_dims_t ad = {M, K}, as = {lda, 1}, wd = {K, N}, cd = {M, N}, cs = {ldc, 1};
    dnnl_dims_t ws;
    if (transposed) { ws[0] = 1; ws[1] = ldw; } else { ws[0] = ldw; ws[1] = 1; }
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(a, 2, ad, dnnl_bf16, as)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(w, 2, wd, dnnl_bf16, ws)) != dnnl_success) return s;
    return dnnl_memory_desc_init_by_strides(c, 2, cd, dnnl_f32, cs);
}

static dnnl_status_t primitive_desc(long N, long K, long ldw, int transposed, dnnl_primitive_desc_t *pd) {
    dnnl_status_t status;
    dnnl_engine_t engine = aft_dnnl_engine(&status);
    if (!engine) return status;
    dnnl_memory_desc_t a, w, c;
    dnnl_status_t s = descs(DNNL_RUNTIME_DIM_VAL, N, K, DNNL_RUNTIME_DIM_VAL, ldw, transposed,
                            DNNL_RUNTIME_DIM_VAL, &a, &w, &c);
    if (s != dnnl_success) return s;
    dnnl_matmul_desc_t md;
    if ((s = dnnl_matmul_desc_init(&md, &a, &w, NULL, &c)) != dnnl_success) return s;
    return dnnl_primitive_desc_create(pd, &md, NULL, engine, NULL);
}

static dnnl_status_t primitive(long N, long K, long ldw, int transposed, int threads, dnnl_primitive_t *out) {
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cache_count; i++) {
        cached *e = &cache[i];
        if (e->n == N && e->k == K && e->ldw == ldw && e->transposed == transposed && e->threads == threads) {
            *out = e->prim;
            pthread_mutex_unlock(&cache_lock);
            return dnnl_success;
        }
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = primitive_desc(N, K, ldw, transposed, &pd);
    if (s == dnnl_success) {
        s = dnnl_primitive_create(out, pd);
        dnnl_primitive_desc_destroy(pd);
    }
    if (s == dnnl_success) {
        if (cache_count == cache_cap) {
            int cap = cache_cap ? 2 * cache_cap : 32;
            cached *grown = realloc(cache, (size_t)cap * sizeof(cached));
            if (!grown) { pthread_mutex_unlock(&cache_lock); dnnl_primitive_destroy(*out); return dnnl_out_of_memory; }
            cache = grown; cache_cap = cap;
        }
        cache[cache_count++] = (cached){N, K, ldw, transposed, threads, *out};
    }
    pthread_mutex_unlock(&cache_lock);
    return s;
}

int aft_bf16_matmul(long M, long N, long K, const uint16_t *A, long lda, const uint16_t *W, long ldw,
                    int transposed, float *C, long ldc, int threads) {
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    dnnl_primitive_t p;
    dnnl_status_t s = primitive(N, K, ldw, transposed, threads, &p);
    if (s != dnnl_success) return (int)s;
    dnnl_engine_t engine = aft_dnnl_engine(&s);
    dnnl_stream_t stream = aft_dnnl_stream(&s);
    if (!engine || !stream) return (int)s;
    dnnl_memory_desc_t a, w, c;
    if ((s = descs(M, N, K, lda, ldw, transposed, ldc, &a, &w, &c)) != dnnl_success) return (int)s;
    dnnl_memory_t am = NULL, wm = NULL, cm = NULL;
    if ((s = dnnl_memory_create(&am, &a, engine, (void *)A)) == dnnl_success
        && (s = dnnl_memory_create(&wm, &w, engine, (void *)W)) == dnnl_success
        && (s = dnnl_memory_create(&cm, &c, engine, C)) == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cm}};
        s = dnnl_primitive_execute(p, stream, 3, args);
        if (s == dnnl_success) s = dnnl_stream_wait(stream);
    }
    if (am) dnnl_memory_destroy(am);
    if (wm) dnnl_memory_destroy(wm);
    if (cm) dnnl_memory_destroy(cm);
    return (int)s;
}

int aft_bf16_matmul_impl(long N, long K, int transposed, char *buf, int bufSize) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = primitive_desc(N, K, transposed ? K : N, transposed, &pd);
    if (s != dnnl_success) return (int)s;
    const char *impl = NULL;
    s = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (s == dnnl_success && impl && bufSize > 0) { strncpy(buf, impl, (size_t)bufSize - 1); buf[bufSize - 1] = 0; }
    dnnl_primitive_desc_destroy(pd);
    return (int)s;
}
