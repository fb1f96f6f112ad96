import CCrypto
import CZMQ
import Foundation

/// A ZeroMQ socket of the kernel (one per Jupyter channel), over libzmq's C API.
/// Not thread-safe: each socket is used by one thread, or under a lock (iopub).
final class ZMQSocket {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ what: String) { description = "\(what): \(String(cString: zmq_strerror(zmq_errno())))" }
    }

    let handle: UnsafeMutableRawPointer

    /// A socket of `type` (ZMQ_ROUTER, ZMQ_PUB, ZMQ_REP) bound to `endpoint` (`tcp://127.0.0.1:5555`).
    init(context: UnsafeMutableRawPointer, type: Int32, endpoint: String) throws {
        guard let h = zmq_socket(context, type) else { throw Failure("cannot create a socket") }
        handle = h
        // A reply still queued when the kernel exits gets a second to go out.
        var linger: Int32 = 1000
        zmq_setsockopt(h, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        guard zmq_bind(h, endpoint) == 0 else { throw Failure("cannot bind \(endpoint)") }
    }

    /// The next multipart message (blocking); nil when the context is shutting down.
    func receive() -> [Data]? {
        var frames: [Data] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let n = zmq_msg_recv(&msg, handle, 0)
            if n < 0 {
                if zmq_errno() == EINTR { continue }   // SIGINT (interrupt_mode signal) while waiting
                return nil
            }
            frames.append(Data(bytes: zmq_msg_data(&msg), count: Int(n)))
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    /// Waits up to `timeoutMs` for a message to arrive; true when one is ready.
    func poll(timeoutMs: Int) -> Bool {
        var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        return zmq_poll(&item, 1, timeoutMs) > 0 && item.revents & Int16(ZMQ_POLLIN) != 0
    }

    func send(_ frames: [Data]) {
        for (i, f) in frames.enumerated() {
            let flags = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            f.withUnsafeBytes { p in
                while zmq_send(handle, p.baseAddress, p.count, flags) < 0 && zmq_errno() == EINTR {}
            }
        }
    }
}

/// HMAC-SHA256 of a message's four JSON frames with the connection file's key (OpenSSL);
/// an empty key means messages are not signed (Jupyter's "no authentication").
struct MessageSigner {
    let key: [UInt8]

    func signature(_ parts: [Data]) -> String {
        guard !key.isEmpty else { return "" }
        var body = Data()
        for p in parts { body.append(p) }
        var mac = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            body.withUnsafeBytes { d in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.bindMemory(to: UInt8.self).baseAddress, d.count, &mac, &length)
            }
        }
        return mac.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `given` is the signature of `parts` (compared in constant time).
    func verify(_ given: Data, _ parts: [Data]) -> Bool {
        let want = Array(signature(parts).utf8), got = Array(given)
        guard want.count == got.count else { return false }
        return zip(want, got).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// One message of the Jupyter messaging protocol (5.3): routing identities, the four JSON
/// dictionaries and any binary buffers. On the wire: identities…, `<IDS|MSG>`, signature,
/// header, parent_header, metadata, content, buffers….
struct JupyterMessage {
    var identities: [Data] = []
    var header: [String: Any]
    var parentHeader: [String: Any] = [:]
    var metadata: [String: Any] = [:]
    var content: [String: Any]
    var buffers: [Data] = []

    var type: String { header["msg_type"] as? String ?? "" }
    var id: String { header["msg_id"] as? String ?? "" }

    static let delimiter = Data("<IDS|MSG>".utf8)

    enum Rejection: Error, CustomStringConvertible {
        case noDelimiter, tooShort, badSignature, badJSON(String)
        var description: String {
            switch self {
            case .noDelimiter: return "no <IDS|MSG> delimiter"
            case .tooShort: return "fewer than the five frames after the delimiter"
            case .badSignature: return "bad signature (HMAC-SHA256 with the connection file's key does not match)"
            case .badJSON(let part): return "\(part) is not a JSON object"
            }
        }
    }

    /// Parses and authenticates frames received from a ROUTER socket.
    init(frames: [Data], signer: MessageSigner) throws {
        guard let d = frames.firstIndex(of: JupyterMessage.delimiter) else { throw Rejection.noDelimiter }
        guard frames.count >= d + 6 else { throw Rejection.tooShort }
        let parts = Array(frames[(d + 2)...(d + 5)])
        guard signer.verify(frames[d + 1], parts) else { throw Rejection.badSignature }
        func object(_ data: Data, _ name: String) throws -> [String: Any] {
            guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw Rejection.badJSON(name) }
            return o
        }
        identities = Array(frames[..<d])
        header = try object(parts[0], "header")
        parentHeader = try object(parts[1], "parent_header")
        metadata = try object(parts[2], "metadata")
        content = try object(parts[3], "content")
        buffers = Array(frames[(d + 6)...])
    }

    /// A new message of `type` in `session`, answering `parent` (its identities route a reply).
    init(type: String, content: [String: Any], parent: JupyterMessage?, session: String) {
        header = ["msg_id": UUID().uuidString.lowercased(), "session": session, "username": "aft", "date": JupyterMessage.now(),
                  "msg_type": type, "version": "5.3"]
        parentHeader = parent?.header ?? [:]
        identities = parent?.identities ?? []
        self.content = content
    }

    /// The frames to send, signed.
    func frames(signer: MessageSigner) -> [Data] {
        func json(_ o: [String: Any]) -> Data {
            (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("{}".utf8)
        }
        let parts = [json(header), json(parentHeader), json(metadata), json(content)]
        return identities + [JupyterMessage.delimiter, Data(signer.signature(parts).utf8)] + parts + buffers
    }

    /// ISO 8601 with microseconds, UTC, as Jupyter writes its dates.
    static func now() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = time_t(tv.tv_sec), tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                      tmv.tm_hour, tmv.tm_min, tmv.tm_sec, Int32(tv.tv_usec))
    }
}

/// The connection file a Jupyter client writes: transport, address, the five ports and the key.
struct ConnectionInfo {
    let transport: String, ip: String, key: String, signatureScheme: String
    let shell: Int, iopub: Int, stdin: Int, control: Int, heartbeat: Int

    struct Invalid: Error, CustomStringConvertible { let description: String }

    init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw Invalid(description: "cannot read the connection file \(file)") }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Invalid(description: "\(file): not a JSON object (a Jupyter connection file is expected)")
        }
        func port(_ k: String) throws -> Int {
            guard let p = o[k] as? Int, p > 0, p < 65536 else { throw Invalid(description: "\(file): '\(k)' is missing or not a port number") }
            return p
        }
        transport = o["transport"] as? String ?? "tcp"
        ip = o["ip"] as? String ?? "127.0.0.1"
        key = o["key"] as? String ?? ""
        signatureScheme = o["signature_scheme"] as? String ?? "hmac-sha256"
        guard ["tcp", "ipc"].contains(transport) else { throw Invalid(description: "\(file): transport '\(transport)' (tcp or ipc expected)") }
        guard key.isEmpty || signatureScheme == "hmac-sha256" else {
            throw Invalid(description: "\(file): signature scheme '\(signatureScheme)' (aft signs with hmac-sha256)")
        }
        shell = try port("shell_port"); iopub = try port("iopub_port"); stdin = try port("stdin_port")
        control = try port("control_port"); heartbeat = try port("hb_port")
    }

    func endpoint(_ port: Int) -> String { transport == "ipc" ? "ipc://\(ip)-\(port)" : "tcp://\(ip):\(port)" }
}
