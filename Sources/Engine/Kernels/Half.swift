/// IEEE half (binary16) and bfloat16 bit patterns to Float, exact for every input.
@inline(__always) func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mant * 2^-24.
        let v = Float(mant) * (1.0 / 16_777_216.0)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | (UInt32(exp + 112) << 23) | (mant << 13))
}

@inline(__always) func bf16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

/// Float to IEEE half with round-to-nearest-even (used for f16 activation caches and tests).
@inline(__always) func floatToHalf(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let exp = Int((x >> 23) & 0xFF) - 127 + 15
    var mant = x & 0x7F_FFFF
    if (x & 0x7FFF_FFFF) >= 0x7F80_0000 { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }
    if exp >= 31 { return sign | 0x7C00 }
    if exp <= 0 {
        if exp < -10 { return sign }
        mant |= 0x80_0000
        let shift = UInt32(14 - exp)
        var h = mant >> shift
        let rem = mant & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
        if rem > half || (rem == half && (h & 1) != 0) { h += 1 }
        return sign | UInt16(h)
    }
    var h = UInt32(exp << 10) | (mant >> 13)
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0) { h += 1 }
    return sign | UInt16(h)
}
