import Foundation

extension Tokenizer {
    /// Builds the tokenizer from GGUF metadata (`tokenizer.ggml.*`).
    public convenience init(gguf g: GGUFFile) throws {
        guard let model = g.metadata["tokenizer.ggml.model"]?.string, let toks = g.stringArray("tokenizer.ggml.tokens") else {
            throw EngineError.tokenizer("\(g.path): no tokenizer.ggml.model / tokenizer.ggml.tokens metadata")
        }
        let types = g.metadata["tokenizer.ggml.token_type"]?.array?.compactMap { $0.int } ?? []
        // Special-token ids must name tokens: one outside the vocabulary would be clamped or dropped.
        for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"] {
            if let v = g.metadata[key], !(v.int.map { $0 >= 0 && $0 < toks.count } ?? false) {
                throw EngineError.malformed(path: g.path, what: "'\(key)' is \(v.int.map(String.init) ?? "not an integer"): outside the vocabulary of \(toks.count) tokens")
            }
        }
        let bos = g.metadata["tokenizer.ggml.bos_token_id"]?.int
        let addBos = g.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
        switch model {
        case "gpt2":
            let pre = g.metadata["tokenizer.ggml.pre"]?.string ?? "default"
            let kind: PreTokenizer
            switch pre {
            case "qwen2": kind = .qwen2
            case "smollm", "gpt-2", "gpt2", "default", "olmo", "pythia": kind = .gpt2
            default: throw EngineError.tokenizer("\(g.path): unsupported pre-tokenizer '\(pre)' (supported: gpt2, smollm, qwen2)")
            }
            let merges = (g.stringArray("tokenizer.ggml.merges") ?? []).compactMap(Tokenizer.splitMerge)
            // Control (3) and user-defined (4) tokens are split out before BPE.
            let added = toks.indices.filter { $0 < types.count && (types[$0] == 3 || types[$0] == 4) }.map { (toks[$0], $0) }
            try self.init(kind: .byteLevel(kind), tokens: toks, merges: merges, scores: nil, added: added,
                          bosId: bos, addBos: addBos, nfc: false)
        case "llama":
            guard let scores = g.metadata["tokenizer.ggml.scores"]?.array?.compactMap({ $0.double.map(Float.init) }) else {
                throw EngineError.tokenizer("\(g.path): SentencePiece vocab without tokenizer.ggml.scores")
            }
            // As transformers' GGUF converter: a token of only spaces is respelled with ▁; control
            // tokens and user-defined tokens still in the vocab are added tokens.
            let allSpaces = toks.map { $0.contains(" ") && $0.allSatisfy { $0 == " " } }
            let pieces = toks.indices.map { allSpaces[$0] ? String(repeating: "\u{2581}", count: toks[$0].count) : toks[$0] }
            let added = toks.indices.filter { i in
                i < types.count && (types[i] == 3 || (types[i] == 4 && !allSpaces[i]))
            }.map { (toks[$0], $0) }
            try self.init(kind: .sentencePiece, tokens: pieces, merges: [], scores: scores, added: added,
                          bosId: bos, addBos: addBos, nfc: false)
        default:
            throw EngineError.tokenizer("\(g.path): unsupported tokenizer model '\(model)' (supported: gpt2, llama)")
        }
        specialIds = Set(toks.indices.filter { $0 < types.count && types[$0] == 3 })
        if let e = g.metadata["tokenizer.ggml.eos_token_id"]?.int, e >= 0, e < toks.count { eosIds = [e] }
    }

    static func splitMerge(_ m: String) -> (String, String)? {
        guard let sp = m.firstIndex(of: " ") else { return nil }
        return (String(m[..<sp]), String(m[m.index(after: sp)...]))
    }

    /// Loads a Hugging Face tokenizer from a directory: `tokenizer.json`, or `vocab.json` + `merges.txt`.
    public convenience init(directory dir: String) throws {
        let fm = FileManager.default
        let tj = dir + "/tokenizer.json"
        if let data = fm.contents(atPath: tj) {
            guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let model = o["model"] as? [String: Any], let vocabObj = model["vocab"] as? [String: NSNumber] else {
                throw EngineError.tokenizer("\(tj): not a BPE tokenizer.json")
            }
            guard (model["type"] as? String) == "BPE" else {
                throw EngineError.tokenizer("\(tj): model type \(model["type"] ?? "?") is not supported (BPE only)")
            }
            var merges: [(String, String)] = []
            for m in (model["merges"] as? [Any]) ?? [] {
                if let s = m as? String, let p = Tokenizer.splitMerge(s) { merges.append(p) }
                else if let a = m as? [String], a.count == 2 { merges.append((a[0], a[1])) }
            }
            var added: [(String, Int)] = []
            for a in (o["added_tokens"] as? [[String: Any]]) ?? [] {
                if let c = a["content"] as? String, let id = (a["id"] as? NSNumber)?.intValue { added.append((c, id)) }
            }
            let preDesc = String(describing: o["pre_tokenizer"] ?? "")
            let pre: PreTokenizer = preDesc.contains("\\p{N}|") || preDesc.contains("?\\p{L}+|\\p{N}") ? .qwen2 : .gpt2
            let nfc = String(describing: o["normalizer"] ?? "").contains("NFC")
            try Tokenizer.checkIds(vocabObj.map { ($0.key, $0.value.intValue) } + added, file: tj)
            var tokens = [String](repeating: "", count: vocabObj.count)
            for (t, id) in vocabObj where id.intValue < tokens.count { tokens[id.intValue] = t }
            for (t, id) in added {
                if id >= tokens.count { tokens += [String](repeating: "", count: id - tokens.count + 1) }
                tokens[id] = t
            }
            let (bos, addBos) = Tokenizer.bosFromPostProcessor(o["post_processor"], added: added)
            try self.init(kind: .byteLevel(pre), tokens: tokens, merges: merges, scores: nil, added: added,
                          bosId: bos, addBos: addBos, nfc: nfc)
            return
        }
        let vj = dir + "/vocab.json", mt = dir + "/merges.txt"
        guard let vd = fm.contents(atPath: vj), let md = fm.contents(atPath: mt) else {
            throw EngineError.fileNotFound(path: "\(tj) (or \(vj) + \(mt))")
        }
        guard let vocabObj = try? JSONSerialization.jsonObject(with: vd) as? [String: NSNumber] else {
            throw EngineError.tokenizer("\(vj): not a JSON object of token ids")
        }
        try Tokenizer.checkIds(vocabObj.map { ($0.key, $0.value.intValue) }, file: vj)
        var tokens = [String](repeating: "", count: vocabObj.count)
        for (t, id) in vocabObj where id.intValue < tokens.count { tokens[id.intValue] = t }
        let merges = String(decoding: md, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            .filter { !$0.hasPrefix("#version") }.compactMap { Tokenizer.splitMerge(String($0)) }
        var added: [(String, Int)] = []
        if let cd = fm.contents(atPath: dir + "/tokenizer_config.json"),
           let co = try? JSONSerialization.jsonObject(with: cd) as? [String: Any],
           let dec = co["added_tokens_decoder"] as? [String: [String: Any]] {
            for (k, v) in dec { if let id = Int(k), let c = v["content"] as? String { added.append((c, id)) } }
            try Tokenizer.checkIds(added, file: dir + "/tokenizer_config.json")
            for (t, id) in added where id >= tokens.count {
                tokens += [String](repeating: "", count: id - tokens.count + 1); tokens[id] = t
            }
            for (t, id) in added { tokens[id] = t }
        }
        // vocab.json + merges.txt is the Qwen2 layout here; its pre-tokenizer is the qwen2 regex.
        try self.init(kind: .byteLevel(.qwen2), tokens: tokens, merges: merges, scores: nil, added: added,
                      bosId: nil, addBos: false, nfc: true)
    }

    /// Special tokens (`added_tokens` marked special in tokenizer.json, or `added_tokens_decoder`
    /// in tokenizer_config.json) and EOS ids (`eos_token_id`, a number or a list, from
    /// generation_config.json, else config.json) of a Hugging Face directory.
    public func readSpecials(directory dir: String) {
        func json(_ f: String) -> [String: Any]? {
            FileManager.default.contents(atPath: dir + "/" + f).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
        var special = Set<Int>()
        for a in (json("tokenizer.json")?["added_tokens"] as? [[String: Any]]) ?? [] where (a["special"] as? Bool) == true {
            if let id = (a["id"] as? NSNumber)?.intValue { special.insert(id) }
        }
        for (k, v) in (json("tokenizer_config.json")?["added_tokens_decoder"] as? [String: [String: Any]]) ?? [:]
            where (v["special"] as? Bool) == true { if let id = Int(k) { special.insert(id) } }
        specialIds = special.filter { $0 >= 0 && $0 < tokens.count }
        for f in ["generation_config.json", "config.json"] {
            guard let e = json(f)?["eos_token_id"] else { continue }
            let ids = (e as? [NSNumber])?.map { $0.intValue } ?? (e as? NSNumber).map { [$0.intValue] } ?? []
            eosIds = Set(ids.filter { $0 >= 0 && $0 < tokens.count })
            if !eosIds.isEmpty { break }
        }
    }

    static func bosFromPostProcessor(_ pp: Any?, added: [(String, Int)]) -> (Int?, Bool) {
        guard let p = pp as? [String: Any], (p["type"] as? String) == "TemplateProcessing",
              let single = p["single"] as? [[String: Any]], let first = single.first,
              let sp = first["SpecialToken"] as? [String: Any], let name = sp["id"] as? String else { return (nil, false) }
        return (added.first { $0.0 == name }?.1, true)
    }
}

extension Tokenizer {
    /// Token ids a vocabulary may use: 0 ≤ id < 16,777,216 (a negative or absurd id would index out of bounds or ask for gigabytes).
    static func checkIds(_ pairs: [(String, Int)], file: String) throws {
        if let (t, id) = pairs.first(where: { $0.1 < 0 || $0.1 >= 1 << 24 }) {
            throw EngineError.tokenizer("\(file): token '\(t.prefix(40))' has id \(id); ids must be in 0..<16777216")
        }
    }
}
