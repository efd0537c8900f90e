"""A local stand-in for Stripe's HTTP API (Checkout Sessions and refunds), so the official client makes
real HTTP requests in tests without the network. It records what it received, form-decoded.

It answers the way Stripe does where our code depends on it:
- an Idempotency-Key seen before gets the first answer again (errors included);
- refunds are tracked per payment intent: a refund of a payment already refunded in full is refused with
  HTTP 400 `charge_already_refunded`, one larger than what is left with `amount_too_large`;
- `GET /v1/refunds?payment_intent=…` lists the payment's refunds (newest first, with their metadata);
- Checkout Sessions can be retrieved, completed (`complete_session`) and expired.

Tests reach into it: `add_payment` (a paid payment intent of an amount), `refund_in_dashboard` (a refund
made by hand in Stripe's dashboard), and hooks run in the server's thread while a refund request is in
flight: `before_refund(form)` before Stripe makes it, `after_refund(form, reply)` after it was made and
before the answer is sent."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse


def _metadata(form: dict) -> dict:
    return {key[len("metadata[") : -1]: value for key, value in form.items() if key.startswith("metadata[")}


class StripeDouble:
    def __init__(self):
        self.requests: list[dict] = []
        self._ids = itertools.count(1)
        self._by_idempotency_key: dict[str, tuple[int, dict]] = {}
        self._lock = threading.Lock()
        self.completed_sessions: set[str] = set()
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}  # made by subscription-mode sessions
        self.payments: dict[str, int] = {}  # payment intent → amount charged
        self.refunds: list[dict] = []  # every refund made, oldest first
        self.before_refund: Callable[[dict], None] | None = None
        self.after_refund: Callable[[dict, dict], None] | None = None
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, reply: dict) -> None:
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                query = dict(parse_qsl(url.query))
                double.requests.append(
                    {"method": "GET", "path": url.path, "form": query, "idempotency_key": ""}
                )
                if url.path == "/v1/refunds":
                    with double._lock:
                        found = [
                            each
                            for each in reversed(double.refunds)
                            if not query.get("payment_intent")
                            or each["payment_intent"] == query["payment_intent"]
                        ]
                    self._reply(
                        200, {"object": "list", "url": "/v1/refunds", "has_more": False, "data": found}
                    )
                elif url.path.startswith("/v1/subscriptions/") and url.path.count("/") == 3:
                    subscription = double.subscriptions.get(url.path.split("/")[3])
                    if subscription is None:
                        self._reply(
                            404,
                            {"error": {"type": "invalid_request_error", "message": "No such subscription"}},
                        )
                    else:
                        self._reply(200, subscription)
                elif url.path.startswith("/v1/checkout/sessions/") and url.path.count("/") == 4:
                    session = double.sessions.get(url.path.split("/")[4])
                    if session is None:
                        self._reply(
                            404, {"error": {"type": "invalid_request_error", "message": "No such session"}}
                        )
                    else:
                        self._reply(200, session)
                else:
                    self._reply(404, {"error": {"type": "invalid_request_error", "message": "Unknown path"}})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                form = dict(parse_qsl(body, keep_blank_values=True))
                key = self.headers.get("Idempotency-Key", "")
                double.requests.append(
                    {"method": "POST", "path": self.path, "form": form, "idempotency_key": key}
                )
                if key and key in double._by_idempotency_key:
                    self._reply(*double._by_idempotency_key[key])
                    return
                status, reply = 200, None
                if self.path == "/v1/checkout/sessions":
                    n = next(double._ids)
                    reply = {
                        "id": f"cs_test_{n}",
                        "object": "checkout.session",
                        "mode": form.get("mode"),
                        "url": f"https://checkout.stripe.test/c/pay/cs_test_{n}",
                        "payment_status": "unpaid",
                        "status": "open",
                        "client_reference_id": form.get("client_reference_id"),
                        "metadata": _metadata(form),
                        "amount_total": _amount_total(form),
                        "payment_intent": None,
                        "subscription": None,
                    }
                    if form.get("mode") == "subscription":
                        reply["subscription"] = double._subscription_create(form)
                    double.sessions[reply["id"]] = reply
                elif self.path == "/v1/prices":
                    reply = {
                        "id": f"price_test_{next(double._ids)}",
                        "object": "price",
                        "unit_amount": int(form.get("unit_amount", 0)),
                        "currency": form.get("currency"),
                        "product": f"prod_test_{next(double._ids)}",
                    }
                elif self.path.startswith("/v1/subscriptions/") and self.path.count("/") == 3:
                    subscription = double.subscriptions.get(self.path.split("/")[3])
                    if subscription is None:
                        status, reply = (
                            404,
                            {"error": {"type": "invalid_request_error", "message": "No such subscription"}},
                        )
                    else:
                        double._subscription_update(subscription, form)
                        reply = subscription
                elif self.path.startswith("/v1/checkout/sessions/") and self.path.endswith("/expire"):
                    session_id = self.path.split("/")[4]
                    if session_id in double.completed_sessions:
                        status, reply = (
                            400,
                            {"error": {"type": "invalid_request_error", "message": "completed"}},
                        )
                    else:
                        reply = {"id": session_id, "object": "checkout.session", "status": "expired"}
                        if session_id in double.sessions:
                            double.sessions[session_id]["status"] = "expired"
                elif self.path == "/v1/refunds":
                    if double.before_refund is not None:
                        double.before_refund(form)
                    status, reply = double._refund(
                        payment_intent=form.get("payment_intent") or "",
                        amount=int(form.get("amount", 0)),
                        metadata=_metadata(form),
                    )
                    if status == 200 and double.after_refund is not None:
                        double.after_refund(form, reply)
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                if key:
                    double._by_idempotency_key[key] = (status, reply)
                self._reply(status, reply)

            def log_message(self, *args):
                """Quiet: the requests are recorded in `requests`, not printed."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- what tests set up or read ------------------------------------------------------------------

    def add_payment(self, payment_intent: str, amount: int) -> None:
        """A payment intent that was charged `amount` yen (its refunds are then limited to that)."""
        self.payments[payment_intent] = amount

    def refund_in_dashboard(self, payment_intent: str, amount: int) -> dict:
        """Staff refunded the payment by hand in Stripe's dashboard (no metadata of ours)."""
        status, reply = self._refund(payment_intent=payment_intent, amount=amount, metadata={})
        assert status == 200, reply
        return reply

    def complete_session(self, session_id: str, *, payment_intent: str) -> None:
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid", payment_intent=payment_intent)
        self.completed_sessions.add(session_id)
        self.add_payment(payment_intent, session["amount_total"])

    def add_subscription(self, subscription_id: str, *, unit_amount: int) -> dict:
        """A live subscription of one monthly item (made before the test, by an earlier checkout)."""
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "status": "active",
            "cancel_at_period_end": False,
            "metadata": {},
            "items": {
                "object": "list",
                "data": [
                    {"id": f"si_{subscription_id}", "price": {"unit_amount": unit_amount}, "quantity": 1}
                ],
            },
        }
        self.subscriptions[subscription_id] = subscription
        return subscription

    def _subscription_create(self, form: dict) -> str:
        """A subscription for a subscription-mode session (Stripe makes it when the session completes; the
        double makes it at once so tests can read it): its recurring items and subscription_data."""
        n = next(self._ids)
        items, index = [], 0
        while f"line_items[{index}][quantity]" in form:
            if f"line_items[{index}][price_data][recurring][interval]" in form:
                items.append(
                    {
                        "id": f"si_test_{n}_{index}",
                        "price": {"unit_amount": int(form[f"line_items[{index}][price_data][unit_amount]"])},
                        "quantity": int(form[f"line_items[{index}][quantity]"]),
                    }
                )
            index += 1
        subscription = {
            "id": f"sub_test_{n}",
            "object": "subscription",
            "status": "active",
            "cancel_at_period_end": False,
            "billing_cycle_anchor": int(form.get("subscription_data[billing_cycle_anchor]") or 0),
            "metadata": {
                key[len("subscription_data[metadata][") : -1]: value
                for key, value in form.items()
                if key.startswith("subscription_data[metadata][")
            },
            "items": {"object": "list", "data": items},
        }
        self.subscriptions[subscription["id"]] = subscription
        return subscription["id"]

    def _subscription_update(self, subscription: dict, form: dict) -> None:
        if form.get("cancel_at_period_end") == "true":
            subscription["cancel_at_period_end"] = True
        if "items[0][price]" in form:
            item = next(i for i in subscription["items"]["data"] if i["id"] == form["items[0][id]"])
            item["price"] = {"id": form["items[0][price]"]}
        subscription["metadata"].update(_metadata(form))

    def refunded(self, payment_intent: str) -> int:
        return sum(each["amount"] for each in self.refunds if each["payment_intent"] == payment_intent)

    def refund_requests(self) -> list[dict]:
        return [each for each in self.requests if each["method"] == "POST" and each["path"] == "/v1/refunds"]

    # --- Stripe's rules -----------------------------------------------------------------------------

    def _refund(self, *, payment_intent: str, amount: int, metadata: dict) -> tuple[int, dict]:
        with self._lock:
            charged = self.payments.get(payment_intent)
            if charged is not None:
                left = charged - self.refunded(payment_intent)
                if left <= 0:
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "charge_already_refunded",
                            "message": f"Charge ch_{payment_intent} has already been refunded.",
                        }
                    }
                if amount > left:
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "amount_too_large",
                            "message": f"Refund amount ({amount}) is greater than unrefunded amount ({left})",
                        }
                    }
            refund = {
                "id": f"re_test_{next(self._ids)}",
                "object": "refund",
                "amount": amount or (charged or 0),
                "currency": "jpy",
                "payment_intent": payment_intent,
                "status": "succeeded",
                "metadata": metadata,
                "charge": f"ch_{payment_intent}",
            }
            self.refunds.append(refund)
            return 200, refund

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _amount_total(form: dict) -> int:
    """What the first payment charges. Anchored at a future date without proration, a subscription's
    first invoice holds only the one-time items (its recurring items start at the anchor)."""
    anchored = bool(form.get("subscription_data[billing_cycle_anchor]")) and (
        form.get("subscription_data[proration_behavior]") == "none"
    )
    total, n = 0, 0
    while f"line_items[{n}][quantity]" in form:
        if anchored and f"line_items[{n}][price_data][recurring][interval]" in form:
            n += 1
            continue
        unit = int(form.get(f"line_items[{n}][price_data][unit_amount]", 0))
        total += unit * int(form[f"line_items[{n}][quantity]"])
        n += 1
    return total
