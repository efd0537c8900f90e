"""A local stand-in for Stripe's HTTP API (Checkout Sessions and refunds), so the official client makes
real HTTP requests in tests without the network. It records what it received, form-decoded."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class StripeDouble:
    def __init__(self):
        self.requests: list[dict] = []
        self._ids = itertools.count(1)
        self._by_idempotency_key: dict[str, dict] = {}
        self.completed_sessions: set[str] = set()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key", "")
                double.requests.append({"path": self.path, "form": form, "idempotency_key": key})
                if key and key in double._by_idempotency_key:
                    reply = double._by_idempotency_key[key]
                elif self.path == "/v1/checkout/sessions":
                    n = next(double._ids)
                    reply = {
                        "id": f"cs_test_{n}", "object": "checkout.session", "mode": form.get("mode"),
                        "url": f"https://checkout.stripe.test/c/pay/cs_test_{n}", "payment_status": "unpaid",
                        "client_reference_id": form.get("client_reference_id"),
                    }  # fmt: skip
                elif self.path.startswith("/v1/checkout/sessions/") and self.path.endswith("/expire"):
                    session_id = self.path.split("/")[4]
                    if session_id in double.completed_sessions:
                        data = json.dumps(
                            {"error": {"type": "invalid_request_error", "message": "completed"}}
                        )
                        self.send_response(400)
                        self.send_header("Content-Type", "application/json")
                        self.end_headers()
                        self.wfile.write(data.encode())
                        return
                    reply = {"id": session_id, "object": "checkout.session", "status": "expired"}
                elif self.path == "/v1/refunds":
                    n = next(double._ids)
                    reply = {
                        "id": f"re_test_{n}", "object": "refund", "amount": int(form.get("amount", 0)),
                        "currency": "jpy", "payment_intent": form.get("payment_intent"),
                        "status": "succeeded",
                    }  # fmt: skip
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                if key:
                    double._by_idempotency_key[key] = reply
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                """Quiet: the requests are recorded in `requests`, not printed."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
