"""A tiny Hugging Face hub on 127.0.0.1 for download tests: the endpoints huggingface_hub really calls.

- HEAD/GET /{owner}/{repo}/resolve/{revision}/{file}: like the hub for a large (LFS) file, a 302 to a CDN on
  another origin, carrying X-Repo-Commit, X-Linked-Etag (the sha256) and X-Linked-Size. Unknown repositories get
  401 + X-Error-Code: RepoNotFound, unknown files 404 + X-Error-Code: EntryNotFound, as the hub answers.
- HEAD/GET /cdn/{sha256} on the CDN origin (http://localhost:PORT, the hub being http://127.0.0.1:PORT): the bytes, with Range support (206 + Content-Range).
- GET /api/models/{owner}/{repo}/tree/{revision}: the file listing (JSON) behind list_repo_files.

Failure switches: `drop_first_get` sends half a file then closes the connection, once; `refuse_ranges` answers
503 to every ranged GET (a hub that stays down after the drop); `throttle_s` paces the bytes so progress shows.
Every request is recorded in `requests` as (origin, method, path, Range header).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNKS = 8  # pieces a throttled body is sent in


@dataclass
class HubState:
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, path) -> content
    requests: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    drop_first_get: bool = False
    refuse_ranges: bool = False
    throttle_s: float = 0.0
    announce_size: int | None = None  # lie about the size (disk-space check)
    damage_blobs: bool = False  # flip a byte on the way (checksum check)
    cdn_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo: str, path: str, content: bytes) -> str:
        self.files[(repo, path)] = content
        return hashlib.sha256(content).hexdigest()

    def by_sha(self, sha: str) -> bytes | None:
        for content in self.files.values():
            if hashlib.sha256(content).hexdigest() == sha:
                return content
        return None

    def ranged_gets(self) -> list[str]:
        return [r[3] for r in self.requests if r[1] == "GET" and r[3]]


def _handler(state: HubState, origin: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _record(self) -> None:
            with state.lock:
                state.requests.append((origin, self.command, self.path, self.headers.get("Range")))

        def do_HEAD(self):
            self._record()
            self._route(body=False)

        def do_GET(self):
            self._record()
            self._route(body=True)

        def _send(self, status: int, headers: dict, body: bytes = b"", send_body: bool = True) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, str(v))
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and body:
                self.wfile.write(body)

        def _route(self, body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            parts = [p for p in path.split("/") if p]
            if origin == "cdn" and len(parts) == 2 and parts[0] == "cdn":
                return self._serve_blob(parts[1], body)
            if origin == "hub" and len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(f"{parts[0]}/{parts[1]}", "/".join(parts[4:]), body)
            if origin == "hub" and len(parts) >= 6 and parts[:2] == ["api", "models"] and parts[4] == "tree":
                return self._tree(f"{parts[2]}/{parts[3]}")
            self._send(404, {"X-Error-Code": "EntryNotFound"}, b"not found", body)

        def _resolve(self, repo: str, file: str, body: bool) -> None:
            if not any(r == repo for r, _ in state.files):
                return self._send(401, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
                                  b"", body)
            content = state.files.get((repo, file))
            if content is None:
                return self._send(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT}, b"", body)
            sha = hashlib.sha256(content).hexdigest()
            size = state.announce_size or len(content)
            self._send(302, {"Location": f"{state.cdn_url}/cdn/{sha}", "X-Repo-Commit": COMMIT,
                             "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": size, "ETag": '"pointer"',
                             "Content-Length": 0}, b"", body)

        def _serve_blob(self, sha: str, body: bool) -> None:
            content = state.by_sha(sha)
            if content is None:
                return self._send(404, {}, b"", body)
            start = 0
            rng = self.headers.get("Range")
            if rng:
                if state.refuse_ranges and body:
                    return self._send(503, {}, b"busy", body)
                start = int(rng.split("=")[1].split("-")[0])
                headers = {"Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}",
                           "Content-Length": len(content) - start, "Accept-Ranges": "bytes", "ETag": f'"{sha}"'}
                status = 206
            else:
                headers = {"Content-Length": len(content), "Accept-Ranges": "bytes", "ETag": f'"{sha}"'}
                status = 200
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.end_headers()
            if not body:
                return
            payload = content[start:]
            if state.damage_blobs:
                payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
            with state.lock:
                drop = state.drop_first_get and not rng
                if drop:
                    state.drop_first_get = False
            if drop:
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            step = max(1, len(payload) // CHUNKS)
            for i in range(0, len(payload), step):
                self.wfile.write(payload[i : i + step])
                self.wfile.flush()
                if state.throttle_s:
                    time.sleep(state.throttle_s)

        def _tree(self, repo: str) -> None:
            listing = [{"type": "file", "path": f, "size": len(c), "oid": hashlib.sha1(c).hexdigest()}
                       for (r, f), c in state.files.items() if r == repo]
            if not listing:
                return self._send(401, {"X-Error-Code": "RepoNotFound"}, b"")
            self._send(200, {"Content-Type": "application/json"}, json.dumps(listing).encode())

    return Handler


class FakeHub:
    """Two servers (hub and CDN origins) in daemon threads; use as a context manager."""

    def __init__(self):
        self.state = HubState()
        self._servers = [ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, o)) for o in ("hub", "cdn")]
        for s in self._servers:
            s.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        # the CDN must be another host name, as on the real hub: huggingface_hub follows redirects within one host
        self.state.cdn_url = f"http://localhost:{self._servers[1].server_address[1]}"

    def __enter__(self) -> "FakeHub":
        for s in self._servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()
