"""The sandbox's moto server: moto's own application, one request per connection.

Run as ``python -m iacdrift.sandbox.moto_server -p PORT [-H HOST]`` by
:data:`iacdrift.sandbox.server.MOTO` instead of ``python -m moto.server``.

Why not moto's own launcher: werkzeug serves it with HTTP/1.1 keep-alive. When the
server closes an idle connection that a client has just reused, the client's SDK
sees the connection drop after sending and retries a request the server may already
have carried out. For Terraform's DynamoDB state lock that is a conditional put made
twice (the second is refused, so the plan reports the state "locked" by its own
lock, and that lock is left behind) or an unlock made twice (the second is refused:
"Error releasing the state lock"). Seen with OpenTofu 1.6 under load. Answering with
HTTP/1.0 closes every connection after its response, so no client ever reuses one.
The application, its routes and its backends are moto's, unchanged.

One request at a time through the backends: moto's in-memory backends are not
thread-safe (getmoto/moto#372: a dict changed while another thread iterated it makes
a request fail with a 500). Under load (two test workers, several Terraform and
provider processes against one server) OpenTofu 1.6 now and then failed to read or
delete its DynamoDB lock item ("Error releasing the state lock: failed to retrieve
lock info: ... GetItem, https response error") and left the lock behind. Connections
are still accepted and requests (bodies included) read concurrently; only moto's
handling is serialized, and a request takes milliseconds.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class OneRequestPerConnection(MotoRequestHandler):
    """moto's request handler, speaking HTTP/1.0: the connection closes after each
    response (werkzeug keeps the protocol a handler sets itself)."""

    protocol_version = "HTTP/1.0"
    # A client that stops sending mid-request is dropped instead of holding a thread
    # (and, once its body is being read, nothing else) forever.
    timeout = 120


class Serialized:
    """A WSGI application that lets one request at a time into ``app`` (the whole
    response is produced under the lock, so no backend is touched concurrently)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # The body is read before the lock: a slow upload holds only its own thread.
        stream = environ.get("wsgi.input")
        if stream is not None:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > 0:
                environ["wsgi.input"] = io.BytesIO(stream.read(length))
            elif environ.get("wsgi.input_terminated"):
                environ["wsgi.input"] = io.BytesIO(stream.read())
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def _stop(signum: int, frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    app: Any = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(
        args.host,
        args.port,
        Serialized(app),
        threaded=True,
        request_handler=OneRequestPerConnection,
    )


if __name__ == "__main__":
    main()
