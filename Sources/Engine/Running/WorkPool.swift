import Foundation

/// Work stopped on request (Ctrl-C) before it finished; what finished is kept by whoever asked.
public struct Cancelled: Error, CustomStringConvertible {
    /// What was being done when it stopped.
    public let what: String
    public init(_ what: String = "work") { self.what = what }
    public var description: String { "interrupted: \(what) stopped before it finished" }
}

/// Runs jobs on worker threads: the one place engine work is spread over cores.
///
/// - Jobs come from one shared queue, taken in order, so no worker waits for another until the
///   queue is empty; results are delivered in job order (`onResult`, serialized) and returned in order.
/// - `shouldStop` is polled before each job: after a stop no new job starts, the in-order prefix of
///   finished jobs is kept and the rest is dropped.
/// - BLAS threads: with several workers each runs single-threaded BLAS (small per-item GEMMs scale
///   better across items than across threads); when only one worker is still running, it gets every
///   thread back, so a long last job does not finish on one core. The count is restored at the end.
///   A pool of one worker leaves BLAS as it is (a pool inside a worker of another pool runs with one).
public struct WorkPool {
    public let workers: Int
    public init(workers: Int) { self.workers = max(1, workers) }

    /// Runs `job` on each element `next()` hands out (called under the pool's lock, in order,
    /// until it returns nil) and returns the results in that order (a prefix when stopped).
    /// - Parameter job: `(element, index, worker)`, where `worker` in 0..<workers names the thread
    ///   (for per-worker state).
    ///   A job that throws stops the pool (no new job starts) and the first error is rethrown.
    public func tryRun<J, R>(next: () -> J?, shouldStop: () -> Bool = { false }, onResult: (_ index: Int, R) -> Void = { _, _ in },
                             _ job: (_ element: J, _ index: Int, _ worker: Int) throws -> R) throws -> [R] {
        let w = workers
        let saved = BLAS.threads
        if w > 1 { BLAS.threads = 1 }
        defer { if w > 1 { BLAS.threads = saved } }
        let lock = NSLock()
        var taken = 0, delivered = 0, stop = false, active = w
        var finished: [Int: R] = [:], all: [R] = [], failure: Error? = nil
        DispatchQueue.concurrentPerform(iterations: w) { worker in
            while true {
                lock.lock()
                if !stop && (failure != nil || shouldStop()) { stop = true }
                guard !stop, let element = next() else {
                    active -= 1
                    if active == 1 && w > 1 && saved > 1 { BLAS.threads = saved }
                    lock.unlock(); return
                }
                let index = taken
                taken += 1
                lock.unlock()
                do {
                    let r = try job(element, index, worker)
                    lock.lock()
                    finished[index] = r
                    while let done = finished.removeValue(forKey: delivered) {
                        all.append(done)
                        onResult(delivered, done)
                        delivered += 1
                    }
                    lock.unlock()
                } catch {
                    lock.lock(); if failure == nil { failure = error }; lock.unlock()
                }
            }
        }
        if let e = failure { throw e }
        return all
    }

    /// `tryRun` for jobs that cannot fail.
    public func run<J, R>(next: () -> J?, shouldStop: () -> Bool = { false }, onResult: (_ index: Int, R) -> Void = { _, _ in },
                          _ job: (_ element: J, _ index: Int, _ worker: Int) -> R) -> [R] {
        do { return try tryRun(next: next, shouldStop: shouldStop, onResult: onResult, job) } catch { preconditionFailure("a job that cannot throw threw \(error)") }
    }

    /// `tryRun` over the indices 0..<count (at most `count` workers).
    public func tryMap<R>(_ count: Int, shouldStop: () -> Bool = { false }, onResult: (_ index: Int, R) -> Void = { _, _ in },
                          _ job: (_ index: Int, _ worker: Int) throws -> R) throws -> [R] {
        var i = 0
        return try WorkPool(workers: min(workers, max(count, 1))).tryRun(next: { () -> Int? in defer { i += 1 }; return i < count ? i : nil },
                                                                        shouldStop: shouldStop, onResult: onResult) { k, _, w in try job(k, w) }
    }

    /// `tryMap` for jobs that cannot fail.
    public func map<R>(_ count: Int, shouldStop: () -> Bool = { false }, onResult: (_ index: Int, R) -> Void = { _, _ in },
                       _ job: (_ index: Int, _ worker: Int) -> R) -> [R] {
        do { return try tryMap(count, shouldStop: shouldStop, onResult: onResult, job) } catch { preconditionFailure("a job that cannot throw threw \(error)") }
    }
}
