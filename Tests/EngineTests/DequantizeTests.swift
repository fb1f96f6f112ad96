@testable import Engine
import XCTest

/// Every supported block format against gguf-py's numpy port of ggml-quants (scripts/make_fixtures.py dequant).
final class DequantizeTests: XCTestCase {
    func testAllFormatsMatchReference() throws {
        let fx = try Fixtures.json("dequant.json")
        let types: [String: GGMLType] = ["F16": .f16, "BF16": .bf16, "Q4_0": .q4_0, "Q4_1": .q4_1, "Q5_0": .q5_0,
                                         "Q5_1": .q5_1, "Q8_0": .q8_0, "Q4_K": .q4_K, "Q5_K": .q5_K, "Q6_K": .q6_K]
        XCTAssertEqual(Set(fx.keys), Set(types.keys))
        for (name, t) in types {
            let e = try XCTUnwrap(fx[name] as? [String: Any])
            let hex = try XCTUnwrap(e["bytes"] as? String)
            let want = try XCTUnwrap(e["values"] as? [Double])
            var bytes = [UInt8]()
            var i = hex.startIndex
            while i < hex.endIndex { let j = hex.index(i, offsetBy: 2); bytes.append(UInt8(hex[i..<j], radix: 16)!); i = j }
            XCTAssertEqual(t.byteCount(elements: want.count), bytes.count, name)
            let got = bytes.withUnsafeBytes { dequantize(type: t, from: $0.baseAddress!, count: want.count) }
            for k in want.indices {
                XCTAssertEqual(Double(got[k]), want[k], accuracy: 1e-6 * max(1, abs(want[k])), "\(name)[\(k)]")
            }
        }
    }

    func testHalfConversionRoundTrips() {
        for bits in stride(from: 0, to: 0x10000, by: 7) {
            let h = UInt16(bits)
            let f = halfToFloat(h)
            if f.isNaN { continue }
            XCTAssertEqual(floatToHalf(f), h, "half \(bits)")
        }
    }
}
