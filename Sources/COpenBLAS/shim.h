// Thin shim: OpenBLAS's CBLAS interface plus its runtime queries (core name, threads).
#include <cblas.h>

/// OpenBLAS's own (exported, undeclared in cblas.h): re-read its OPENBLAS_* environment variables,
/// and stop its thread pool (the next threaded call starts it again with what was read).
void openblas_read_env(void);
int blas_thread_shutdown_(void);

/// LAPACK's symmetric eigensolver (OpenBLAS bundles LAPACK): eigenvalues ascending in w, vectors
/// in the columns of a (column-major, n × n). The trailing lengths are gfortran's hidden
/// character-argument lengths.
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_len, size_t uplo_len);
