import COpenBLAS
import Foundation

/// How a steering vector is read off contrastive activations, without training.
public enum ExtractionMethod: String, CaseIterable {
    /// The mean over pairs of positive − negative (Contrastive Activation Addition; the
    /// `steering-vectors` library's default aggregator).
    case mean
    /// repeng 0.4's `pca_diff`: the first principal component of the differences (centred, as
    /// sklearn's PCA centres them), unit norm, signed so that positives project higher than their
    /// negatives in more pairs than not.
    case pca
}

/// A positive text and the negatives it is contrasted with, as token ids.
public struct ContrastItem {
    public let positive: [Int]
    public let negatives: [[Int]]
    public init(positive: [Int], negatives: [[Int]]) { self.positive = positive; self.negatives = negatives }

    /// A multiple-choice item's texts (context + delimiter + choice), tokenized whole as the model's
    /// tokenizer does: the gold is the positive, every other choice a negative.
    public init(_ item: MCItem, model: LanguageModel) {
        let t = item.texts.map { model.tokenizer.encode($0, addSpecial: model.config.addBos) }
        positive = t[item.gold]
        negatives = t.indices.filter { $0 != item.gold }.map { t[$0] }
    }

    /// All texts as one packed sequence: the longest prefix they share once, then each text's
    /// remaining tokens as its own segment (plus a placeholder, so that every real token is an input
    /// row), and the row of each text's last token (positive first).
    func packed(maxLength: Int) -> (seq: PackedSequence, lastRows: [Int]) {
        var texts = [positive] + negatives
        // Longer than the context: cut every text from the left by the same amount (the shared prefix first).
        let longest = texts.map { $0.count }.max() ?? 0
        if longest > maxLength { let cut = longest - maxLength; texts = texts.map { Array($0.dropFirst(min(cut, $0.count - 1))) } }
        var shared = 0
        let shortest = texts.map { $0.count }.min() ?? 0
        while shared < shortest - 1 && texts.allSatisfy({ $0[shared] == texts[0][shared] }) { shared += 1 }
        let prefix = Array(texts[0].prefix(shared))
        let seq = PackedSequence(context: prefix, continuations: texts.map { Array($0[shared...]) + [0] })
        var rows: [Int] = [], start = prefix.count
        for t in texts {
            let own = t.count - shared
            rows.append(own > 0 ? start + own - 1 : prefix.count - 1)
            start += own
        }
        return (seq, rows)
    }
}

/// Differences of last-token residuals (positive − negative) after chosen blocks, one row per pair.
public struct ContrastActivations {
    public let layers: [Int]
    public let hidden: Int
    /// Pairs: one per (item, negative).
    public let pairs: Int
    /// Per layer slot: [pairs, hidden] row-major.
    public let differences: [[Float]]
    /// Per layer slot: the mean ‖h‖ over every text read (positives and negatives), at its last token.
    public let meanNorm: [Double]

    /// Runs every item's texts through blocks 0…max(layers) once (a shared prefix once per item),
    /// reading each text's last-token residual after every requested block. Items are packed into
    /// passes of about 512 tokens on the context's workers; a stop throws `Cancelled`. An item with
    /// an empty text is left out.
    public init(model: LanguageModel, items: [ContrastItem], layers wanted: [Int], context: RunContext,
                progress: @escaping (Int, Int) -> Void = { _, _ in }) throws {
        let tf = model.transformer, d = tf.config.hidden
        layers = Array(Set(wanted)).sorted(); hidden = d
        precondition(layers.allSatisfy { $0 >= 0 && $0 < tf.config.layers }, "layers are checked by the caller")
        let top = layers.last ?? 0
        let maxLength = model.config.maxPositions ?? 2048
        // A text with no tokens has no last token to read: its item is left out.
        let items = items.filter { !$0.positive.isEmpty && !$0.negatives.contains { $0.isEmpty } }
        let packed = items.map { $0.packed(maxLength: maxLength) }
        // Groups of consecutive items of about 512 packed tokens.
        var groups: [Range<Int>] = [], start = 0, tokens = 0
        for (i, p) in packed.enumerated() {
            if i > start && tokens + p.seq.count > 512 { groups.append(start..<i); start = i; tokens = 0 }
            tokens += p.seq.count
        }
        if start < packed.count { groups.append(start..<packed.count) }
        let slots = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($0.element, $0.offset) })
        let scorer = Scorer(model: model)
        var done = 0
        // Per group: per slot, the rows read (texts in item order, positive first), flattened.
        let read = context.pool.map(groups.count, shouldStop: context.shouldStop, onResult: { g, _ in
            done += groups[g].count; progress(done, items.count)
        }) { g, _ -> [[Float]] in
            let seqs = groups[g].map { packed[$0].seq }
            var rowsWanted: [Int] = [], r0 = 0
            for i in groups[g] { rowsWanted += packed[i].lastRows.map { r0 + $0 }; r0 += packed[i].seq.count }
            var out = [[Float]](repeating: [], count: slots.count)
            var x: [Float] = []
            for s in seqs { x += tf.embed(s) }
            _ = scorer.run(x, seqs, layers: 0..<(top + 1), hook: { l, xp, _ in
                guard let slot = slots[l] else { return }
                var rows = [Float](repeating: 0, count: rowsWanted.count * d)
                for (k, r) in rowsWanted.enumerated() { for j in 0..<d { rows[k * d + j] = xp[r * d + j] } }
                out[slot] = rows
            })
            return out
        }
        if read.count < groups.count { throw Cancelled("reading activations") }
        var diffs = [[Float]](repeating: [], count: layers.count), norms = [Double](repeating: 0, count: layers.count)
        var texts = 0
        for (g, range) in groups.enumerated() {
            var base = 0   // text index within the group
            for i in range {
                let k = 1 + items[i].negatives.count
                for slot in layers.indices {
                    let rows = read[g][slot]
                    let pos = Array(rows[base * d..<(base + 1) * d])
                    for n in 1..<k {
                        let neg = rows[(base + n) * d..<(base + n + 1) * d]
                        diffs[slot] += zip(pos, neg).map { $0 - $1 }
                    }
                    norms[slot] += rowNormSum(rows, rows: base..<(base + k), width: d)
                }
                base += k; texts += k
            }
        }
        differences = diffs
        pairs = items.reduce(0) { $0 + $1.negatives.count }
        meanNorm = norms.map { $0 / Double(max(texts, 1)) }
    }

    /// The vector at `layer` [hidden] by `method`; nil when `layer` was not read or there are no pairs.
    public func vector(layer: Int, method: ExtractionMethod) -> [Float]? {
        guard let slot = layers.firstIndex(of: layer), pairs > 0 else { return nil }
        let D = differences[slot]
        switch method {
        case .mean: return ContrastActivations.meanRows(D, rows: pairs, width: hidden)
        case .pca: return ContrastActivations.firstComponent(D, rows: pairs, width: hidden)
        }
    }

    /// Mean ‖h‖ at `layer`'s last tokens.
    public func meanResidualNorm(layer: Int) -> Double { layers.firstIndex(of: layer).map { meanNorm[$0] } ?? 0 }

    static func meanRows(_ D: [Float], rows n: Int, width d: Int) -> [Float] {
        var m = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { m[j] += Double(D[i * d + j]) } }
        return m.map { Float($0 / Double(n)) }
    }

    /// First principal component of the rows of `D` [n, d], centred; unit norm; signed so that more
    /// rows project positively than negatively (repeng's rule, since a row is positive − negative).
    static func firstComponent(_ D: [Float], rows n: Int, width d: Int) -> [Float] {
        let mean = meanRows(D, rows: n, width: d).map(Double.init)
        var C = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { C[i * d + j] = Double(D[i * d + j]) - mean[j] } }
        var dir: [Double]
        if n < d {
            // Top eigenvector u of the Gram matrix C·Cᵀ [n, n]; the component is Cᵀu.
            var G = [Double](repeating: 0, count: n * n)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 1, C, Int32(d), C, Int32(d), 0, &G, Int32(n))
            let u = topEigenvector(&G, n)
            dir = [Double](repeating: 0, count: d)
            for i in 0..<n { for j in 0..<d { dir[j] += u[i] * C[i * d + j] } }
        } else {
            var S = [Double](repeating: 0, count: d * d)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(n), 1, C, Int32(d), C, Int32(d), 0, &S, Int32(d))
            dir = topEigenvector(&S, d)
        }
        let norm = dir.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { dir = dir.map { $0 / norm } }
        var above = 0, below = 0
        for i in 0..<n {
            var p = 0.0
            for j in 0..<d { p += Double(D[i * d + j]) * dir[j] }
            if p > 0 { above += 1 } else if p < 0 { below += 1 }
        }
        if below > above { dir = dir.map { -$0 } }
        return dir.map { Float($0) }
    }

    /// The eigenvector of the largest eigenvalue of the symmetric matrix `A` [n, n] (overwritten).
    static func topEigenvector(_ A: inout [Double], _ n: Int) -> [Double] {
        var w = [Double](repeating: 0, count: n), info: Int32 = 0, nn = Int32(n), lwork: Int32 = -1
        var q = [Double](repeating: 0, count: 1)
        let v: [CChar] = [CChar(UInt8(ascii: "V"))], u: [CChar] = [CChar(UInt8(ascii: "U"))]
        dsyev_(v, u, &nn, &A, &nn, &w, &q, &lwork, &info, 1, 1)
        lwork = Int32(max(1, Int(q[0])))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_(v, u, &nn, &A, &nn, &w, &work, &lwork, &info, 1, 1)
        guard info == 0 else { return [Double](repeating: 0, count: n) }
        // Eigenvalues ascend; in column-major order column n − 1, the top eigenvector, is the last n values.
        return Array(A[(n - 1) * n..<n * n])
    }
}
