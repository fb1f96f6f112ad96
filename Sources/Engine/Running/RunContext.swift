import Foundation

/// What a long piece of engine work runs under: how many workers it may use and when to stop.
/// Passed whole (not as separate worker counts and stop closures) to scoring, caching, training,
/// sweeps and compositions; each hands it on to what it calls.
public struct RunContext {
    /// Threads for independent jobs (`WorkPool`); 1 inside another pool's worker.
    public var workers: Int
    /// Polled between jobs and steps: true asks the work to stop, keeping what has finished.
    public var shouldStop: () -> Bool

    public init(workers: Int = ProcessInfo.processInfo.activeProcessorCount, shouldStop: @escaping () -> Bool = { false }) {
        self.workers = max(1, workers)
        self.shouldStop = shouldStop
    }

    /// The pool these jobs run on.
    public var pool: WorkPool { WorkPool(workers: workers) }

    /// The same stop condition with `n` workers.
    public func with(workers n: Int) -> RunContext { RunContext(workers: n, shouldStop: shouldStop) }
}
