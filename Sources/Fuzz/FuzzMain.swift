import Foundation

/// The target chosen on the command line (`aft-fuzz TARGET …`); libFuzzer's callback reads it.
nonisolated(unsafe) var chosen: FuzzTarget?

/// libFuzzer's entry point (built by scripts/fuzz with `-sanitize=fuzzer,address -DFUZZING`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    chosen?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

func usage() -> Never {
    var text = "usage: aft-fuzz TARGET FILE|DIR ...   replays inputs through TARGET (scripts/fuzz TARGET SECONDS runs libFuzzer)\n"
    text += "targets:\n" + FuzzTargets.all.map { "  \($0.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \($0.summary)" }.joined(separator: "\n") + "\n"
    FileHandle.standardError.write(Data(text.utf8))
    exit(2)
}

/// Takes the target name off the command line, leaving the rest for libFuzzer or the replayer.
func chooseTarget() -> [String] {
    var args = CommandLine.arguments
    guard args.count >= 2, let t = FuzzTargets.named(args[1]) else { usage() }
    chosen = t
    args.remove(at: 1)
    return args
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM renames an executable's entry point, so libFuzzer's own `main` is not used: this one
/// hands the command line (less the target name) to libFuzzer's driver.
@main
enum FuzzMain {
    static func main() {
        let args = chooseTarget()
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        var argc = CInt(args.count)
        cargs.withUnsafeMutableBufferPointer { buf in
            var argv = buf.baseAddress!
            exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
        }
    }
}
#else
/// Without libFuzzer: replays the given files and directories (a corpus, crash inputs) through
/// the target, so a saved crash can be reproduced in an ordinary build and the test run replays
/// the committed corpus.
@main
enum Replay {
    static func main() {
        let args = chooseTarget()
        let fm = FileManager.default
        var files: [String] = []
        for arg in args.dropFirst() {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: arg, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("aft-fuzz: no such file or directory: \(arg)\n".utf8))
                exit(2)
            }
            if isDir.boolValue {
                files += ((try? fm.contentsOfDirectory(atPath: arg)) ?? []).sorted().filter { !$0.hasPrefix(".") }.map { "\(arg)/\($0)" }
            } else { files.append(arg) }
        }
        guard !files.isEmpty, let t = chosen else { usage() }
        for f in files {
            guard let d = fm.contents(atPath: f) else { continue }
            d.withUnsafeBytes { t.run($0) }
        }
        print("replayed \(files.count) inputs through \(t.name) without a crash")
    }
}
#endif
