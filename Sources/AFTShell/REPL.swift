import CEditLine
import Engine
import Foundation
import Lang

/// SIGINTs received so far (written only by the signal handler).
nonisolated(unsafe) var interruptCount: Int32 = 0

/// Installs the SIGINT handler that only counts the signal.
func installInterruptHandler() {
    signal(SIGINT) { _ in interruptCount &+= 1 }
}

/// Completion candidates for the word being typed (set before each readline call).
nonisolated(unsafe) var completionSession: Session?
nonisolated(unsafe) var completionCandidates: [String] = []
nonisolated(unsafe) var completionIndex = 0

/// Words that can follow at this point of the line: commands, argument names, models, tasks, variables, files.
func completions(line: String, word: String, session: Session?) -> [String] {
    let before = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    let typingFirst = before.isEmpty || (before.count == 1 && !line.hasSuffix(" "))
    if typingFirst { return (CommandTable.names + [":time", ":save"]).filter { $0.hasPrefix(word) } }
    var cmdAt = 0
    if before[0] == ":time", before.count >= 2 { cmdAt = 1 }
    if before.count >= 2 && before[1] == "=" { cmdAt = 2 }
    guard cmdAt < before.count, let spec = CommandTable.spec(before[cmdAt]) else { return [] }
    var out: [String] = spec.named.map { $0.name + "=" }
    // Which positional argument is being typed: the finished words after the command that are
    // not `key=value` and not a keyword pair like `layers all` / `as NAME`.
    let finished = Array(before[(cmdAt + 1)...].prefix(before.count - cmdAt - 1 - (line.hasSuffix(" ") ? 0 : 1)))
    var position = 0, k = 0
    while k < finished.count {
        if finished[k].contains("=") { k += 1; continue }
        if spec.named.contains(where: { $0.name == finished[k] }) { k += 2; continue }
        position += 1; k += 1
    }
    if spec.variadic && !spec.positional.isEmpty { position = min(position, spec.positional.count - 1) }
    var kinds: Set<CompletionKind> = position < spec.positional.count ? [spec.positional[position].completes] : []
    if position < spec.positional.count, case .choice(let c) = spec.positional[position].type { out += c }
    if let eq = word.firstIndex(of: "=") {
        let key = String(word[..<eq])
        if let p = spec.named.first(where: { $0.name == key }) { kinds = [p.completes] }
        let prefix = key + "="
        let value = String(word[word.index(after: eq)...])
        if let p = spec.named.first(where: { $0.name == key }), case .choice(let c) = p.type {
            return c.map { prefix + $0 }.filter { $0.hasPrefix(word) }
        }
        return candidates(kinds, session, partial: value).map { prefix + $0 }.filter { $0.hasPrefix(word) }
    }
    // A word that looks like a path completes as one, whatever the argument.
    if word.contains("/") || word.hasPrefix("~") || word.hasPrefix(".") { kinds.insert(.file) }
    out += candidates(kinds, session, partial: word)
    return out.filter { $0.hasPrefix(word) }
}

/// Files and directories whose path starts with `partial` (directories end in '/'; `~` is kept as typed).
func fileCandidates(_ partial: String) -> [String] {
    let slash = partial.lastIndex(of: "/")
    let dirPart = slash.map { String(partial[...$0]) } ?? ""
    let namePrefix = slash.map { String(partial[partial.index(after: $0)...]) } ?? partial
    let dir = dirPart.isEmpty ? "." : (dirPart as NSString).expandingTildeInPath
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
    return names.filter { $0.hasPrefix(namePrefix) && (namePrefix.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name in
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(name), isDirectory: &isDir)
        return dirPart + name + (isDir.boolValue ? "/" : "")
    }
}

func candidates(_ kinds: Set<CompletionKind>, _ s: Session?, partial: String = "") -> [String] {
    var out: [String] = []
    if kinds.contains(.file) { out += fileCandidates(partial) }
    if kinds.contains(.model) { out += ModelRegistry.allNames }
    if kinds.contains(.task) { out += Dataset.taskNames + CAA.behaviours(dataDir: s?.settings.data).map { "caa/" + $0 } }
    if kinds.contains(.command) { out += CommandTable.names }
    if kinds.contains(.variable) {
        // Result variables, trained vectors (named by `as NAME`) and `model`, each once.
        let names = Set(s?.variables.keys.map { $0 } ?? []).union(s?.vectors.keys.map { $0 } ?? [])
        out += names.sorted() + ["model"]
    }
    return out
}

/// The interactive loop over libedit: line editing, persistent history, Ctrl-R search, Tab completion.
func runREPL(session: Session, historyFile: String) -> Int32 {
    completionSession = session
    rl_readline_name = UnsafePointer(strdup("aft"))
    // Words break at blanks only, so `log=out/a` completes as one word (key and path).
    rl_basic_word_break_characters = UnsafePointer(strdup(" \t\n"))
    rl_completer_word_break_characters = strdup(" \t\n")
    using_history()
    _ = read_history(historyFile)
    rl_attempted_completion_function = { text, start, _ in
        let word = text.map { String(cString: $0) } ?? ""
        let line = rl_line_buffer.map { String(cString: $0) } ?? ""
        let upto = String(line.prefix(Int(start)))
        completionCandidates = completions(line: upto + word, word: word, session: completionSession)
        completionIndex = 0
        // Fall back to file names when nothing else matches.
        if completionCandidates.isEmpty { return nil }
        // A directory or `key=` is not finished: no space after it.
        let only = completionCandidates.count == 1 ? completionCandidates[0] : ""
        rl_completion_append_character = only.hasSuffix("/") || only.hasSuffix("=") ? 0 : 32
        return rl_completion_matches(text) { _, state in
            if state == 0 { completionIndex = 0 }
            guard completionIndex < completionCandidates.count else { return nil }
            defer { completionIndex += 1 }
            return strdup(completionCandidates[completionIndex])
        }
    }
    print("AFT Shell \(aftVersion) — type 'help' for commands, Tab to complete, Ctrl-D to quit.")
    while true {
        let before = interruptCount
        let got = readline("aft> ")
        // libedit may leave SIGINT at its default (terminate) after reading a line: reinstall ours.
        installInterruptHandler()
        guard let cline = got else {
            // NULL is end of input (Ctrl-D) unless a Ctrl-C interrupted the read: then a fresh prompt.
            print("")
            if interruptCount != before { continue }
            return 0
        }
        if interruptCount != before { free(cline); continue }   // Ctrl-C discards the line being typed
        let line = String(cString: cline)
        free(cline)
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { continue }
        add_history(trimmed)
        _ = write_history(historyFile)
        if trimmed == "quit" || trimmed == "exit" { return 0 }
        _ = runLine(trimmed, session: session)
    }
}

/// Runs one REPL line, handling the meta commands `:time CMD` and `:save FILE`.
func runLine(_ line: String, session: Session) -> Int32 {
    if line.hasPrefix(":save") {
        let path = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
        guard !path.isEmpty else { print("usage: :save FILE.aft"); return 2 }
        let text = "# AFT session saved \(Date())\n" + session.history.joined(separator: "\n") + "\n"
        do { try text.write(toFile: path, atomically: true, encoding: .utf8); print("saved \(session.history.count) commands to \(path)") }
        catch { print("error: cannot write \(path): \(error.localizedDescription)"); return 1 }
        return 0
    }
    var src = line, timed = false
    if line.hasPrefix(":time") { timed = true; src = String(line.dropFirst(5)) }
    let t0 = Date()
    defer { if timed { print(String(format: "time: %.3f s", Date().timeIntervalSince(t0))) } }
    do { try session.run(source: src, file: "<repl>") }
    catch let d as Diagnostic { printError(d.description); return d.kind == .runtime ? 1 : 2 }
    catch { printError("error: \(error)"); return 1 }
    return 0
}

func printError(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
