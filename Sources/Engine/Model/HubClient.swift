import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads a model's files from the Hugging Face Hub into the Hub's own cache layout, the way
/// `huggingface_hub` does, so transformers and aft share one cache both ways.
///
/// Layout under `cache` (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`):
/// `models--ORG--REPO/blobs/<etag>`, `snapshots/<commit>/<file>` → `../../blobs/<etag>`, and
/// `refs/<revision>` holding the commit. Protocol: `GET {endpoint}/api/models/{repo}/revision/{rev}`
/// for the commit and file list; `HEAD {endpoint}/{repo}/resolve/{commit}/{file}` (redirects not
/// followed) for the ETag (`X-Linked-Etag` for LFS files, else `ETag`) and size (`X-Linked-Size`,
/// else `Content-Length`); `GET` of the same URL (redirects followed) for the bytes, resumed from
/// `blobs/<etag>.incomplete` with a `Range` header. An LFS file's bytes must hash to its ETag
/// (sha256) before they are moved into `blobs/`; nothing appears under `snapshots/` before that.
public struct HubClient {
    /// `$HF_ENDPOINT`, else https://huggingface.co (a mirror, or a local test server).
    public var endpoint: String
    public var cache: String
    /// `$HF_TOKEN` (gated and private repos).
    public var token: String?
    /// `$HF_HUB_OFFLINE=1`: never touch the network; only what is cached is used.
    public var offline: Bool
    /// (file, bytes so far, bytes in all) while a file downloads.
    public var onProgress: ((String, Int64, Int64) -> Void)?
    /// Attempts per file when the connection drops; each resumes where the last stopped.
    public var attempts = 3

    /// Files a model needs, when the repo has them (weights: the single file or the index and its shards).
    static let modelFiles = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                             "special_tokens_map.json", "vocab.json", "merges.txt"]

    public init(cache: String, environment env: [String: String] = ProcessInfo.processInfo.environment) {
        self.cache = cache
        endpoint = (env["HF_ENDPOINT"] ?? "https://huggingface.co").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        token = env["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        offline = ["1", "true", "yes", "on"].contains((env["HF_HUB_OFFLINE"] ?? "").lowercased())
    }

    /// `ORG/REPO` → `models--ORG--REPO` under the cache.
    public func repoDirectory(_ repo: String) -> String { cache + "/models--" + repo.replacingOccurrences(of: "/", with: "--") }

    /// The cached snapshot of `repo` at `revision` (a branch or tag through `refs/`, or a commit), when it has a config.
    public func cachedSnapshot(repo: String, revision: String) -> String? {
        let dir = repoDirectory(repo)
        let commit = (try? String(contentsOfFile: dir + "/refs/" + revision, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? revision
        var snap = dir + "/snapshots/" + commit
        // A cache without refs (copied by hand): its only snapshot stands for main.
        if !FileManager.default.fileExists(atPath: snap), revision == "main",
           let all = try? FileManager.default.contentsOfDirectory(atPath: dir + "/snapshots"), all.count == 1 {
            snap = dir + "/snapshots/" + all[0]
        }
        return FileManager.default.fileExists(atPath: snap + "/config.json") ? snap : nil
    }

    /// The snapshot directory of `repo` at `revision` with the files a model needs, downloading
    /// what the cache lacks. Offline, or when the Hub cannot be reached, a cached snapshot is used.
    public func snapshot(repo: String, revision: String = "main") throws -> String {
        if offline {
            if let s = cachedSnapshot(repo: repo, revision: revision), hasWeights(s) { return s }
            throw EngineError.hub(repo: repo, message: "HF_HUB_OFFLINE is set and \(repo)@\(revision) is not in the cache \(repoDirectory(repo)); unset it to download")
        }
        let info: (commit: String, files: [String])
        do { info = try repoInfo(repo: repo, revision: revision) } catch let e as HubTransportError {
            if let s = cachedSnapshot(repo: repo, revision: revision), hasWeights(s) { return s }   // as huggingface_hub: the cache when the Hub is unreachable
            throw EngineError.hub(repo: repo, message: "cannot reach \(endpoint): \(e.message)")
        }
        let listed = Set(info.files)
        var wanted = HubClient.modelFiles.filter { listed.contains($0) }
        guard wanted.contains("config.json") else {
            throw EngineError.hub(repo: repo, message: "\(repo)@\(revision) has no config.json: not a transformers model repository")
        }
        let snap = repoDirectory(repo) + "/snapshots/" + info.commit
        if listed.contains("model.safetensors.index.json") {
            let index = try fetch(repo: repo, commit: info.commit, file: "model.safetensors.index.json")
            guard let d = FileManager.default.contents(atPath: index),
                  let map = (try? JSONSerialization.jsonObject(with: d) as? [String: Any])?["weight_map"] as? [String: String] else {
                throw EngineError.malformed(path: index, what: "no weight_map")
            }
            for shard in Set(map.values).sorted() {
                guard !shard.contains(".."), !shard.hasPrefix("/") else { throw EngineError.malformed(path: index, what: "shard name '\(shard)' leaves the snapshot") }
                wanted.append(shard)
            }
        } else if listed.contains("model.safetensors") {
            wanted.append("model.safetensors")
        } else {
            throw EngineError.hub(repo: repo, message: "\(repo)@\(revision) has no safetensors weights (model.safetensors or an index); aft does not read pytorch_model.bin")
        }
        for f in wanted { _ = try fetch(repo: repo, commit: info.commit, file: f) }
        if revision != info.commit { try writeRef(repo: repo, revision: revision, commit: info.commit) }
        return snap
    }

    /// Whether a snapshot holds its weights: the single file, or the index and every shard it names.
    func hasWeights(_ snap: String) -> Bool {
        let fm = FileManager.default
        if fm.fileExists(atPath: snap + "/model.safetensors") { return true }
        guard let d = fm.contents(atPath: snap + "/model.safetensors.index.json"),
              let map = (try? JSONSerialization.jsonObject(with: d) as? [String: Any])?["weight_map"] as? [String: String] else { return false }
        return Set(map.values).allSatisfy { fm.fileExists(atPath: snap + "/" + $0) }
    }

    /// `GET /api/models/{repo}/revision/{revision}`: the commit and the repo's file names.
    func repoInfo(repo: String, revision: String) throws -> (commit: String, files: [String]) {
        let url = "\(endpoint)/api/models/\(repo)/revision/\(percentEncoded(revision))"
        let (status, _, body) = try HTTP.request(url, method: "GET", headers: authHeaders, followRedirects: true)
        try check(status, repo: repo, what: "\(repo)@\(revision)")
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let sha = o["sha"] as? String,
              let siblings = o["siblings"] as? [[String: Any]] else {
            throw EngineError.hub(repo: repo, message: "\(url) did not answer with a repository description (sha, siblings)")
        }
        return (sha, siblings.compactMap { $0["rfilename"] as? String })
    }

    var authHeaders: [String: String] { token.map { ["Authorization": "Bearer \($0)"] } ?? [:] }

    func check(_ status: Int, repo: String, what: String) throws {
        switch status {
        case 200..<300: return
        case 401, 403:
            throw EngineError.hub(repo: repo, message: token == nil
                ? "\(what) is gated or private (HTTP \(status)): accept its terms on the Hub and set HF_TOKEN to a token with access"
                : "\(what) refused the token in HF_TOKEN (HTTP \(status)): check that it has access to this repository")
        case 404: throw EngineError.hub(repo: repo, message: "\(what) was not found on \(endpoint) (HTTP 404): check the repository name and revision")
        default: throw EngineError.hub(repo: repo, message: "\(what): the Hub answered HTTP \(status)")
        }
    }

    /// One file of the snapshot: its path under `snapshots/<commit>/`, downloaded into `blobs/` when missing.
    func fetch(repo: String, commit: String, file: String) throws -> String {
        let fm = FileManager.default
        let dir = repoDirectory(repo), target = dir + "/snapshots/" + commit + "/" + file
        if fm.fileExists(atPath: target) { return target }
        let url = "\(endpoint)/\(repo)/resolve/\(commit)/\(file.split(separator: "/").map { percentEncoded(String($0)) }.joined(separator: "/"))"
        let (status, headers, _) = try transport(repo) { try HTTP.request(url, method: "HEAD", headers: authHeaders.merging(["Accept-Encoding": "identity"]) { a, _ in a }, followRedirects: false) }
        if !(300..<400).contains(status) { try check(status, repo: repo, what: "\(repo)/\(file)") }
        guard let rawTag = headers["x-linked-etag"] ?? headers["etag"] else {
            throw EngineError.hub(repo: repo, message: "\(url) gave no ETag: cannot name its blob")
        }
        let etag = rawTag.replacingOccurrences(of: "W/", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        guard !etag.isEmpty, !etag.contains("/"), !etag.contains("..") else { throw EngineError.hub(repo: repo, message: "\(url) gave an unusable ETag '\(rawTag)'") }
        let size = Int64(headers["x-linked-size"] ?? headers["content-length"] ?? "")
        let blob = dir + "/blobs/" + etag
        try fm.createDirectory(atPath: dir + "/blobs", withIntermediateDirectories: true)
        if !fm.fileExists(atPath: blob) {
            try download(url, to: blob, size: size, label: file, repo: repo)
            // An LFS file is named by its sha256: the bytes must hash to it.
            if etag.count == 64, etag.allSatisfy({ $0.isHexDigit }) {
                let sha = try SHA256.file(blob + ".incomplete")
                guard sha == etag.lowercased() else {
                    unlink(blob + ".incomplete")
                    throw EngineError.hub(repo: repo, message: "\(file): the downloaded bytes hash to sha256 \(sha.prefix(12))…, not its ETag \(etag.prefix(12))…; the partial file was removed, run again to download it afresh")
                }
            }
            guard rename(blob + ".incomplete", blob) == 0 else { throw EngineError.io(path: blob, message: "cannot move the download into place") }
        }
        // snapshots/<commit>/<file> → ../../blobs/<etag> (one more ../ per folder in the file's path).
        try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let depth = file.split(separator: "/").count - 1
        let rel = String(repeating: "../", count: depth + 2) + "blobs/" + etag
        let tmp = target + ".tmp-\(getpid())"
        unlink(tmp)
        guard symlink(rel, tmp) == 0, rename(tmp, target) == 0 else {
            unlink(tmp)
            throw EngineError.io(path: target, message: "cannot link the snapshot file to its blob: \(String(cString: strerror(errno)))")
        }
        return target
    }

    /// GETs `url` into `path.incomplete`, resuming what an earlier attempt left there.
    func download(_ url: String, to path: String, size: Int64?, label: String, repo: String) throws {
        let part = path + ".incomplete"
        var lastError = ""
        for _ in 0..<max(1, attempts) {
            let have = ((try? FileManager.default.attributesOfItem(atPath: part))?[.size] as? NSNumber)?.int64Value ?? 0
            if let s = size, have == s, have > 0 { return }
            var headers = authHeaders
            if have > 0 { headers["Range"] = "bytes=\(have)-" }
            do {
                let status = try HTTP.download(url, headers: headers, to: part, resumeAt: have) { done, total in
                    onProgress?(label, done, size ?? total)
                }
                try check(status, repo: repo, what: "\(repo)/\(label)")
                let got = ((try? FileManager.default.attributesOfItem(atPath: part))?[.size] as? NSNumber)?.int64Value ?? 0
                if let s = size, got != s {
                    lastError = "got \(got) of \(s) bytes"
                    if got > s { unlink(part) }   // more than the file holds: start over
                    continue
                }
                return
            } catch let e as HubTransportError {
                lastError = e.message   // the connection dropped: the next attempt resumes
            }
        }
        throw EngineError.hub(repo: repo, message: "\(label): the download stopped (\(lastError)) after \(attempts) attempts; run again to resume from \(part)")
    }

    func writeRef(repo: String, revision: String, commit: String) throws {
        let p = repoDirectory(repo) + "/refs/" + revision
        try writeAtomically(Data(commit.utf8), to: p)
    }

    func transport<T>(_ repo: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as HubTransportError {
            throw EngineError.hub(repo: repo, message: "cannot reach \(endpoint): \(e.message)")
        }
    }

    func percentEncoded(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? s
    }
}

/// A network failure (no connection, a connection dropped mid-transfer), as opposed to an HTTP status.
struct HubTransportError: Error { let message: String }

/// Blocking HTTP over URLSession: one request, or a streamed download appended to a file.
enum HTTP {
    /// Status, headers (lowercased names) and body of one request.
    static func request(_ url: String, method: String, headers: [String: String], followRedirects: Bool,
                        timeout: TimeInterval = 30) throws -> (Int, [String: String], Data) {
        guard let u = URL(string: url) else { throw HubTransportError(message: "bad URL \(url)") }
        var req = URLRequest(url: u, timeoutInterval: timeout)
        req.httpMethod = method
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let delegate = Redirects(follow: followRedirects)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let done = DispatchSemaphore(value: 0)
        let box = ResponseBox()
        session.dataTask(with: req) { data, response, error in
            if let r = response as? HTTPURLResponse {
                box.result = (r.statusCode, lowercased(r.allHeaderFields), data ?? Data())
            } else { box.failure = error }
            done.signal()
        }.resume()
        done.wait()
        guard let r = box.result else { throw HubTransportError(message: box.failure.map { "\($0.localizedDescription)" } ?? "no response") }
        return r
    }

    /// GETs `url` (redirects followed), appending the body to `path` (truncated first unless the
    /// server answers 206 to a resume at `resumeAt`); `progress(bytes in the file, bytes expected)`.
    static func download(_ url: String, headers: [String: String], to path: String, resumeAt: Int64,
                         progress: @escaping (Int64, Int64) -> Void) throws -> Int {
        guard let u = URL(string: url) else { throw HubTransportError(message: "bad URL \(url)") }
        var req = URLRequest(url: u, timeoutInterval: 60)
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let sink = DownloadSink(path: path, resumeAt: resumeAt, progress: progress)
        let session = URLSession(configuration: .ephemeral, delegate: sink, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: req).resume()
        sink.done.wait()
        if let e = sink.failure { throw e }
        return sink.status
    }

    static func lowercased(_ h: [AnyHashable: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in h { if let k = k as? String { out[k.lowercased()] = "\(v)" } }
        return out
    }
}

/// One response, handed from URLSession's queue to the waiting caller (the semaphore orders the two).
final class ResponseBox: @unchecked Sendable {
    var result: (Int, [String: String], Data)?
    var failure: Error?
}

/// Follows redirects or not (a HEAD on the Hub reads the LFS headers on the redirect itself).
final class Redirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    let follow: Bool
    init(follow: Bool) { self.follow = follow }
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(follow ? request : nil)
    }
}

/// Writes a response body to a file as it arrives.
final class DownloadSink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let path: String
    let resumeAt: Int64
    let progress: (Int64, Int64) -> Void
    let done = DispatchSemaphore(value: 0)
    var handle: FileHandle?
    var status = 0
    var written: Int64 = 0
    var expected: Int64 = -1
    var failure: Error?

    init(path: String, resumeAt: Int64, progress: @escaping (Int64, Int64) -> Void) {
        self.path = path; self.resumeAt = resumeAt; self.progress = progress
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let r = response as? HTTPURLResponse
        status = r?.statusCode ?? 0
        guard (200..<300).contains(status) else { completionHandler(.cancel); return }
        // 206: the server resumed at our offset; 200: the whole file again, so start the file over.
        let resumed = status == 206 && resumeAt > 0
        if !resumed { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        handle = FileHandle(forWritingAtPath: path)
        if resumed { handle?.seekToEndOfFile() }
        written = resumed ? resumeAt : 0
        expected = response.expectedContentLength >= 0 ? written + response.expectedContentLength : -1
        completionHandler(handle == nil ? .cancel : .allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        do { try handle?.write(contentsOf: data) } catch {
            failure = EngineError.io(path: path, message: "cannot write the download: \(error.localizedDescription)")
            dataTask.cancel()
            return
        }
        written += Int64(data.count)
        progress(written, expected)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        try? handle?.close()
        if let e = error, failure == nil, (200..<300).contains(status) { failure = HubTransportError(message: e.localizedDescription) }
        done.signal()
    }
}
