"""A tiny container program for fake-cluster tests: answers ``<MESSAGE>`` on ``$PORT``.

``CRASH=1`` makes it print a line and exit 1 at once (a crash-looping app).
"""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("MESSAGE", "hello").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    if os.environ.get("CRASH"):
        print("boom: this app crashed on purpose", flush=True)
        sys.exit(1)
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print(f"listening on {os.environ.get('PORT', '8080')}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
