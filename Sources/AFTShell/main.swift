import Engine
import Foundation
import Lang

let aftVersion = "0.1.0"

ensureFastBLASKernel()
tuneProcess()

let usage = """
usage: aft                      start the interactive shell
       aft FILE.aft             run a script (stops at the first error)
       aft -e 'CMDS'            run commands given inline (';' or newlines between them)
       ... --report DIR         after a script or -e, write its notebook (markdown, charts, JSON) to DIR
       ... --shard I/N          train only shard I of N of every sweep and grid (Slurm job arrays; see README)
       aft kernel install [--user]  make aft a Jupyter kernel (then: jupyter lab, and pick "AFT")
       aft --help | --version

Exit codes: 0 success, 1 runtime error, 2 usage or parse error, 130 interrupted (work finished so far kept).
Environment: AFT_MODELS (model cache), AFT_DATA (data directory), AFT_HISTORY (history file).
Inside the shell, 'help' lists the commands.
"""

// Data beside the checkout the binary was built in (…/repo/.build/release/aft → …/shared/data),
// after the engine's own search places: the shell's policy, not the engine's.
do {
    var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<5 { exe = exe.deletingLastPathComponent(); Dataset.defaultSearchDirs.append(exe.path + "/shared/data") }
}

let progress = TerminalProgress()
// Results print on a clean line: a progress line being drawn is erased first.
let session = Session(output: { text in progress.clear(); print(text) })
session.progress = progress
// `generate` streams its text as it comes: written without a newline and flushed at once.
session.stream = { text in progress.clear(); fputs(text, stdout); fflush(stdout) }
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
// `--shard I/N` (with a script): sweeps and grids train only shard I of N of their cells.
var shard: (index: Int, count: Int)? = nil
if let i = args.firstIndex(of: "--shard") {
    let spec = i + 1 < args.count ? args[i + 1] : ""
    let parts = spec.split(separator: "/").map { Int($0) }
    guard parts.count == 2, let a = parts[0], let b = parts[1], b >= 1, b <= 100_000, a >= 1, a <= b else {
        printError("aft: --shard needs I/N with 1 ≤ I ≤ N (e.g. --shard 2/8), got '\(spec)'\n" + usage); exit(2)
    }
    shard = (a, b)
    session.shard = shard
    args.removeSubrange(i...(i + 1))
    if args.isEmpty { printError("aft: --shard goes with a script\n" + usage); exit(2) }
}
// `--report DIR` (after a script or -e): the notebook is written even when the script fails or is interrupted.
var reportDir: String? = nil
if let i = args.firstIndex(of: "--report") {
    guard i + 1 < args.count, !args[i + 1].hasPrefix("-") else { printError("aft: --report needs a directory\n" + usage); exit(2) }
    reportDir = args[i + 1]
    args.removeSubrange(i...(i + 1))
    if args.isEmpty { printError("aft: --report goes with a script or -e\n" + usage); exit(2) }
}

func runScript(_ source: String, file: String) -> Int32 {
    var status: Int32 = 0
    do { try session.run(source: source, file: file) }
    catch let d as Diagnostic { printError(d.description); status = d.kind == .runtime ? 1 : 2 }
    catch { printError("error: \(error)"); status = 1 }
    // Ctrl-C: the work finished so far is kept (and reported below), but the script did not complete.
    if status == 0 && session.interrupted { status = 130 }
    if let dir = reportDir {
        do {
            let title = file == "<-e>" ? "aft -e" : (file as NSString).lastPathComponent
            // `--report DIR` names the directory on the command line: it replaces the notebook there.
            let path = try session.writeReport(to: dir, title: title, generator: "aft \(aftVersion)", overwrite: true)
            print("report: \(path)")
        } catch { printError("aft: cannot write the report: \(error)"); if status == 0 { status = 1 } }
    }
    return status
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
case "kernel":
    // `aft kernel install …` writes the kernelspec; `aft kernel CONNECTION_FILE` is what Jupyter runs.
    let rest = Array(args.dropFirst())
    if rest.first == "install" {
        do { print("installed the AFT kernelspec in \(try KernelSpec.install(Array(rest.dropFirst())))"); exit(0) }
        catch { printError("aft kernel install: \(error)"); exit(2) }
    }
    guard rest.count == 1, !rest[0].hasPrefix("-") else { printError(KernelSpec.usage); exit(2) }
    do { try JupyterKernel(connectionFile: rest[0], session: session).serve() }
    catch { printError("aft kernel: \(error)"); exit(1) }
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
