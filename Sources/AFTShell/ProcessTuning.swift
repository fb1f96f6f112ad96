import CMalloc
import Engine

/// Settings of the process the engine runs fastest under, made once at startup:
/// - OpenBLAS's idle threads sleep after ~20 µs instead of spinning for ~80 ms through the
///   stretches where aft's own threads work (`BLAS.shortenThreadTimeout`).
/// - glibc keeps up to 256 MB of freed heap and serves arrays of up to 32 MB from it. By default
///   it hands freed memory above twice its (adaptive) mmap threshold back to the system at once,
///   and a forward pass frees and allocates tens of MB of activations per block, so every block
///   faulted its pages in, zeroed, again (a few % of a generation run).
func tuneProcess() {
    BLAS.shortenThreadTimeout()
    _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
    _ = mallopt(M_TRIM_THRESHOLD, 256 << 20)
}
