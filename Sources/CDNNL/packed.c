#include "aft_packed.h"
#include "engine.h"
#include <stdlib.h>

extern void omp_set_num_threads(int);

struct aft_packed_f32 {
    long n, k;
    dnnl_primitive_t prim;   // M and the row strides of A and C given at run time
    dnnl_memory_t weights;   // in the layout the primitive chose
    long bytes;
};

// A [M, K] (row stride lda) and C [M, N] (row stride ldc); DNNL_RUNTIME_DIM_VAL where given at run time.
static dnnl_status_t io_descs(long M, long N, long K, long lda, long ldc, dnnl_memory_desc_t *a, dnnl_memory_desc_t *c) {
    dnnl_dims_t ad = {M, K}, as = {lda, 1}, cd = {M, N}, cs = {ldc, 1};
    dnnl_status_t s = dnnl_memory_desc_init_by_strides(a, 2, ad, dnnl_f32, as);
    return s != dnnl_success ? s : dnnl_memory_desc_init_by_strides(c, 2, cd, dnnl_f32, cs);
}

int aft_f32_pack(long N, long K, const float *W, long ldw, aft_packed_f32 **out) {
    dnnl_status_t s;
    dnnl_engine_t engine = aft_dnnl_engine(&s);
    if (!engine) return (int)s;
    omp_set_num_threads(1);   // the primitive is built for, and run on, one thread
    dnnl_memory_desc_t a, c, plain, any;
    dnnl_dims_t wd = {K, N}, ws = {1, ldw};
    if ((s = io_descs(DNNL_RUNTIME_DIM_VAL, N, K, DNNL_RUNTIME_DIM_VAL, DNNL_RUNTIME_DIM_VAL, &a, &c)) != dnnl_success) return (int)s;
    if ((s = dnnl_memory_desc_init_by_strides(&plain, 2, wd, dnnl_f32, ws)) != dnnl_success) return (int)s;
    if ((s = dnnl_memory_desc_init_by_tag(&any, 2, wd, dnnl_f32, dnnl_format_tag_any)) != dnnl_success) return (int)s;
    dnnl_matmul_desc_t md;
    if ((s = dnnl_matmul_desc_init(&md, &a, &any, NULL, &c)) != dnnl_success) return (int)s;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t src = NULL;
    aft_packed_f32 *p = calloc(1, sizeof *p);
    if (!p) return dnnl_out_of_memory;
    p->n = N; p->k = K;
    const dnnl_memory_desc_t *packed;
    if ((s = dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL)) != dnnl_success) goto done;
    packed = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    p->bytes = (long)dnnl_memory_desc_get_size(packed);
    if ((s = dnnl_memory_create(&p->weights, packed, engine, DNNL_MEMORY_ALLOCATE)) != dnnl_success) goto done;
    if ((s = dnnl_memory_create(&src, &plain, engine, (void *)W)) != dnnl_success) goto done;
    if ((s = dnnl_reorder_primitive_desc_create(&rpd, &plain, engine, packed, engine, NULL)) != dnnl_success) goto done;
    if ((s = dnnl_primitive_create(&reorder, rpd)) != dnnl_success) goto done;
    dnnl_stream_t stream = aft_dnnl_stream(&s);
    if (!stream) goto done;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, p->weights}};
    if ((s = dnnl_primitive_execute(reorder, stream, 2, args)) != dnnl_success) goto done;
    if ((s = dnnl_stream_wait(stream)) != dnnl_success) goto done;
    s = dnnl_primitive_create(&p->prim, pd);
done:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    if (s != dnnl_success) { aft_f32_packed_free(p); return (int)s; }
    *out = p;
    return 0;
}

int aft_f32_packed_matmul(const aft_packed_f32 *p, long M, const float *A, long lda, float *C, long ldc) {
    omp_set_num_threads(1);
    dnnl_status_t s;
    dnnl_engine_t engine = aft_dnnl_engine(&s);
    dnnl_stream_t stream = aft_dnnl_stream(&s);
    if (!engine || !stream) return (int)s;
    dnnl_memory_desc_t a, c;
    if ((s = io_descs(M, p->n, p->k, lda, ldc, &a, &c)) != dnnl_success) return (int)s;
    dnnl_memory_t am = NULL, cm = NULL;
    if ((s = dnnl_memory_create(&am, &a, engine, (void *)A)) == dnnl_success
        && (s = dnnl_memory_create(&cm, &c, engine, C)) == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, p->weights}, {DNNL_ARG_DST, cm}};
        s = dnnl_primitive_execute(p->prim, stream, 3, args);
        if (s == dnnl_success) s = dnnl_stream_wait(stream);
    }
    if (am) dnnl_memory_destroy(am);
    if (cm) dnnl_memory_destroy(cm);
    return (int)s;
}

long aft_f32_packed_bytes(const aft_packed_f32 *p) { return p->bytes; }

void aft_f32_packed_free(aft_packed_f32 *p) {
    if (!p) return;
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->weights) dnnl_memory_destroy(p->weights);
    free(p);
}
