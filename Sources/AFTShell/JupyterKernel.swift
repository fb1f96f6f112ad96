import CZMQ
import Engine
import Foundation
import Lang

/// `aft kernel CONNECTION_FILE`: the AFT language as a Jupyter kernel (messaging protocol 5.3).
///
/// Threads: the main thread reads the shell socket and runs cells, so the session lives on one
/// thread as in the REPL; a control thread answers interrupt, shutdown and kernel_info while a
/// cell runs; a heartbeat thread echoes. iopub is shared under a lock. SIGINT (interrupt_mode
/// "signal") reaches the session through the shell's Ctrl-C watcher: the running command stops
/// at its next item and keeps what finished.
final class JupyterKernel {
    let session: Session
    let signer: MessageSigner
    let id = UUID().uuidString.lowercased()
    let context: UnsafeMutableRawPointer
    let shell: ZMQSocket, control: ZMQSocket, stdin: ZMQSocket, iopub: ZMQSocket, heartbeat: ZMQSocket
    private let iopubLock = NSLock()
    /// Counts executions that store history (the `In [n]` number).
    var executionCount = 0
    /// Executed cells, in order, for history_request: (execution count, source).
    var history: [(Int, String)] = []
    /// The request whose cell is running: outputs name it as their parent.
    var running: JupyterMessage?
    /// The running cell asked for no output (`silent`).
    var silent = false
    /// A value result (`NAME = …`, `show`) held back: sent as the cell's execute_result when it is
    /// the cell's last output, else as display_data before whatever comes next.
    var pendingValue: CommandResult?
    let progress: KernelProgress
    let charts: KernelChartRenderer

    init(connectionFile: String, session: Session) throws {
        let info = try ConnectionInfo(file: connectionFile)
        guard let ctx = zmq_ctx_new() else { throw ZMQSocket.Failure("cannot create a ZeroMQ context") }
        context = ctx
        signer = MessageSigner(key: Array(info.key.utf8))
        shell = try ZMQSocket(context: ctx, type: ZMQ_ROUTER, endpoint: info.endpoint(info.shell))
        control = try ZMQSocket(context: ctx, type: ZMQ_ROUTER, endpoint: info.endpoint(info.control))
        stdin = try ZMQSocket(context: ctx, type: ZMQ_ROUTER, endpoint: info.endpoint(info.stdin))
        iopub = try ZMQSocket(context: ctx, type: ZMQ_PUB, endpoint: info.endpoint(info.iopub))
        heartbeat = try ZMQSocket(context: ctx, type: ZMQ_REP, endpoint: info.endpoint(info.heartbeat))
        self.session = session
        progress = KernelProgress()
        charts = KernelChartRenderer(base: GnuplotRenderer())
        progress.kernel = self
        charts.kernel = self
    }

    /// Serves until a shutdown request; never returns.
    func serve() -> Never {
        session.output = { [unowned self] text in self.stream(text + "\n") }
        session.stream = { [unowned self] text in self.stream(text) }
        session.progress = progress
        session.chartRenderer = charts
        session.presenter = { [unowned self] r, isValue in self.present(r, isValue: isValue) }
        Thread.detachNewThread { [unowned self] in
            while let frames = self.heartbeat.receive() { self.heartbeat.send(frames) }
        }
        Thread.detachNewThread { [unowned self] in
            while let frames = self.control.receive() { self.handle(frames, on: self.control) }
        }
        // A kernel whose Jupyter server died without shutting it down (its parent is gone) exits too.
        let parent = getppid()
        Thread.detachNewThread {
            while getppid() == parent { sleep(1) }
            exit(0)
        }
        publish("status", ["execution_state": "starting"], parent: nil)
        while let frames = shell.receive() { handle(frames, on: shell) }
        exit(0)
    }

    /// Authenticates and dispatches one request; a message that fails is dropped and logged.
    func handle(_ frames: [Data], on socket: ZMQSocket) {
        let msg: JupyterMessage
        do { msg = try JupyterMessage(frames: frames, signer: signer) } catch {
            log("dropped a message on the \(socket === control ? "control" : "shell") channel: \(error)")
            return
        }
        // The control channel answers what must get through while a cell runs; cells, completion,
        // inspection and history belong to the shell channel, whose thread owns the session.
        if socket === control && !["kernel_info_request", "interrupt_request", "shutdown_request"].contains(msg.type) {
            log("ignored a '\(msg.type)' message on the control channel (it belongs on the shell channel)")
            return
        }
        publish("status", ["execution_state": "busy"], parent: msg)
        defer { publish("status", ["execution_state": "idle"], parent: msg) }
        switch msg.type {
        case "kernel_info_request": reply(msg, on: socket, "kernel_info_reply", kernelInfo)
        case "execute_request": execute(msg)
        case "complete_request": reply(msg, on: socket, "complete_reply", complete(msg.content))
        case "inspect_request": reply(msg, on: socket, "inspect_reply", inspect(msg.content))
        case "is_complete_request": reply(msg, on: socket, "is_complete_reply", isComplete(msg.content))
        case "history_request": reply(msg, on: socket, "history_reply", historyReply(msg.content))
        case "comm_info_request": reply(msg, on: socket, "comm_info_reply", ["status": "ok", "comms": [String: Any]()])
        case "interrupt_request":
            session.requestCancel()
            reply(msg, on: socket, "interrupt_reply", ["status": "ok"])
        case "shutdown_request":
            let restart = msg.content["restart"] as? Bool ?? false
            reply(msg, on: socket, "shutdown_reply", ["status": "ok", "restart": restart])
            publish("status", ["execution_state": "idle"], parent: msg)
            session.requestCancel()
            usleep(200_000)   // the reply and the idle status leave before the process does
            exit(0)
        default:
            log("ignored a '\(msg.type)' message: aft does not handle it")
        }
    }

    // MARK: sending

    func reply(_ request: JupyterMessage, on socket: ZMQSocket, _ type: String, _ content: [String: Any]) {
        socket.send(JupyterMessage(type: type, content: content, parent: request, session: id).frames(signer: signer))
    }

    /// Publishes on iopub (topic `kernel.ID.TYPE`), from any thread.
    func publish(_ type: String, _ content: [String: Any], parent: JupyterMessage?) {
        var m = JupyterMessage(type: type, content: content, parent: parent, session: id)
        m.identities = [Data("kernel.\(id).\(type)".utf8)]
        iopubLock.lock()
        defer { iopubLock.unlock() }
        iopub.send(m.frames(signer: signer))
    }

    /// Publishes an output of the running cell; a held-back value result goes first, to keep the order.
    func output(_ type: String, _ content: [String: Any]) {
        guard !silent else { return }
        flushPendingValue()
        publish(type, content, parent: running)
    }

    /// Sends a held-back value result as display_data (something came after it).
    func flushPendingValue() {
        guard let v = pendingValue else { return }
        pendingValue = nil
        publish("display_data", JupyterKernel.display(JupyterKernel.bundle(v)), parent: running)
    }

    func stream(_ text: String, name: String = "stdout") {
        output("stream", ["name": name, "text": text])
    }

    /// A display_data message's content: the bundle, its metadata, and a display id when it will be updated.
    static func display(_ data: [String: Any], metadata: [String: Any] = [:], id: String? = nil) -> [String: Any] {
        ["data": data, "metadata": metadata, "transient": id.map { ["display_id": $0] } ?? [String: Any]()]
    }

    /// A result's MIME bundle: its markdown tables (where it has them) and its text.
    static func bundle(_ r: CommandResult) -> [String: Any] {
        var data: [String: Any] = ["text/plain": r.display]
        let md = r.markdownTables
        if !md.isEmpty { data["text/markdown"] = md }
        return data
    }

    func present(_ r: CommandResult, isValue: Bool) {
        guard !silent else { return }
        if isValue { flushPendingValue(); pendingValue = r }
        else { output("display_data", JupyterKernel.display(JupyterKernel.bundle(r))) }
    }

    func log(_ s: String) {
        FileHandle.standardError.write(Data("aft kernel: \(s)\n".utf8))
    }

    // MARK: requests

    var kernelInfo: [String: Any] {
        ["status": "ok", "protocol_version": "5.3", "implementation": "aft", "implementation_version": aftVersion,
         "language_info": ["name": "aft", "version": aftVersion, "mimetype": "text/x-aft", "file_extension": ".aft",
                           "pygments_lexer": "bash", "codemirror_mode": "shell"],
         "banner": "AFT Shell \(aftVersion): activation fine-tuning of frozen language models. Type 'help' for commands.",
         "help_links": [["text": "AFT commands (help)", "url": "https://github.com/aft-shell/aft#readme"]]]
    }

    /// Runs a cell as a script: checked whole before it runs; errors (all of them) as an error reply.
    func execute(_ msg: JupyterMessage) {
        let code = msg.content["code"] as? String ?? ""
        silent = msg.content["silent"] as? Bool ?? false
        let storeHistory = msg.content["store_history"] as? Bool ?? !silent
        if storeHistory { executionCount += 1 }
        let count = executionCount
        running = msg
        pendingValue = nil
        defer { running = nil; silent = false }
        if !silent { publish("execute_input", ["code": code, "execution_count": count], parent: msg) }
        if storeHistory { history.append((count, code)) }
        session.clearCancel()
        var failure: (ename: String, evalue: String, traceback: [String])? = nil
        do {
            try session.run(source: code, file: "<cell \(count)>")
        } catch let d as Diagnostic {
            let name: String
            switch d.kind { case .syntax: name = "SyntaxError"; case .usage: name = "UsageError"; case .runtime: name = "RuntimeError" }
            failure = (name, d.message, d.description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        } catch {
            failure = ("RuntimeError", "\(error)", ["error: \(error)"])
        }
        progress.finish()
        if failure == nil && session.cancelled {
            failure = ("Interrupted", "interrupted: the command stopped at its next step; what finished is kept",
                       ["interrupted: the command stopped at its next step; what finished is kept (its result is stored)"])
        }
        if let v = pendingValue, !silent, failure == nil {
            pendingValue = nil
            publish("execute_result", ["execution_count": count, "data": JupyterKernel.bundle(v), "metadata": [String: Any]()], parent: msg)
        } else {
            flushPendingValue()
        }
        if let f = failure {
            if !silent { publish("error", ["ename": f.ename, "evalue": f.evalue, "traceback": f.traceback], parent: msg) }
            reply(msg, on: shell, "execute_reply", ["status": "error", "execution_count": count, "ename": f.ename,
                                                     "evalue": f.evalue, "traceback": f.traceback])
        } else {
            reply(msg, on: shell, "execute_reply", ["status": "ok", "execution_count": count, "payload": [Any](),
                                                     "user_expressions": [String: Any]()])
        }
    }

    /// The text before the cursor on its statement (after the last newline or ';').
    static func statementBefore(_ code: String, cursor: Int) -> String {
        let chars = Array(code)
        let upto = String(chars[0..<max(0, min(cursor, chars.count))])
        return String(upto.split(separator: "\n", omittingEmptySubsequences: false).last ?? "")
            .split(separator: ";", omittingEmptySubsequences: false).last.map { String($0).trimmingPrefixBlanks() } ?? ""
    }

    /// The REPL's completion at the cursor (cursor_pos counts Unicode code points, protocol 5.2+).
    func complete(_ c: [String: Any]) -> [String: Any] {
        let code = c["code"] as? String ?? ""
        let cursor = c["cursor_pos"] as? Int ?? code.count
        let line = JupyterKernel.statementBefore(code, cursor: cursor)
        let word = line.hasSuffix(" ") ? "" : String(line.split(separator: " ").last ?? "")
        let matches = completions(line: line, word: word, session: session)
        let at = min(cursor, code.count)
        return ["status": "ok", "matches": matches, "cursor_start": at - word.count, "cursor_end": at, "metadata": [String: Any]()]
    }

    /// `help` for the command under the cursor (or the command of its statement); a variable's value.
    func inspect(_ c: [String: Any]) -> [String: Any] {
        let code = c["code"] as? String ?? ""
        let chars = Array(code)
        let cursor = max(0, min(c["cursor_pos"] as? Int ?? chars.count, chars.count))
        var a = cursor, b = cursor
        func inWord(_ ch: Character) -> Bool { ch.isLetter || ch.isNumber || ch == "_" || ch == "-" || ch == ":" }
        while a > 0 && inWord(chars[a - 1]) { a -= 1 }
        while b < chars.count && inWord(chars[b]) { b += 1 }
        let word = String(chars[a..<b])
        var text: String? = nil
        if CommandTable.spec(word) != nil { text = CommandTable.help(word) }
        else if let v = session.variables[word] { text = v.display }
        else {
            // The statement's own command: `r = train …` → train.
            let words = JupyterKernel.statementBefore(code, cursor: cursor).split(separator: " ").map(String.init)
            let cmd = words.count >= 3 && words[1] == "=" ? words[2] : words.first ?? ""
            if CommandTable.spec(cmd) != nil { text = CommandTable.help(cmd) }
        }
        guard let t = text else { return ["status": "ok", "found": false, "data": [String: Any](), "metadata": [String: Any]()] }
        return ["status": "ok", "found": true, "data": ["text/plain": t], "metadata": [String: Any]()]
    }

    /// Statements are one line each: text that parses is complete; a syntax error is invalid
    /// (continuing on another line cannot fix it), and running it shows the error.
    func isComplete(_ c: [String: Any]) -> [String: Any] {
        let code = c["code"] as? String ?? ""
        do {
            var p = try Parser(source: code)
            _ = try p.parse()
            return ["status": "complete"]
        } catch {
            return ["status": "invalid"]
        }
    }

    /// The cells executed in this kernel: `tail` (last n), `range` (start..<stop) or `search` (glob pattern).
    func historyReply(_ c: [String: Any]) -> [String: Any] {
        var rows = history
        switch c["hist_access_type"] as? String ?? "tail" {
        case "range":
            let start = c["start"] as? Int ?? 0, stop = c["stop"] as? Int ?? Int.max
            rows = rows.filter { $0.0 >= start && $0.0 < stop }
        case "search":
            let pattern = c["pattern"] as? String ?? "*"
            rows = rows.filter { fnmatch(pattern, $0.1, 0) == 0 }
            if let n = c["n"] as? Int, n > 0 { rows = Array(rows.suffix(n)) }
        default:
            if let n = c["n"] as? Int, n >= 0 { rows = Array(rows.suffix(n)) }
        }
        let withOutput = c["output"] as? Bool ?? false
        return ["status": "ok", "history": rows.map { r -> [Any] in withOutput ? [1, r.0, [r.1, NSNull()]] : [1, r.0, r.1] }]
    }
}

extension String {
    func trimmingPrefixBlanks() -> String { String(drop { $0 == " " || $0 == "\t" }) }
}
