import Foundation
import Lang

/// Runs one input through the lexer, parser, keyword normaliser, checker and help lookup.
/// A crash, a trap or a hang here is a bug: the REPL feeds every typed line to the same code.
func exercise(_ bytes: UnsafeRawBufferPointer) {
    let source = String(decoding: bytes, as: UTF8.self)
    guard var parser = try? Parser(source: source), let statements = try? parser.parse() else { return }
    for s in statements {
        let n = CommandTable.normalize(s)
        _ = try? CommandTable.check(n)
        _ = CommandTable.help(n.command)
    }
}

/// libFuzzer's entry point (built by scripts/fuzz with `-sanitize=fuzzer -DFUZZING`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    exercise(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM renames an executable's entry point, so libFuzzer's own `main` is not used: this one
/// hands the command line to libFuzzer's driver.
@main
enum FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
#else
/// Without libFuzzer: replays the given files and directories (a corpus, crash inputs) through
/// the same entry point, so a saved crash can be reproduced in an ordinary build.
@main
enum Replay {
    static func main() {
        let fm = FileManager.default
        var files: [String] = []
        for arg in CommandLine.arguments.dropFirst() {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: arg, isDirectory: &isDir) else {
                FileHandle.standardError.write("aft-fuzz: no such file or directory: \(arg)\n".data(using: .utf8)!)
                exit(2)
            }
            if isDir.boolValue {
                files += ((try? fm.contentsOfDirectory(atPath: arg)) ?? []).sorted().map { "\(arg)/\($0)" }
            } else { files.append(arg) }
        }
        if files.isEmpty {
            print("usage: aft-fuzz FILE|DIR ...   (replays inputs; scripts/fuzz runs libFuzzer)")
            exit(2)
        }
        for f in files {
            guard let d = fm.contents(atPath: f) else { continue }
            d.withUnsafeBytes { exercise($0) }
        }
        print("replayed \(files.count) inputs without a crash")
    }
}
#endif
