#!/usr/bin/python3
"""webhookd.py -- a webhook receiver for the alerting tests (stdlib only).

    webhookd.py PORT OUTFILE [MODE]

Listens on 127.0.0.1:PORT (HTTP/1.1, keep-alive).  Every POST is recorded as
one JSON line in OUTFILE: {"n", "path", "status", "headers", "body", "t"}.
MODE decides the answer:
    200    answer 200 {"ok":true}          (default)
    500    answer 500
    429    answer 429 with Retry-After: 1
    hang   read the request, never answer (until the client gives up)
    close  read the request, close the connection without an answer
POST /_mode with the new mode as the body changes it at run time (not recorded).
The sentinel line "ready" is printed on stdout once listening.
"""
import http.server
import json
import sys
import threading
import time

PORT = int(sys.argv[1])
OUT = sys.argv[2]
state = {"mode": sys.argv[3] if len(sys.argv) > 3 else "200", "n": 0}
lock = threading.Lock()
out = open(OUT, "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path == "/_mode":
            state["mode"] = body.decode().strip()
            self._answer(200, b"{}")
            return
        mode = state["mode"]
        status = {"200": 200, "500": 500, "429": 429}.get(mode, 0)
        with lock:
            state["n"] += 1
            rec = {"n": state["n"], "path": self.path, "status": status, "mode": mode,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": body.decode("utf-8", "replace"), "t": time.time()}
            out.write(json.dumps(rec) + "\n")
        if mode == "hang":
            time.sleep(3600)
            return
        if mode == "close":
            self.close_connection = True
            try:
                import socket
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if status == 200:
            self._answer(200, b'{"ok":true}')
        elif status == 429:
            self._answer(429, b"rate limited", {"Retry-After": "1"})
        else:
            self._answer(500, b"internal error")

    def _answer(self, code, body, extra=None):
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
