import Foundation

/// Wall time by part of a forward pass (`AFT_PROFILE=1`), summed until `report()` prints it on
/// stderr, which `Generator.generate` does at its end: which part of a block a generation spends
/// its time in (the head and the whole forward are parts too, so the shares overlap).
public enum Profile {
    public static let on = ProcessInfo.processInfo.environment["AFT_PROFILE"] != nil
    private static let lock = NSLock()
    nonisolated(unsafe) private static var totals: [String: Double] = [:]

    /// Runs `f`, adding its wall time to `part` when profiling is on.
    @inline(__always)
    static func time<T>(_ part: String, _ f: () -> T) -> T {
        guard on else { return f() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = f()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        lock.lock(); totals[part, default: 0] += dt; lock.unlock()
        return r
    }

    /// Seconds by part, largest first, on stderr; then starts over.
    public static func report() {
        guard on else { return }
        lock.lock(); let t = totals; totals = [:]; lock.unlock()
        let all = t.values.reduce(0, +)
        for (k, v) in t.sorted(by: { $0.value > $1.value }) {
            FileHandle.standardError.write(Data(String(format: "profile %-12@ %8.2f s %5.1f %%\n", k as NSString, v, 100 * v / max(all, 1e-9)).utf8))
        }
    }
}
