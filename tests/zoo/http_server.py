"""A real HTTP server on the loopback interface for the zoo's download tests.

`ZooServer(files)` serves `{url path: bytes}` from a thread on 127.0.0.1 (a free port), with
HTTP Range requests, and misbehaves on request: `cut_once` (paths whose first full response
stops after half the bytes and closes the connection), `redirect_loop` (paths that redirect to
themselves), `delay` (seconds to sleep between 64 KiB chunks). Every request is recorded in
`requests` as (path, Range header or None). Stopped by `close()` or as a context manager; the
server thread is a daemon and every socket times out, so nothing outlives a test.
"""

import http.server
import re
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (the http.server name)
        server = self.server.zoo
        path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        with server.lock:
            server.requests.append((path, rng))
        if path in server.redirect_loop:
            self.send_response(302)
            self.send_header("Location", path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = server.files.get(path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if rng:
            match = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(match.group(1)) if match else len(body)
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        cut = None
        with server.lock:
            if path in server.cut_once and not rng:
                server.cut_once.discard(path)
                cut = len(payload) // 2
        sent = 0
        while sent < (len(payload) if cut is None else cut):
            end = min(sent + (1 << 16), len(payload) if cut is None else cut)
            self.wfile.write(payload[sent:end])
            sent = end
            if server.delay:
                time.sleep(server.delay)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)


class ZooServer:
    def __init__(self, files, *, cut_once=(), redirect_loop=(), delay=0.0):
        self.files = dict(files)
        self.cut_once = set(cut_once)
        self.redirect_loop = set(redirect_loop)
        self.delay = delay
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.zoo = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def gets(self, path):
        """The requests for `path`, as (path, range) pairs."""
        with self.lock:
            return [r for r in self.requests if r[0] == path]
