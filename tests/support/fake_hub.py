#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for test_hub: the model API and resolve URLs for folders of
files, with faults a test turns on. Only the standard library; prints "PORT <n>" once it listens.

    python3 fake_hub.py --repo org/tiny=/path/to/folder [--repo ...]

- GET /api/models/<repo>/revision/<rev>?blobs=true: id, sha (the commit), siblings with size, blobId and, for LFS
  files (*.safetensors, *.gguf, *.bin), lfs.sha256 / lfs.size; "main" and the commit are the known revisions.
- GET /<repo>/resolve/<rev>/<path>: a regular file's bytes; an LFS file is a 302 to http://localhost:<port>/cdn/<sha256>
  (another host name on loopback, as the Hub's CDN is another host). Range requests are answered with 206.
- POST /_control with a JSON object sets faults: token (401 without "Authorization: Bearer <token>" on the API and
  resolve), drop_after (the next file transfer stops after that many bytes and the connection closes), corrupt (a
  path whose bytes are served with one byte changed), slow (one small chunk a second), busy (503 with Retry-After),
  together (N: each file transfer waits, at most 10 s, until N are under way at once, and logs a "/_together" entry
  saying whether they met).
  POST /_reset clears them; GET /_log lists every request (path, range, whether it carried Authorization).
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")


class Repo:
    def __init__(self, repo_id, folder):
        self.id = repo_id
        self.files = {}
        for root, _, names in os.walk(folder):
            for name in sorted(names):
                full = os.path.join(root, name)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                data = open(full, "rb").read()
                entry = {"data": data, "size": len(data)}
                if rel.endswith(LFS_SUFFIXES):
                    sha256 = hashlib.sha256(data).hexdigest()
                    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
                    entry.update(sha256=sha256, blob_id=git_blob_id(pointer))
                else:
                    entry.update(blob_id=git_blob_id(data))
                self.files[rel] = entry
        listing = "".join(f"{p}:{e['blob_id']}\n" for p, e in sorted(self.files.items()))
        self.commit = hashlib.sha1(listing.encode()).hexdigest()


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = {}
        self.log = []
        self.barrier = None


def make_handler(repos, state, port_holder):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        head_only = False

        def send_json(self, status, obj, extra=None):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if not self.head_only:
                self.wfile.write(body)

        def do_HEAD(self):
            self.head_only = True
            try:
                self.do_GET()
            finally:
                self.head_only = False

        def authorised(self):
            token = state.faults.get("token")
            return token is None or self.headers.get("Authorization") == f"Bearer {token}"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length) if length else b"{}"
            with state.lock:
                if self.path == "/_control":
                    state.faults.update(json.loads(body))
                    state.barrier = threading.Barrier(state.faults["together"]) if "together" in state.faults else None
                elif self.path == "/_reset":
                    state.faults.clear()
                    state.log.clear()
                    state.barrier = None
            self.send_json(200, {"ok": True})

        def do_GET(self):
            url = urlsplit(self.path)
            path = unquote(url.path)
            if path == "/_log":
                with state.lock:
                    return self.send_json(200, list(state.log))
            with state.lock:
                state.log.append({"path": path, "host": self.headers.get("Host", ""), "range": self.headers.get("Range"),
                                  "authorization": self.headers.get("Authorization") is not None})
            if state.faults.get("busy"):
                return self.send_json(503, {"error": "Service Unavailable"}, {"Retry-After": "7"})
            if path.startswith("/api/models/") and "/tree/" in path:
                return self.tree(path[len("/api/models/"):])
            if path.startswith("/api/models/"):
                return self.api(path[len("/api/models/"):])
            if path.startswith("/cdn/"):
                sha = path[len("/cdn/"):]
                for repo in repos.values():
                    for rel, entry in repo.files.items():
                        if entry.get("sha256") == sha:
                            return self.send_file(rel, entry)
                return self.send_json(404, {"error": "Entry not found"})
            if "/resolve/" in path:
                repo_id, rest = path.lstrip("/").split("/resolve/", 1)
                rev, _, rel = rest.partition("/")
                repo = repos.get(repo_id)
                if not self.authorised():
                    return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
                if repo is None or rel not in repo.files or rev not in ("main", repo.commit):
                    return self.send_json(404, {"error": "Entry not found"})
                entry = repo.files[rel]
                if "sha256" in entry:
                    self.send_response(302)
                    self.send_header("Location", f"http://localhost:{port_holder[0]}/cdn/{entry['sha256']}")
                    self.send_header("X-Linked-Etag", f'"{entry["sha256"]}"')
                    self.send_header("X-Linked-Size", str(entry["size"]))
                    self.send_header("X-Repo-Commit", repo.commit)
                    self.send_header("ETag", f'"{entry["blob_id"]}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                return self.send_file(rel, entry, {"X-Repo-Commit": repo.commit})
            return self.send_json(404, {"error": "Not found"})

        def api(self, rest):
            parts = rest.split("/revision/")
            repo = repos.get(parts[0])
            if not self.authorised():
                return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
            if repo is None:
                return self.send_json(404, {"error": "Repository not found"})
            rev = parts[1] if len(parts) > 1 else "main"
            if rev not in ("main", repo.commit):
                return self.send_json(404, {"error": f"Invalid rev id: {rev}"})
            siblings = []
            for rel, e in sorted(repo.files.items()):
                s = {"rfilename": rel, "size": e["size"], "blobId": e["blob_id"]}
                if "sha256" in e:
                    s["lfs"] = {"sha256": e["sha256"], "size": e["size"], "pointerSize": 134}
                siblings.append(s)
            return self.send_json(200, {"id": repo.id, "sha": repo.commit, "siblings": siblings, "private": False})

        def tree(self, rest):
            """The file listing huggingface_hub 1.x asks for (recursive, one page)."""
            repo_id, _, rev = rest.partition("/tree/")
            rev = rev.split("/", 1)[0]
            repo = repos.get(repo_id)
            if not self.authorised():
                return self.send_json(401, {"error": "Invalid credentials in Authorization header"})
            if repo is None or rev not in ("main", repo.commit):
                return self.send_json(404, {"error": "Repository not found"})
            items = []
            for rel, e in sorted(repo.files.items()):
                item = {"type": "file", "oid": e["blob_id"], "size": e["size"], "path": rel}
                if "sha256" in e:
                    item["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": 134}
                items.append(item)
            return self.send_json(200, items)

        def send_file(self, rel, entry, extra=None):
            data = entry["data"]
            if state.faults.get("corrupt") == rel:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
                start = int(ranged[len("bytes="):-1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{entry.get("sha256", entry["blob_id"])}"')
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.head_only:
                return
            with state.lock:
                drop = state.faults.pop("drop_after", None)
                slow = state.faults.get("slow")
                barrier = state.barrier
            if barrier is not None:
                try:
                    barrier.wait(timeout=10)
                    met = True
                except threading.BrokenBarrierError:
                    met = False
                with state.lock:
                    state.log.append({"path": "/_together", "met": met, "file": rel})
            try:
                if drop is not None:
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if slow:
                    for i in range(0, len(body), 16):
                        self.wfile.write(body[i:i + 16])
                        self.wfile.flush()
                        time.sleep(1)
                    return
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repo", action="append", default=[], help="org/name=FOLDER")
    args = p.parse_args()
    repos = {}
    for spec in args.repo:
        repo_id, folder = spec.split("=", 1)
        repos[repo_id] = Repo(repo_id, folder)
    port_holder = [0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(repos, State(), port_holder))
    server.daemon_threads = True
    port_holder[0] = server.server_address[1]
    print(f"PORT {port_holder[0]}", flush=True)
    for repo in repos.values():
        print(f"REPO {repo.id} {repo.commit}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
