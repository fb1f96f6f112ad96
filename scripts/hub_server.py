#!/usr/bin/env python3
"""A small Hugging Face Hub, for tests: speaks the protocol `huggingface_hub` and aft use, on 127.0.0.1.

    python3 scripts/hub_server.py --repo ORG/NAME=DIR [--repo …] [--gated ORG/NAME] [--drop FILE] [--corrupt FILE]

Serves every file of DIR as repository ORG/NAME at one commit (the sha1 of the repo name):
  GET  /api/models/ORG/NAME/revision/REV   {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD|GET /ORG/NAME/resolve/REV/FILE      small files: 200 with ETag (git blob sha1), X-Repo-Commit;
                                           *.safetensors (LFS): 302 to an absolute /lfs/SHA256 URL with
                                           X-Linked-Etag (the sha256), X-Linked-Size, X-Repo-Commit
  HEAD|GET /lfs/SHA256                     the bytes, with Range support (206)
--gated: the repo answers 401 without `Authorization: Bearer hf_test_token`.
--drop FILE: the first GET of FILE's bytes sends half of them, then closes the connection.
--corrupt FILE: FILE's bytes are served with one byte changed (its ETag still names the real sha256).
The first line printed is `PORT <n>`; every request is logged to stderr (`Range` included), so a test
can check that a resume asked for the rest only.
"""
import argparse, hashlib, http.server, json, os, socketserver, sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--gated", action="append", default=[])
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--corrupt", action="append", default=[])
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    repos = {}
    for spec in a.repo:
        name, d = spec.split("=", 1)
        files = {}
        for root, _, fs in os.walk(d):
            for f in fs:
                p = os.path.join(root, f)
                files[os.path.relpath(p, d)] = open(p, "rb").read()
        repos[name] = {"commit": hashlib.sha1(name.encode()).hexdigest(), "files": files}
    lfs = {}
    for r in repos.values():
        for f, b in r["files"].items():
            if f.endswith(".safetensors"):
                lfs[hashlib.sha256(b).hexdigest()] = (f, b)
    dropped = set()

    class Hub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s range=%s\n" % (self.command, self.path, self.headers.get("Range", "-")))
            sys.stderr.flush()

        def send(self, code, headers=None, body=b""):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def repo_of(self, parts):
            name = "/".join(parts[:2])
            if name not in repos:
                self.send(404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}')
                return None
            if name in a.gated and self.headers.get("Authorization") != "Bearer hf_test_token":
                self.send(401, {"X-Error-Code": "GatedRepo"}, b'{"error": "Access to this repo is restricted"}')
                return None
            return repos[name]

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = self.path.split("?")[0]
            parts = [p for p in path.split("/") if p]
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
                r = self.repo_of(parts[2:4])
                if r is None: return
                if parts[5] not in ("main", r["commit"]):
                    return self.send(404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "Revision not found"}')
                body = json.dumps({"id": "/".join(parts[2:4]), "sha": r["commit"],
                                   "siblings": [{"rfilename": f} for f in sorted(r["files"])]}).encode()
                return self.send(200, {"Content-Type": "application/json"}, body)
            if parts and parts[0] == "lfs" and len(parts) == 2 and parts[1] in lfs:
                f, b = lfs[parts[1]]
                if f in a.corrupt:
                    b = bytes([b[0] ^ 0xFF]) + b[1:]
                start, code, extra = 0, 200, {}
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    code, extra = 206, {"Content-Range": "bytes %d-%d/%d" % (start, len(b) - 1, len(b))}
                body = b[start:]
                if self.command == "GET" and f in a.drop and f not in dropped:
                    dropped.add(f)
                    half = body[:len(body) // 2]
                    self.send_response(code)
                    for k, v in extra.items(): self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(half)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                return self.send(code, dict(extra, ETag='"%s"' % parts[1], **{"Accept-Ranges": "bytes"}), body)
            if len(parts) >= 5 and parts[2] == "resolve":
                r = self.repo_of(parts[:2])
                if r is None: return
                if parts[3] not in ("main", r["commit"]):
                    return self.send(404, {"X-Error-Code": "RevisionNotFound"})
                f = "/".join(parts[4:])
                if f not in r["files"]:
                    return self.send(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": r["commit"]})
                b = r["files"][f]
                if f.endswith(".safetensors"):
                    sha = hashlib.sha256(b).hexdigest()
                    # Another host name, as the Hub sends LFS files to its CDN: clients read the
                    # metadata on this redirect instead of following it.
                    host = "http://localhost:%d" % self.server.server_address[1]
                    return self.send(302, {"Location": "%s/lfs/%s" % (host, sha), "X-Repo-Commit": r["commit"],
                                           "X-Linked-Etag": '"%s"' % sha, "X-Linked-Size": len(b),
                                           "ETag": '"%s"' % hashlib.sha1(b"lfs" + b).hexdigest()})
                oid = hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()
                return self.send(200, {"ETag": '"%s"' % oid, "X-Repo-Commit": r["commit"], "Content-Length": len(b)}, b)
            self.send(404)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    srv = Server(("127.0.0.1", a.port), Hub)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
