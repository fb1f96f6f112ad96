import Foundation

/// Dequantises `count` elements of `type` at `src` into a new f32 array (ggml-quants.c reference formulas).
public func dequantize(type: GGMLType, from src: UnsafeRawPointer, count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { out, initialized in
        let dst = out.baseAddress!
        let nb = count / type.blockSize
        // Split into chunks so large tensors use both cores.
        Kernels.forBands(nb, parts: min(64, nb / 4096)) { b in
            dequantizeBlocks(type, src + b.lowerBound * type.blockBytes, dst + b.lowerBound * type.blockSize, b.count)
        }
        initialized = count
    }
}

@inline(__always) private func f16(_ p: UnsafeRawPointer, _ o: Int) -> Float {
    halfToFloat(p.loadUnaligned(fromByteOffset: o, as: UInt16.self))
}

/// Reads ggml's packed 6-bit (scale, min) pair `j` of a K-quant super-block.
@inline(__always) private func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (Float, Float) {
    if j < 4 { return (Float(q[j] & 63), Float(q[j + 4] & 63)) }
    let d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)
    let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
    return (Float(d), Float(m))
}

/// Dequantises `nb` consecutive blocks of `type` on the calling thread (a compact matrix's rows).
func dequantizeBlockRun(_ type: GGMLType, _ src: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
    dequantizeBlocks(type, src, y, nb)
}

private func dequantizeBlocks(_ type: GGMLType, _ src: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
    let bb = type.blockBytes
    switch type {
    case .f32:
        y.update(from: src.assumingMemoryBound(to: Float.self), count: nb)
    case .f16:
        for i in 0..<nb { y[i] = f16(src, 2 * i) }
    case .bf16:
        for i in 0..<nb { y[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .q4_0, .q4_1:
        for b in 0..<nb {
            let p = src + b * bb
            let d = f16(p, 0)
            let m: Float = type == .q4_1 ? f16(p, 2) : 0
            let qs = (p + (type == .q4_1 ? 4 : 2)).assumingMemoryBound(to: UInt8.self)
            let o = y + b * 32
            if type == .q4_1 {
                for j in 0..<16 { o[j] = Float(qs[j] & 0xF) * d + m; o[j + 16] = Float(qs[j] >> 4) * d + m }
            } else {
                for j in 0..<16 { o[j] = Float(Int(qs[j] & 0xF) - 8) * d; o[j + 16] = Float(Int(qs[j] >> 4) - 8) * d }
            }
        }
    case .q5_0, .q5_1:
        for b in 0..<nb {
            let p = src + b * bb
            let d = f16(p, 0)
            let hasMin = type == .q5_1
            let m: Float = hasMin ? f16(p, 2) : 0
            let qhOff = hasMin ? 4 : 2
            let qh = p.loadUnaligned(fromByteOffset: qhOff, as: UInt32.self)
            let qs = (p + qhOff + 4).assumingMemoryBound(to: UInt8.self)
            let o = y + b * 32
            for j in 0..<16 {
                let xh0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
                let xh1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
                let x0 = Int((qs[j] & 0x0F) | xh0), x1 = Int((qs[j] >> 4) | xh1)
                if hasMin { o[j] = Float(x0) * d + m; o[j + 16] = Float(x1) * d + m }
                else { o[j] = Float(x0 - 16) * d; o[j + 16] = Float(x1 - 16) * d }
            }
        }
    case .q8_0:
        for b in 0..<nb {
            let p = src + b * bb
            let d = f16(p, 0)
            let qs = (p + 2).assumingMemoryBound(to: Int8.self)
            let o = y + b * 32
            for j in 0..<32 { o[j] = Float(qs[j]) * d }
        }
    case .q4_K:
        for b in 0..<nb {
            let p = src + b * bb
            let d = f16(p, 0), dmin = f16(p, 2)
            let sc = (p + 4).assumingMemoryBound(to: UInt8.self)
            var q = (p + 16).assumingMemoryBound(to: UInt8.self)
            var o = y + b * 256
            var isub = 0
            for _ in 0..<4 {
                let (s1, m1) = scaleMinK4(isub, sc), (s2, m2) = scaleMinK4(isub + 1, sc)
                let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
                for l in 0..<32 { o[l] = d1 * Float(q[l] & 0xF) - mm1 }
                for l in 0..<32 { o[l + 32] = d2 * Float(q[l] >> 4) - mm2 }
                q += 32; o += 64; isub += 2
            }
        }
    case .q5_K:
        for b in 0..<nb {
            let p = src + b * bb
            let d = f16(p, 0), dmin = f16(p, 2)
            let sc = (p + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (p + 16).assumingMemoryBound(to: UInt8.self)
            var ql = (p + 48).assumingMemoryBound(to: UInt8.self)
            var o = y + b * 256
            var isub = 0
            var u1: UInt8 = 1, u2: UInt8 = 2
            for _ in 0..<4 {
                let (s1, m1) = scaleMinK4(isub, sc), (s2, m2) = scaleMinK4(isub + 1, sc)
                let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
                for l in 0..<32 { o[l] = d1 * Float(Int(ql[l] & 0xF) + (qh[l] & u1 != 0 ? 16 : 0)) - mm1 }
                for l in 0..<32 { o[l + 32] = d2 * Float(Int(ql[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - mm2 }
                ql += 32; o += 64; isub += 2; u1 <<= 2; u2 <<= 2
            }
        }
    case .q6_K:
        for b in 0..<nb {
            let p = src + b * bb
            var ql = p.assumingMemoryBound(to: UInt8.self)
            var qh = (p + 128).assumingMemoryBound(to: UInt8.self)
            var sc = (p + 192).assumingMemoryBound(to: Int8.self)
            let d = f16(p, 208)
            var o = y + b * 256
            for _ in 0..<2 {
                for l in 0..<32 {
                    let isc = l / 16
                    let q1 = Int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
                    let q2 = Int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                    let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    o[l] = d * Float(sc[isc]) * Float(q1)
                    o[l + 32] = d * Float(sc[isc + 2]) * Float(q2)
                    o[l + 64] = d * Float(sc[isc + 4]) * Float(q3)
                    o[l + 96] = d * Float(sc[isc + 6]) * Float(q4)
                }
                o += 128; ql += 64; qh += 32; sc += 8
            }
        }
    }
}
