#ifndef AFT_DNNL_ENGINE_H
#define AFT_DNNL_ENGINE_H
#include <oneapi/dnnl/dnnl.h>

// The process's one CPU engine (created on first use); NULL with *status set when it cannot be made.
dnnl_engine_t aft_dnnl_engine(dnnl_status_t *status);

// The calling thread's stream on that engine (a stream is not shared between threads).
dnnl_stream_t aft_dnnl_stream(dnnl_status_t *status);

#endif
