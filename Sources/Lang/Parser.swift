/// Parses tokens into statements. Each loop iteration consumes at least one token, and input
/// size is bounded, so malformed input ends in a diagnostic, never a hang.
public struct Parser {
    let tokens: [Token]
    let lines: [Substring]
    var p = 0
    public static let maxStatements = 100_000
    public static let maxListLength = 10_000

    public init(source: String) throws {
        var lx = Lexer(source)
        tokens = try lx.tokenize()
        lines = source.split(separator: "\n", omittingEmptySubsequences: false)
    }

    var cur: Token { tokens[min(p, tokens.count - 1)] }
    mutating func bump() -> Token { let t = cur; if p < tokens.count - 1 { p += 1 }; return t }

    public mutating func parse() throws -> [Statement] {
        let (out, errors) = parseRecovering()
        if var first = errors.first { first.more = Array(errors.dropFirst()); throw first }
        return out
    }

    /// Every statement that parses, and a diagnostic for each that does not: after an error the
    /// parser skips to the next statement (newline or ';') and goes on.
    public mutating func parseRecovering() -> ([Statement], [Diagnostic]) {
        var out: [Statement] = [], errors: [Diagnostic] = []
        while cur.kind != .eof {
            if cur.kind == .separator { _ = bump(); continue }
            guard out.count < Parser.maxStatements else {
                errors.append(Diagnostic(.syntax, "too many statements", at: cur.location)); break
            }
            let before = p
            do { out.append(try statement()) } catch let d as Diagnostic {
                errors.append(d)
                while cur.kind != .separator && cur.kind != .eof { _ = bump() }
            } catch {
                errors.append(Diagnostic(.syntax, "\(error)", at: cur.location))
                while cur.kind != .separator && cur.kind != .eof { _ = bump() }
            }
            if p == before { errors.append(Diagnostic(.syntax, "parser made no progress at '\(cur.text)'", at: cur.location)); _ = bump() }
            if p == before && cur.kind == .eof { break }
        }
        return (out, errors)
    }

    func lineText(_ l: Int) -> String { l - 1 < lines.count && l >= 1 ? String(lines[l - 1]) : "" }

    mutating func statement() throws -> Statement {
        let start = cur
        var assign: String? = nil
        guard case .word(let first) = start.kind else {
            throw Diagnostic(.syntax, "expected a command, found '\(start.text)'", at: start.location)
        }
        _ = bump()
        var cmd = first, cmdLoc = start.location
        if cur.kind == .equals, tokens.count > p + 1, case .word(let c) = tokens[p + 1].kind {
            _ = bump()
            assign = first
            cmdLoc = cur.location
            _ = bump()
            cmd = c
        } else if cur.kind == .equals {
            throw Diagnostic(.syntax, "expected a command after '\(first) ='", at: cur.location)
        }
        var args: [Argument] = []
        var endCol = cur.location
        while cur.kind != .separator && cur.kind != .eof {
            let t = cur
            if case .word(let k) = t.kind, tokens.count > p + 1, tokens[p + 1].kind == .equals {
                _ = bump(); _ = bump()
                let vloc = cur.location
                args.append(Argument(key: k, value: try value(), location: t.location, valueLocation: vloc))
            } else {
                args.append(Argument(key: nil, value: try value(), location: t.location, valueLocation: t.location))
            }
            endCol = cur.location
        }
        _ = endCol
        let text = start.location.line == cur.location.line || cur.kind == .separator
            ? statementText(from: start.location) : lineText(start.location.line)
        return Statement(assignTo: assign, command: cmd, commandLocation: cmdLoc, args: args, location: start.location, text: text)
    }

    func statementText(from loc: SourceLocation) -> String {
        let line = lineText(loc.line)
        let chars = Array(line)
        var s = String(chars[min(loc.column - 1, chars.count)...])
        // Stop at a ';' outside quotes, and drop a trailing comment.
        var inQ: Character? = nil
        for (i, c) in s.enumerated() {
            if let q = inQ { if c == q { inQ = nil } }
            else if c == "\"" || c == "'" { inQ = c }
            else if c == ";" || c == "#" { s = String(s.prefix(i)); break }
        }
        return s.trimmingCharacters(in: .whitespaces)
    }

    mutating func atom() throws -> Value {
        let t = bump()
        switch t.kind {
        case .number(let a):
            if cur.kind == .dotdot {
                _ = bump()
                guard case .number(let b) = cur.kind else { throw Diagnostic(.syntax, "expected a number after '..'", at: cur.location) }
                _ = bump()
                guard a == a.rounded(), b == b.rounded(), abs(a) < 1e9, abs(b) < 1e9 else {
                    throw Diagnostic(.syntax, "range bounds must be integers", at: t.location)
                }
                return .range(Int(a), Int(b))
            }
            return .number(a)
        case .string(let s): return .string(s)
        case .word(let w) where w.hasSuffix("%") && cur.kind == .dotdot:
            // A range of percentages (`10%..90%`) stays one word; the command reads it against the model's depth.
            _ = bump()
            guard case .word(let b) = cur.kind, b.hasSuffix("%") else { throw Diagnostic(.syntax, "expected a percentage after '\(w)..'", at: cur.location) }
            _ = bump()
            return .word(w + ".." + b)
        case .word(let w): return .word(w)
        default: throw Diagnostic(.syntax, "expected a value, found '\(t.text.isEmpty ? "end of input" : t.text)'", at: t.location)
        }
    }

    mutating func value() throws -> Value {
        let first = try atom()
        guard cur.kind == .comma else { return first }
        var items = [first]
        while cur.kind == .comma {
            _ = bump()
            guard items.count < Parser.maxListLength else { throw Diagnostic(.syntax, "list too long", at: cur.location) }
            items.append(try atom())
        }
        return .list(items)
    }
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Set where Element == Character { static let whitespaces: Set<Character> = [" ", "\t"] }
