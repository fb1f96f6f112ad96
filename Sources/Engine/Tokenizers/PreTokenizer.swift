/// Regex pre-tokenizers of byte-level BPE, hand-written as scanners over Unicode scalars.
///
/// `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// `qwen2`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
public enum PreTokenizer: String {
    case gpt2, qwen2

    /// Splits `s` into pieces (ranges of scalars), exactly as the regex's leftmost-first matches.
    public func split(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        while i < n {
            let e = self == .gpt2 ? matchGPT2(s, i) : matchQwen2(s, i)
            out.append(i..<e)
            i = e
        }
        return out
    }

    @inline(__always) static func isL(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
    @inline(__always) static func isN(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }
    @inline(__always) static func isS(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }
    @inline(__always) static func isNL(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }
    @inline(__always) static func isP(_ c: Unicode.Scalar) -> Bool { !isS(c) && !isL(c) && !isN(c) }

    /// Length of a contraction at i ('s 't 're 've 'm 'll 'd), or 0.
    static func contraction(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int {
        guard s[i] == "'", i + 1 < s.count else { return 0 }
        func low(_ k: Int) -> Character? {
            guard k < s.count else { return nil }
            let ch = Character(s[k])
            return caseInsensitive ? Character(ch.lowercased()) : ch
        }
        if let a = low(i + 1) {
            if let b = low(i + 2), (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
            if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        }
        return 0
    }

    static func run(_ s: [Unicode.Scalar], _ i: Int, _ p: (Unicode.Scalar) -> Bool) -> Int {
        var j = i
        while j < s.count && p(s[j]) { j += 1 }
        return j
    }

    /// End of the whitespace alternatives `\s+(?!\S)|\s+` at i (s[i] is whitespace).
    static func whitespace(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let k = run(s, i, isS)
        if k == s.count || k - i == 1 { return k }
        return k - 1
    }

    func matchGPT2(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let c = s[i]
        let k = PreTokenizer.contraction(s, i, caseInsensitive: false)
        if k > 0 { return i + k }
        var j = i
        if c == " " && i + 1 < s.count && !PreTokenizer.isS(s[i + 1]) { j = i + 1 }
        let d = s[j]
        if PreTokenizer.isL(d) { return PreTokenizer.run(s, j, PreTokenizer.isL) }
        if PreTokenizer.isN(d) { return PreTokenizer.run(s, j, PreTokenizer.isN) }
        if PreTokenizer.isP(d) { return PreTokenizer.run(s, j, PreTokenizer.isP) }
        return PreTokenizer.whitespace(s, i)
    }

    func matchQwen2(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        let c = s[i], n = s.count
        let k = PreTokenizer.contraction(s, i, caseInsensitive: true)
        if k > 0 { return i + k }
        if PreTokenizer.isL(c) { return PreTokenizer.run(s, i, PreTokenizer.isL) }
        if !PreTokenizer.isNL(c) && !PreTokenizer.isN(c) && i + 1 < n && PreTokenizer.isL(s[i + 1]) {
            return PreTokenizer.run(s, i + 1, PreTokenizer.isL)
        }
        if PreTokenizer.isN(c) { return i + 1 }
        var j = i
        if c == " " && i + 1 < n && PreTokenizer.isP(s[i + 1]) { j = i + 1 }
        if PreTokenizer.isP(s[j]) {
            let e = PreTokenizer.run(s, j, PreTokenizer.isP)
            return PreTokenizer.run(s, e, PreTokenizer.isNL)
        }
        // \s*[\r\n]+ : whitespace run up to and including its last newline (then the newlines after it).
        let w = PreTokenizer.run(s, i, PreTokenizer.isS)
        var last = -1
        for m in i..<w where PreTokenizer.isNL(s[m]) { last = m }
        if last >= 0 { return last + 1 }
        return PreTokenizer.whitespace(s, i)
    }
}
