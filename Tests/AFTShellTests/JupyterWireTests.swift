@testable import AFTShell
import Foundation
@testable import Lang
import XCTest

/// The kernel's wire format without a client: HMAC-SHA256 against RFC 4231, a message signed and
/// read back, and what is refused (forged, truncated, not JSON); a statement that is a bare name.
final class JupyterWireTests: XCTestCase {
    func testHMACMatchesRFC4231() {
        // RFC 4231, test case 2.
        let s = MessageSigner(key: Array("Jefe".utf8))
        XCTAssertEqual(s.signature([Data("what do ya ".utf8), Data("want for nothing?".utf8)]),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        XCTAssertEqual(MessageSigner(key: []).signature([Data("x".utf8)]), "", "an empty key signs nothing")
    }

    func testMessageRoundTripAndRejections() throws {
        let signer = MessageSigner(key: Array("secret".utf8))
        var req = JupyterMessage(type: "execute_request", content: ["code": "help"], parent: nil, session: "s1")
        req.identities = [Data("client-1".utf8)]
        let frames = req.frames(signer: signer)
        let back = try JupyterMessage(frames: frames, signer: signer)
        XCTAssertEqual(back.type, "execute_request")
        XCTAssertEqual(back.content["code"] as? String, "help")
        XCTAssertEqual(back.identities, [Data("client-1".utf8)])
        // A reply goes back to the same identities, with the request as its parent.
        let reply = JupyterMessage(type: "execute_reply", content: ["status": "ok"], parent: back, session: "k")
        XCTAssertEqual(reply.identities, back.identities)
        XCTAssertEqual(reply.parentHeader["msg_id"] as? String, back.id)
        XCTAssertNotNil((reply.header["date"] as? String)?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression))

        XCTAssertThrowsError(try JupyterMessage(frames: frames, signer: MessageSigner(key: Array("other".utf8)))) {
            XCTAssertTrue("\($0)".contains("bad signature"))
        }
        var tampered = frames
        tampered[tampered.count - 1] = Data(#"{"code": "forged"}"#.utf8)
        XCTAssertThrowsError(try JupyterMessage(frames: tampered, signer: signer))
        XCTAssertThrowsError(try JupyterMessage(frames: Array(frames.prefix(4)), signer: signer))
        XCTAssertThrowsError(try JupyterMessage(frames: [Data("no delimiter".utf8)], signer: signer))
        var notJSON = Array(frames)
        let d = try XCTUnwrap(notJSON.firstIndex(of: JupyterMessage.delimiter))
        notJSON[d + 5] = Data("[1]".utf8)
        notJSON[d + 1] = Data(signer.signature(Array(notJSON[(d + 2)...(d + 5)])).utf8)
        XCTAssertThrowsError(try JupyterMessage(frames: notJSON, signer: signer)) { XCTAssertTrue("\($0)".contains("content")) }
    }

    func testConnectionFileErrorsNameTheProblem() throws {
        let f = NSTemporaryDirectory() + "aft-conn-\(UUID().uuidString).json"
        defer { unlink(f) }
        try Data(#"{"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "key": "k"}"#.utf8)
            .write(to: URL(fileURLWithPath: f))
        XCTAssertThrowsError(try ConnectionInfo(file: f)) { XCTAssertTrue("\($0)".contains("'hb_port' is missing"), "\($0)") }
        XCTAssertThrowsError(try ConnectionInfo(file: f + ".missing")) { XCTAssertTrue("\($0)".contains("cannot read")) }
    }

    func testCompletionCursorWorksOnTheStatementUnderIt() {
        XCTAssertEqual(JupyterKernel.statementBefore("load m\nr = sw", cursor: 13), "r = sw")
        XCTAssertEqual(JupyterKernel.statementBefore("load m;  eval arc", cursor: 17), "eval arc")
        XCTAssertEqual(JupyterKernel.statementBefore("é = swe", cursor: 100), "é = swe")
    }

    func testLogoIsAValidPNG() {
        let png = Logo.png(size: 32)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        // IHDR: 32 × 32, 8-bit RGBA; the IEND chunk's CRC is the standard one.
        XCTAssertEqual(Array(png[16..<26]), [0, 0, 0, 32, 0, 0, 0, 32, 8, 6])
        XCTAssertEqual(Array(png.suffix(4)), [0xae, 0x42, 0x60, 0x82])
    }

    func testABareVariableNameShowsIt() throws {
        var p = try Parser(source: "r\nx = eval arc-easy\nx\nnope\nmodel")
        let st = Session.bareNames(try p.parse(), known: ["r"])
        XCTAssertEqual(st.map { $0.command }, ["show", "eval", "show", "nope", "show"])
        XCTAssertEqual(st[2].positional.first?.value, .word("x"))
        XCTAssertThrowsError(try CommandTable.check(st[3]), "an unknown name that is no variable stays an error")
    }
}
