/// Tokens of the AFT language.
public enum TokenKind: Equatable {
    case word(String)        // commands, names, identifiers, paths: smollm2-135m, arc-challenge, out/log.jsonl
    case number(Double)
    case string(String)
    case equals, comma, dotdot, colon
    case separator           // newline or ';'
    case eof
}

public struct Token: Equatable {
    public let kind: TokenKind
    public let location: SourceLocation
    /// Source text of the token (for diagnostics).
    public let text: String
}

/// Splits AFT source into tokens. Never traps: malformed input becomes a syntax diagnostic.
public struct Lexer {
    let chars: [Character]
    var i = 0, line = 1, col = 1

    public init(_ source: String) { chars = Array(source) }

    static func isWordStart(_ c: Character) -> Bool { c.isLetter || c == "_" || c == "." || c == "/" || c == "~" || c == ":" }
    static func isWordChar(_ c: Character) -> Bool { c.isLetter || c.isNumber || "_-./~+@".contains(c) }

    public mutating func tokenize() throws -> [Token] {
        var out: [Token] = []
        while true {
            let t = try next()
            out.append(t)
            if t.kind == .eof { return out }
        }
    }

    mutating func advance() -> Character {
        let c = chars[i]; i += 1
        if c == "\n" { line += 1; col = 1 } else { col += 1 }
        return c
    }

    func peek(_ k: Int = 0) -> Character? { i + k < chars.count ? chars[i + k] : nil }

    mutating func next() throws -> Token {
        // Skip blanks and comments (a comment runs to the end of the line).
        while let c = peek() {
            if c == " " || c == "\t" || c == "\r" { _ = advance() }
            else if c == "\\" && peek(1) == "\n" { _ = advance(); _ = advance() }   // line continuation
            else if c == "#" { while let d = peek(), d != "\n" { _ = advance() } }
            else { break }
        }
        let loc = SourceLocation(line: line, column: col)
        let start = i
        guard let c = peek() else { return Token(kind: .eof, location: loc, text: "") }
        func tok(_ k: TokenKind) -> Token { Token(kind: k, location: loc, text: String(chars[start..<i])) }
        switch c {
        case "\n", ";": _ = advance(); return tok(.separator)
        case "=": _ = advance(); return tok(.equals)
        case ",": _ = advance(); return tok(.comma)
        case "\"", "'":
            _ = advance()
            var s = ""
            while true {
                guard let d = peek() else { throw Diagnostic(.syntax, "unterminated string", at: loc) }
                if d == "\n" { throw Diagnostic(.syntax, "unterminated string (strings end on the same line)", at: loc) }
                _ = advance()
                if d == c { break }
                if d == "\\", let e = peek() {
                    _ = advance()
                    switch e { case "n": s.append("\n"); case "t": s.append("\t"); default: s.append(e) }
                } else { s.append(d) }
            }
            return tok(.string(s))
        default: break
        }
        if c == "." && peek(1) == "." { _ = advance(); _ = advance(); return tok(.dotdot) }
        if c.isNumber || ((c == "-" || c == "+") && (peek(1)?.isNumber ?? false)) || (c == "." && (peek(1)?.isNumber ?? false)) {
            var s = String(advance())
            while let d = peek() {
                if d.isNumber { s.append(advance()) }
                else if d == "." && peek(1) != "." && !s.contains(".") && !s.contains("e") { s.append(advance()) }
                else if (d == "e" || d == "E") && !s.contains("e") && !s.contains("E"),
                        let n = peek(1), n.isNumber || ((n == "-" || n == "+") && (peek(2)?.isNumber ?? false)) {
                    s.append(advance()); s.append(advance())
                } else { break }
            }
            // A percentage (`10%`, a share of the model's depth) is a word.
            if peek() == "%" { s.append(advance()); return tok(.word(s)) }
            // A number glued to letters (e.g. 135m) is a word.
            if let d = peek(), d.isLetter || d == "_" || d == "-" {
                while let d = peek(), Lexer.isWordChar(d) { s.append(advance()) }
                return tok(.word(s))
            }
            guard let v = Double(s) else { throw Diagnostic(.syntax, "malformed number '\(s)'", at: loc) }
            return tok(.number(v))
        }
        if c == ":" && !(peek(1).map { $0.isLetter } ?? false) { _ = advance(); return tok(.colon) }
        if Lexer.isWordStart(c) {
            var s = String(advance())
            while let d = peek(), Lexer.isWordChar(d) {
                if d == "." && peek(1) == "." { break }   // 2..10 style ranges after a word
                s.append(advance())
            }
            return tok(.word(s))
        }
        _ = advance()
        throw Diagnostic(.syntax, "unexpected character '\(c)'", at: loc)
    }
}
