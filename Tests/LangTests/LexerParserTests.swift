@testable import Lang
import XCTest

final class LexerParserTests: XCTestCase {
    func kinds(_ s: String) throws -> [TokenKind] { var l = Lexer(s); return try l.tokenize().map { $0.kind } }

    func testLexesNumbersNamesRangesAndLists() throws {
        XCTAssertEqual(try kinds("train lr=1e-3 l2=0.5 layers 2..10"),
                       [.word("train"), .word("lr"), .equals, .number(1e-3), .word("l2"), .equals, .number(0.5),
                        .word("layers"), .number(2), .dotdot, .number(10), .eof])
        XCTAssertEqual(try kinds("load qwen2.5-coder-0.5b"), [.word("load"), .word("qwen2.5-coder-0.5b"), .eof])
        XCTAssertEqual(try kinds("x 0,4,8 -2 135m"), [.word("x"), .number(0), .comma, .number(4), .comma, .number(8), .number(-2), .word("135m"), .eof])
        XCTAssertEqual(try kinds("eval ./data/x.jsonl log=\"my log.jsonl\" # note"),
                       [.word("eval"), .word("./data/x.jsonl"), .word("log"), .equals, .string("my log.jsonl"), .eof])
        XCTAssertEqual(try kinds("a; b\nc"), [.word("a"), .separator, .word("b"), .separator, .word("c"), .eof])
    }

    func testLexerErrorsCarryLocation() {
        XCTAssertThrowsError(try kinds("load \"unterminated")) { e in
            XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 1, column: 6))
        }
        XCTAssertThrowsError(try kinds("eval hellaswag\nset x=$")) { e in
            XCTAssertEqual((e as? Diagnostic)?.location, SourceLocation(line: 2, column: 7))
        }
    }

    func testParsesStatementsAssignmentsAndArguments() throws {
        var p = try Parser(source: "load smollm2-135m\nr = eval hellaswag limit=20 log=out/x.jsonl; show r  # done")
        let st = try p.parse()
        XCTAssertEqual(st.count, 3)
        XCTAssertEqual(st[0].command, "load")
        XCTAssertEqual(st[0].positional.first?.value, .word("smollm2-135m"))
        XCTAssertEqual(st[1].assignTo, "r")
        XCTAssertEqual(st[1].command, "eval")
        XCTAssertEqual(st[1].named("limit")?.value, .number(20))
        XCTAssertEqual(st[1].named("log")?.value, .word("out/x.jsonl"))
        XCTAssertEqual(st[1].text, "r = eval hellaswag limit=20 log=out/x.jsonl")
        XCTAssertEqual(st[2].text, "show r")
        XCTAssertEqual(st[2].location, SourceLocation(line: 2, column: 46))
    }

    func testListsAndRanges() throws {
        var p = try Parser(source: "x layers=0,4,8 r=2..10")
        let s = try p.parse()[0]
        XCTAssertEqual(s.named("layers")?.value, .list([.number(0), .number(4), .number(8)]))
        XCTAssertEqual(s.named("r")?.value, .range(2, 10))
    }

    func testCheckSuggestsClosestCommandAndArgument() throws {
        func checkErr(_ src: String) -> Diagnostic? {
            do { var p = try Parser(source: src); for s in try p.parse() { try CommandTable.check(s) }; return nil }
            catch { return error as? Diagnostic }
        }
        XCTAssertEqual(checkErr("evl hellaswag")?.message, "unknown command 'evl'; did you mean 'eval'?")
        XCTAssertEqual(checkErr("eval hellaswag limt=3")?.message, "'eval' has no argument 'limt'; did you mean 'limit='?")
        XCTAssertEqual(checkErr("eval hellaswag limit=2.5")?.message, "argument 'limit' must be an integer, got 2.5")
        XCTAssertEqual(checkErr("eval hellaswag limit=0")?.message, "argument 'limit' must be in 1..10000000, got 0")
        XCTAssertEqual(checkErr("eval")?.message, "'eval' needs <task>; e.g. eval hellaswag limit=200")
        XCTAssertEqual(checkErr("load a b")?.message, "'load' takes 1 positional argument; unexpected 'b'")
        XCTAssertEqual(checkErr("eval hellaswag limit=5")?.message, nil)
    }

    func testDiagnosticRendersFileLineColumnAndCaret() {
        let d = Diagnostic(.usage, "unknown command 'evl'", at: SourceLocation(line: 3, column: 5), file: "demo.aft",
                           sourceLine: "    evl hellaswag")
        XCTAssertEqual(d.description, "demo.aft:3:5: error: unknown command 'evl'\n      evl hellaswag\n      ^")
    }

    func testSessionReportsScriptErrorsWithLocationBeforeRunningAnything() {
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        XCTAssertThrowsError(try s.run(source: "help\nhelp eval\nevl x\n", file: "t.aft")) { e in
            let d = e as? Diagnostic
            XCTAssertEqual(d?.file, "t.aft")
            XCTAssertEqual(d?.location, SourceLocation(line: 3, column: 1))
            XCTAssertEqual(d?.sourceLine, "evl x")
        }
        XCTAssertTrue(out.isEmpty, "nothing runs when a later statement has a usage error")
    }

    /// The checker recovers per statement: a script's syntax and usage errors are all reported, in
    /// source order, each with its own file:line:column and caret; nothing runs.
    func testEveryErrorInAScriptIsReported() {
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        let src = "help\nevl hellaswag\neval hellaswag limit=abc\nsweep hellaswag layers 1..\nhelp eval\ngenerate \"x\" max_tokens=0\n"
        XCTAssertThrowsError(try s.run(source: src, file: "demo.aft")) { e in
            guard let d = e as? Diagnostic else { return XCTFail("\(e)") }
            let all = [d] + d.more
            XCTAssertEqual(all.map { $0.location?.line }, [2, 3, 4, 6])
            XCTAssertEqual(all.map { $0.file }, ["demo.aft", "demo.aft", "demo.aft", "demo.aft"])
            XCTAssertEqual(all[1].sourceLine, "eval hellaswag limit=abc")
            XCTAssertTrue(d.description.hasPrefix("demo.aft:2:1: error: unknown command 'evl'"), d.description)
            XCTAssertTrue(d.description.contains("demo.aft:6:"), d.description)
            XCTAssertTrue(d.description.hasSuffix("4 errors"), d.description)
        }
        XCTAssertTrue(out.isEmpty, "nothing runs when the script has errors")
    }

    func testRuntimeErrorKeepsSessionAndNamesProblem() throws {
        var out: [String] = []
        let s = Session(output: { out.append($0) })
        XCTAssertThrowsError(try s.run(source: "eval hellaswag limit=3")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .runtime)
            XCTAssertTrue("\(e)".contains("no model loaded"), "\(e)")
        }
        XCTAssertThrowsError(try s.run(source: "load no-such-model")) { e in
            XCTAssertTrue("\(e)".contains("known models"), "\(e)")
        }
        try s.run(source: "help eval")
        XCTAssertTrue(out.last?.contains("limit") ?? false)
        XCTAssertEqual(s.history, ["help eval"])
    }

    func testHelpIsGeneratedForEveryCommand() {
        for c in CommandTable.commands {
            let h = CommandTable.help(c.name)
            XCTAssertTrue(h.hasPrefix("\(c.name) — "), h)
            XCTAssertTrue(h.contains("Examples:"), h)
            for p in c.named { XCTAssertTrue(h.contains(p.name), "help \(c.name) lacks \(p.name)") }
        }
        XCTAssertTrue(CommandTable.help(nil).contains("eval"))
    }

    /// Random and mutated inputs never crash or hang the lexer/parser/checker.
    func testFuzzNoCrashNoHang() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcxyz019.,;=#\"'\n \t-_/:~\\..()[]{}$%^&*eE+") + ["é", "東", "🙂"]
        let seeds = ["r = eval hellaswag limit=20", "set threads=2 seed=7", "x layers=0,4,8 r=2..10", "load \"a b\""]
        for i in 0..<3000 {
            var s: String
            if i % 2 == 0 {
                s = String((0..<Int.random(in: 0..<60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            } else {
                var chars = Array(seeds.randomElement(using: &rng)!)
                for _ in 0..<3 where !chars.isEmpty {
                    let k = Int.random(in: 0..<chars.count, using: &rng)
                    if Bool.random(using: &rng) { chars[k] = alphabet.randomElement(using: &rng)! } else { chars.remove(at: k) }
                }
                s = String(chars)
            }
            if var p = try? Parser(source: s), let st = try? p.parse() { for x in st { _ = try? CommandTable.check(x) } }
        }
    }
}
