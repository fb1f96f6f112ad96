import Foundation
@testable import Lang

/// What the command tests on the tiny llama share: its path, a session that collects its output,
/// and a small ARC-layout task file written into a data directory.
enum TinySessionFixture {
    /// The tiny random-weight llama of the engine tests (3 layers).
    static var llama: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/EngineTests/Fixtures/tiny/llama"
    }

    /// A session and a function returning everything it printed so far.
    static func session() -> (Session, () -> String) {
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        return (s, { out.joined(separator: "\n") })
    }

    /// `DATA/arc_easy/arc_easy_test.jsonl` with `n` items: "Which thing number i is heavier?" and
    /// `choices` answers, the gold cycling through them when `rotate`, else always the first.
    static func writeARC(into data: String, n: Int = 40, choices: Int = 3, rotate: Bool = true) throws {
        try FileManager.default.createDirectory(atPath: data + "/arc_easy", withIntermediateDirectories: true)
        let texts = ["a feather", "a leaf", "air", "a cloud"], labels = ["A", "B", "C", "D", "E"]
        var arc = ""
        for i in 0..<n {
            let row: [String: Any] = ["id": "q\(i)", "question": "Which thing number \(i) is heavier?",
                                      "choices": ["text": ["a stone \(i)"] + texts.prefix(choices - 1), "label": Array(labels.prefix(choices))],
                                      "answerKey": labels[rotate ? i % choices : 0]]
            arc += String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self) + "\n"
        }
        try arc.write(toFile: data + "/arc_easy/arc_easy_test.jsonl", atomically: true, encoding: .utf8)
    }
}
