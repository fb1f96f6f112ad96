import Engine
import Foundation

/// `aft --bench MODEL [tokens] [items] [f32|bf16]`: measurements for scripts/bench, printed as one JSON object
/// (bf16: the model loaded with `precision=bf16`, and the ceiling measured with bf16 GEMMs).
///
/// - fma_peak: the cores' arithmetic peak (`ComputePeak`: FMAs, or bf16 dot products, on registers
///   alone), which no GEMM can pass; null on a CPU without AVX-512.
/// - sgemm: GFLOP/s of OpenBLAS on every linear-layer shape of the model with M = tokens rows;
///   the FLOP-weighted rate over one block's shapes is the ceiling.
/// - forward: one fresh sequence of `tokens` tokens, best of 3; GFLOP/s counts the linear layers
///   and attention; fraction = forward rate / ceiling.
/// - scoring: HellaSwag items/s with all cores (first `items` items), and the GFLOP/s of the
///   work scoring does (`scoringFlop`) as a fraction of the same ceiling.
func runBench(_ args: [String]) throws {
    let name = args.first ?? "smollm2-135m"
    let T = args.count > 1 ? Int(args[1]) ?? 128 : 128
    let nItems = args.count > 2 ? Int(args[2]) ?? 40 : 40
    let precision = args.count > 3 ? Precision(rawValue: args[3]) ?? .f32 : .f32
    let m = try LanguageModel(name: name, weights: .mode(precision == .bf16 ? .bf16 : .f32))
    let c = m.config
    let shapes: [(Int, Int)] = [(c.qDim, c.hidden), (c.kvDim, c.hidden), (c.kvDim, c.hidden), (c.hidden, c.qDim),
                                (c.ffn, c.hidden), (c.ffn, c.hidden), (c.hidden, c.ffn)]
    func best(_ reps: Int, _ f: () -> Void) -> Double {
        var b = Double.infinity
        for _ in 0..<reps { let t0 = Date(); f(); b = min(b, Date().timeIntervalSince(t0)) }
        return b
    }
    var totalFlop = 0.0, totalTime = 0.0
    var perShape: [String] = []
    for (out, inp) in shapes {
        let x = [Float](repeating: 0.01, count: T * inp), wf = [Float](repeating: 0.02, count: out * inp)
        let w = precision == .bf16 ? WeightMatrix(bf16: wf, rows: out, cols: inp) : WeightMatrix(dense: wf, rows: out, cols: inp)
        var y = [Float](repeating: 0, count: T * out)
        let t = best(5) {
            x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { yb in
                BLAS.linear(xb.baseAddress!, rows: T, inDim: inp, weight: w, bias: nil, outDim: out, into: yb.baseAddress!)
            } }
        }
        let flop = 2.0 * Double(T * out * inp)
        totalFlop += flop; totalTime += t
        perShape.append("{\"m\": \(T), \"n\": \(out), \"k\": \(inp), \"gflops\": \(String(format: "%.2f", flop / t / 1e9))}")
    }
    let ceiling = totalFlop / totalTime / 1e9
    let tokens = (0..<T).map { ($0 * 7919 + 13) % c.vocabSize }
    let fwd = best(3) { _ = m.transformer.forward(tokens, cache: KVCache(config: c)) }
    let linFlop = Double(c.layers) * totalFlop
    let attnFlop = Double(c.layers) * 2.0 * 2.0 * Double(c.heads * c.headDim) * Double(T * T) / 2
    let fwdRate = (linFlop + attnFlop) / fwd / 1e9
    let ds = try Dataset.load("hellaswag")
    let items = Array(ds.items.prefix(nItems))
    let scorer = Scorer(model: m)
    _ = scorer.score(items[0])  // warm up
    let t0 = Date()
    let scores = scorer.scoreAll(items)
    let st = Date().timeIntervalSince(t0)
    let scoreRate = scoringFlop(items, scorer) / st / 1e9
    // Single-stream greedy decoding: every step reads every weight once, so its speed is
    // bounded by memory bandwidth, measured here the same way (a read of a 1 GiB buffer, all cores).
    let gen = Generator(model: m)
    gen.eos = []
    let prompt = Array(tokens.prefix(8)), steps = 64
    let dt = best(2) { _ = try? gen.generate([prompt], maxTokens: steps) }
    let decodeRate = Double(steps) / dt
    // The head as a greedy pick reads it: f32 weights screened by their bf16 copy (`ScreenedHead`) read that copy.
    let weightBytes = (precision == .bf16 ? 2.0 : 4.0) * Double(c.layers) * Double(shapes.reduce(0) { $0 + $1.0 * $1.1 })
        + Double(m.transformer.greedyHeadBytes)
    let bandwidth = readBandwidth()
    let peak = ComputePeak.gflops(precision)
    print("""
    {"model": "\(name)", "precision": "\(precision.rawValue)", "blas_core": "\(BLAS.coreName)", "threads": \(BLAS.threads), "tokens": \(T),
     "sgemm_shapes": [\(perShape.joined(separator: ", "))],
     "sgemm_ceiling_gflops": \(String(format: "%.2f", ceiling)),
     "fma_peak_gflops": \(peak.map { String(format: "%.2f", $0) } ?? "null"),
     "sgemm_ceiling_fraction_of_peak": \(peak.map { String(format: "%.3f", ceiling / $0) } ?? "null"),
     "forward_seconds": \(String(format: "%.4f", fwd)), "forward_tokens_per_s": \(String(format: "%.1f", Double(T) / fwd)),
     "forward_gflops": \(String(format: "%.2f", fwdRate)), "forward_fraction_of_ceiling": \(String(format: "%.3f", fwdRate / ceiling)),
     "scoring_items": \(scores.count), "scoring_seconds": \(String(format: "%.2f", st)),
     "scoring_items_per_s": \(String(format: "%.3f", Double(scores.count) / st)),
     "scoring_gflops": \(String(format: "%.2f", scoreRate)), "scoring_fraction_of_ceiling": \(String(format: "%.3f", scoreRate / ceiling)),
     "decode_tokens_per_s": \(String(format: "%.1f", decodeRate)), "decode_weight_gb_per_token": \(String(format: "%.3f", weightBytes / 1e9)),
     "read_bandwidth_gb_per_s": \(String(format: "%.1f", bandwidth / 1e9)),
     "decode_fraction_of_bandwidth_bound": \(String(format: "%.3f", decodeRate * weightBytes / bandwidth))}
    """)
}

/// Bytes per second read from memory by all cores summing a 1 GiB buffer (best of 3).
func readBandwidth() -> Double {
    let n = 1 << 28
    let buf = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { buf.deallocate() }
    buf.initialize(repeating: 1, count: n)
    let threads = max(1, ProcessInfo.processInfo.activeProcessorCount), chunk = n / threads
    var best = Double.infinity
    for _ in 0..<3 {
        let t0 = Date()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var acc = SIMD16<Float>(), i = t * chunk
            let end = i + chunk
            while i < end { acc += UnsafeRawPointer(buf + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
            if acc.sum() == -1 { print("") }   // keeps the loop
        }
        best = min(best, Date().timeIntervalSince(t0))
    }
    return Double(n * 4) / best
}

/// FLOPs scoring `items` does (`Transformer.blocksWork` and `headWork`): every block's linear
/// layers for every packed row (the last block's output projection and FFN for the scored rows
/// only), attention over visible (query, key) pairs (ignoring sliding windows), and the vocabulary
/// head for the scored rows.
func scoringFlop(_ items: [MCItem], _ scorer: Scorer) -> Double {
    let tf = scorer.model.transformer
    var flop = 0.0
    for item in items {
        let s = scorer.packed(item)
        var pairs = 0
        for i in 0..<s.count { for j in 0...i where s.visible(i, j, window: nil) { pairs += 1 } }
        let scored = scorer.headRows([s]).count
        flop += tf.blocksWork(rows: s.count, keptRows: scored) { _ in pairs }.total + tf.headWork(rows: scored).total
    }
    return flop
}
