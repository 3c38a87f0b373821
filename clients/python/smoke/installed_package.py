"""Smoke test of the built wheel, run by `make test-packages` with a scratch venv's Python.

Runs from this folder, so `log_collector` can only come from the installed wheel. Sends one
record to a throwaway HTTP server on 127.0.0.1 and checks what arrived.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from tempfile import mkdtemp

received: list[dict] = []


class Ingest(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        logs = json.loads(body)["logs"]
        received.extend(logs)
        answer = json.dumps({"accepted": len(logs), "rejected": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    import log_collector
    from log_collector import LogCollector, LoglensProcessor, loglens_sink

    location = Path(log_collector.__file__).resolve()
    assert "site-packages" in location.parts, f"imported from {location}, not from the installed wheel"
    assert (location.parent / "py.typed").exists(), "py.typed is missing from the wheel"
    server = HTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    collector = LogCollector(url, "smoke", spool_dir=mkdtemp(), register_atexit=False)
    collector.info("from the wheel", order_id="o-1")
    LoglensProcessor(collector)(None, "warning", {"event": "from structlog's chain", "level": "warning"})
    assert callable(loglens_sink(collector))
    assert collector.close(timeout=10)
    server.shutdown()
    expected = [("INFO", "from the wheel"), ("WARN", "from structlog's chain")]
    assert [(r["level"], r["message"]) for r in received] == expected
    print(f"wheel smoke test: log_collector {log_collector.__version__} from {location.parent}: 2 records delivered")


if __name__ == "__main__":
    sys.exit(main())
