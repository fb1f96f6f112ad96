import Foundation

/// A BPE tokenizer matching Hugging Face `tokenizers`: byte-level (GPT-2, Qwen2, SmolLM, Pythia)
/// or SentencePiece-style with byte fallback (Gemma), with added tokens split out first.
public final class Tokenizer {
    public enum Kind: Equatable { case byteLevel(PreTokenizer), sentencePiece }

    public let kind: Kind
    public let tokens: [String]
    /// Keyed by exact bytes: Swift String equality is canonical equivalence, which would merge
    /// distinct tokens such as ";" (U+003B) and the Greek question mark (U+037E).
    let vocab: [ByteKey: Int]
    /// Byte-level: (left << 32 | right) → (rank, merged id).
    var merges: [Int: (Int, Int)] = [:]
    /// SentencePiece: merge priority of each token id (lower merges first), from its score.
    var spmPriority: [Int] = []
    var scalarCount: [Int] = []
    var byteSymbol = [Int](repeating: -1, count: 256)
    var addedByFirst: [Unicode.Scalar: [(String, [Unicode.Scalar], Int)]] = [:]
    let nfc: Bool
    public let bosId: Int?
    public let addBos: Bool
    /// Tokens that end a generated sequence (the model's EOS).
    public internal(set) var eosIds: Set<Int> = []
    /// Special (control) tokens, left out of decoded text as transformers' `skip_special_tokens` does.
    public internal(set) var specialIds: Set<Int> = []
    private var cache: [ByteKey: [Int]] = [:]
    private let lock = NSLock()

    public var vocabSize: Int { tokens.count }

    init(kind: Kind, tokens: [String], merges: [(String, String)], scores: [Float]?, added: [(String, Int)],
         bosId: Int?, addBos: Bool, nfc: Bool) throws {
        self.kind = kind
        self.tokens = tokens
        var v: [ByteKey: Int] = [:]
        v.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() { v[ByteKey(t)] = i }   // last wins, as a Python dict literal
        vocab = v
        self.bosId = bosId; self.addBos = addBos; self.nfc = nfc
        switch kind {
        case .byteLevel:
            let map = Tokenizer.byteToUnicode
            // A byte missing from the vocab is dropped, as Hugging Face's BPE does without an unk token.
            for b in 0..<256 { byteSymbol[b] = v[ByteKey(String(map[b]))] ?? -1 }
            for (rank, (a, b)) in merges.enumerated() {
                guard let ia = v[ByteKey(a)], let ib = v[ByteKey(b)], let m = v[ByteKey(a + b)] else { continue }
                let key = ia << 32 | ib
                if self.merges[key] == nil { self.merges[key] = (rank, m) }
            }
        case .sentencePiece:
            guard let scores = scores, scores.count == tokens.count else {
                throw EngineError.tokenizer("SentencePiece vocab needs one score per token")
            }
            // Transformers rebuilds Gemma's merges from the vocabulary ordered by the merged piece's
            // position in the file (its scores do not follow merge order), then longer left piece,
            // then longer right piece; the merged id is that priority.
            spmPriority = Array(0..<tokens.count)
            scalarCount = tokens.map { $0.unicodeScalars.count }
            for b in 0..<256 { byteSymbol[b] = v[ByteKey(String(format: "<0x%02X>", b))] ?? -1 }
        }
        for (text, id) in added where !text.isEmpty {
            let sc = Array(text.unicodeScalars)
            addedByFirst[sc[0], default: []].append((text, sc, id))
        }
        for k in addedByFirst.keys { addedByFirst[k]!.sort { $0.1.count > $1.1.count } }
    }

    /// Token ids of `text`; with `addSpecial`, BOS is prepended when this tokenizer adds one.
    public func encode(_ text: String, addSpecial: Bool = false) -> [Int] {
        var out: [Int] = []
        if addSpecial && addBos, let b = bosId { out.append(b) }
        let s = Array((nfc ? text.precomposedStringWithCanonicalMapping : text).unicodeScalars)
        var start = 0, i = 0
        while i < s.count {
            if let cands = addedByFirst[s[i]], let hit = cands.first(where: { c in
                c.1.count <= s.count - i && (0..<c.1.count).allSatisfy { s[i + $0] == c.1[$0] } }) {
                if start < i { encodeSegment(s[start..<i], into: &out) }
                out.append(hit.2)
                i += hit.1.count
                start = i
            } else { i += 1 }
        }
        if start < s.count { encodeSegment(s[start..<s.count], into: &out) }
        return out
    }

    func encodeSegment(_ seg: ArraySlice<Unicode.Scalar>, into out: inout [Int]) {
        switch kind {
        case .byteLevel(let pre):
            let arr = Array(seg)
            for r in pre.split(arr) {
                var piece = String.UnicodeScalarView()
                piece.append(contentsOf: arr[r])
                out.append(contentsOf: encodeWord(String(piece)))
            }
        case .sentencePiece:
            var str = String.UnicodeScalarView()
            for c in seg { str.append(c == " " ? "\u{2581}" : c) }
            out.append(contentsOf: encodeWord(String(str)))
        }
    }

    func encodeWord(_ w: String) -> [Int] {
        let key = ByteKey(w)
        lock.lock()
        if let hit = cache[key] { lock.unlock(); return hit }
        lock.unlock()
        var syms: [Int] = []
        let ids: [Int]
        switch kind {
        case .byteLevel:
            for b in w.utf8 where byteSymbol[Int(b)] >= 0 { syms.append(byteSymbol[Int(b)]) }
            ids = bpeMerge(syms) { a, b in self.merges[a << 32 | b] }
        case .sentencePiece:
            for c in w.unicodeScalars {
                if let id = vocab[ByteKey(String(c))] { syms.append(id) }
                else { for b in String(c).utf8 where byteSymbol[Int(b)] >= 0 { syms.append(byteSymbol[Int(b)]) } }
            }
            ids = bpeMerge(syms) { a, b in
                guard let m = self.vocab[ByteKey(self.tokens[a] + self.tokens[b])] else { return nil }
                let la = min(self.scalarCount[a], 1023), lb = min(self.scalarCount[b], 1023)
                return ((self.spmPriority[m] << 20) | ((1023 - la) << 10) | (1023 - lb), m)
            }
        }
        lock.lock()
        if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
        cache[key] = ids
        lock.unlock()
        return ids
    }

    /// Text of `ids` (byte-level bytes or ▁/byte-fallback pieces decoded to UTF-8); with
    /// `skipSpecial`, control tokens are left out.
    public func decode(_ ids: [Int], skipSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < tokens.count && !(skipSpecial && specialIds.contains(id)) {
            let t = tokens[id]
            switch kind {
            case .byteLevel:
                for c in t.unicodeScalars {
                    if let b = Tokenizer.unicodeToByte[c] { bytes.append(b) } else { bytes.append(contentsOf: Array(String(c).utf8)) }
                }
            case .sentencePiece:
                if t.hasPrefix("<0x"), t.count == 6, let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) { bytes.append(b) }
                else { bytes.append(contentsOf: Array(t.replacingOccurrences(of: "\u{2581}", with: " ").utf8)) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// GPT-2's reversible byte → printable-scalar map.
    static let byteToUnicode: [Unicode.Scalar] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) { bs.append(b); cs.append(256 + n); n += 1 }
        var m = [Unicode.Scalar](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { m[b] = Unicode.Scalar(UInt32(c))! }
        return m
    }()
    static let unicodeToByte: [Unicode.Scalar: UInt8] = {
        var d: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in byteToUnicode.enumerated() { d[c] = UInt8(b) }
        return d
    }()
}

/// A String compared and hashed by its exact UTF-8 bytes (not by canonical equivalence).
struct ByteKey: Hashable {
    let s: String
    init(_ s: String) { self.s = s }
    static func == (a: ByteKey, b: ByteKey) -> Bool { a.s.utf8.elementsEqual(b.s.utf8) }
    func hash(into h: inout Hasher) { for b in s.utf8 { h.combine(b) } }
}
