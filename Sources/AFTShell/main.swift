import Engine
import Foundation
import Lang

let aftVersion = "0.1.0"

ensureFastBLASKernel()

let usage = """
usage: aft                      start the interactive shell
       aft FILE.aft             run a script (stops at the first error)
       aft -e 'CMDS'            run commands given inline (';' or newlines between them)
       aft --help | --version

Exit codes: 0 success, 1 runtime error, 2 usage or parse error.
Environment: AFT_MODELS (model cache), AFT_DATA (data directory), AFT_HISTORY (history file).
Inside the shell, 'help' lists the commands.
"""

let session = Session()
let progress = TerminalProgress()
session.progress = progress
let gnuplot = GnuplotRenderer()
session.chartRenderer = gnuplot
setvbuf(stdout, nil, _IOLBF, 0)

// Ctrl-C stops the running command at its next step; the session and finished work stay.
// A plain handler counts the signal (async-signal-safe); a watcher thread turns it into a cancel request.
installInterruptHandler()
Thread.detachNewThread {
    var seen: Int32 = 0
    while true {
        usleep(50_000)
        let now = interruptCount
        if now != seen { seen = now; session.requestCancel() }
    }
}

var args = Array(CommandLine.arguments.dropFirst())
func runScript(_ source: String, file: String) -> Int32 {
    do { try session.run(source: source, file: file); return 0 }
    catch let d as Diagnostic { printError(d.description); return d.kind == .runtime ? 1 : 2 }
    catch { printError("error: \(error)"); return 1 }
}

if args.isEmpty {
    let hist = ProcessInfo.processInfo.environment["AFT_HISTORY"] ?? NSHomeDirectory() + "/.aft_history"
    if isatty(STDIN_FILENO) != 0 { exit(runREPL(session: session, historyFile: hist)) }
    // Not a terminal: read lines plainly, keep going after errors like the REPL does.
    var status: Int32 = 0
    while let line = readLine() {
        let t = line.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { continue }
        if t == "quit" || t == "exit" { break }
        status = runLine(t, session: session)
    }
    exit(status)
}
switch args[0] {
case "--help", "-h": print(usage); exit(0)
case "--bench":
    do { try runBench(Array(args.dropFirst())); exit(0) } catch { printError("aft: \(error)"); exit(1) }
case "--tokenize":
    // Developer aid: token ids (and pieces) of a text, as the model's tokenizer produces them.
    guard args.count >= 3 else { printError("usage: aft --tokenize MODEL TEXT"); exit(2) }
    do {
        let loc = try ModelRegistry().resolve(args[1])
        let tok: Tokenizer
        switch loc { case .gguf(let p): tok = try Tokenizer(gguf: GGUFFile(path: p)); case .hfDirectory(let d): tok = try Tokenizer(directory: d) }
        let ids = tok.encode(args[2...].joined(separator: " "), addSpecial: true)
        print(ids.map(String.init).joined(separator: " "))
        print(ids.map { tok.tokens[$0] }.joined(separator: " | "))
        exit(0)
    } catch { printError("aft: \(error)"); exit(1) }
case "--version": print("aft \(aftVersion) (OpenBLAS core: \(BLAS.coreName))"); exit(0)
case "-e":
    guard args.count >= 2 else { printError("aft: -e needs commands\n" + usage); exit(2) }
    exit(runScript(args[1...].joined(separator: "\n"), file: "<-e>"))
default:
    if args[0].hasPrefix("-") { printError("aft: unknown option '\(args[0])'\n" + usage); exit(2) }
    guard let text = try? String(contentsOfFile: args[0], encoding: .utf8) else {
        printError("aft: cannot read script '\(args[0])'"); exit(2)
    }
    exit(runScript(text, file: args[0]))
}
