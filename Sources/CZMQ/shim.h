// Thin shim: ZeroMQ's C API (the Jupyter kernel's sockets).
#include <zmq.h>
