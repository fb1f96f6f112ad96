// Thin shim: glibc's malloc tuning (mallopt and its M_* parameters), which the Glibc module leaves out.
#include <malloc.h>
