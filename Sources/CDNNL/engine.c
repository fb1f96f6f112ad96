#include "engine.h"
#include <pthread.h>

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_status_t engine_status = dnnl_runtime_error;
static void make_engine(void) { engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0); }
static __thread dnnl_stream_t stream;

dnnl_engine_t aft_dnnl_engine(dnnl_status_t *status) {
    pthread_once(&engine_once, make_engine);
    *status = engine_status;
    return engine_status == dnnl_success ? engine : NULL;
}

dnnl_stream_t aft_dnnl_stream(dnnl_status_t *status) {
    dnnl_engine_t e = aft_dnnl_engine(status);
    if (!e) return NULL;
    if (!stream) *status = dnnl_stream_create(&stream, e, dnnl_stream_default_flags);
    return stream;
}
