"""A small stand-in for Stripe's API, for the real SDK to talk to over HTTP in the tests.

It implements just what Tecopio calls: Checkout Sessions (create, retrieve with the
PaymentIntent expanded), PaymentIntents (retrieve), refunds (create, list), disputes
(list), Connect accounts and their onboarding links, transfers (create, retrieve) and
their reversals; with Stripe's idempotency (the same key and parameters get the
saved response, marked ``Idempotent-Replayed``; the same key with other parameters
an ``idempotency_error``), faults on demand (500, a time-out, a declined card,
insufficient balance), and the other side of a payment (the company paying, an
asynchronous payment succeeding or failing, a refund made on Stripe's dashboard, a
dispute) each emitting the event Stripe would. ``signed`` turns an event into the
body and ``Stripe-Signature`` header Stripe would send, at any moment.

Every request is kept (``requests``) so that tests can assert what the SDK sent.
"""

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SECRET_KEY = "sk_test_tecopio_standin"
WEBHOOK_SECRET = "whsec_tecopio_standin"


@dataclass
class Seen:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    authorization: str | None
    replayed: bool = False


def _nested(pairs) -> dict:
    """``a[b][0][c]=v`` form fields, as Stripe's SDK encodes them, into nested values."""
    result: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        target = result
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value

    def listify(value):
        if isinstance(value, dict):
            if value and all(k.isdigit() for k in value):
                return [listify(value[k]) for k in sorted(value, key=int)]
            return {k: listify(v) for k, v in value.items()}
        return value

    return listify(result)


@dataclass
class Fault:
    kind: str  # "500", "timeout", "card_declined", "balance_insufficient"
    path: str = ""  # only requests whose path starts with this
    method: str = ""  # and, if given, only requests of this method


@dataclass
class StandInStripe:
    webhook_secret: str = WEBHOOK_SECRET
    timeout_seconds: float = 1.5
    sessions: dict = field(default_factory=dict)
    intents: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    disputes: dict = field(default_factory=dict)
    accounts: dict = field(default_factory=dict)
    transfers: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    faults: deque = field(default_factory=deque)
    base_url: str = ""

    def __post_init__(self):
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        self.saved: dict[str, tuple[str, str, int, dict]] = {}

    # Set-up ----------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            for store in (
                self.sessions,
                self.intents,
                self.refunds,
                self.disputes,
                self.accounts,
                self.transfers,
                self.saved,
            ):
                store.clear()
            self.events.clear()
            self.requests.clear()
            self.faults.clear()

    def fail_next(self, kind: str, *, times: int = 1, path: str = "", method: str = "") -> None:
        for _ in range(times):
            self.faults.append(Fault(kind, path, method))

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self.ids):06d}"

    # The HTTP side ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.method == "POST":
            params = _nested(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        else:
            params = _nested(parse_qsl(request.query_string.decode(), keep_blank_values=True))
        key = request.headers.get("Idempotency-Key")
        seen = Seen(request.method, request.path, params, key, request.headers.get("Authorization"))
        with self.lock:
            self.requests.append(seen)
            fault = self._fault_for(request.method, request.path)
        if fault is not None and fault.kind == "timeout-before":
            time.sleep(self.timeout_seconds)
            return self._error(500, "api_error", "timed out")
        if fault is not None and fault.kind == "500":
            # As Stripe does, the answer is kept for the key: the same key gets it again.
            body = {"error": {"type": "api_error", "message": "Something went wrong."}}
            if key is not None and request.method == "POST":
                with self.lock:
                    fingerprint = json.dumps([request.path, params], sort_keys=True)
                    self.saved.setdefault(key, (fingerprint, request.method, 500, body))
            return self._json(500, body)
        if request.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return self._error(401, "invalid_request_error", "Invalid API Key provided.")
        fingerprint = json.dumps([request.path, params], sort_keys=True)
        with self.lock:
            if key is not None and key in self.saved:
                saved_fingerprint, _method, status, body = self.saved[key]
                if saved_fingerprint != fingerprint:
                    return self._error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                seen.replayed = True
                response = self._json(status, body)
                response.headers["Idempotent-Replayed"] = "true"
                return response
            if fault is not None and fault.kind in ("card_declined", "balance_insufficient"):
                status, body = self._fault_body(fault.kind)
            else:
                status, body = self._route(request.method, request.path, params)
            if key is not None and request.method == "POST" and status < 500:
                self.saved[key] = (fingerprint, request.method, status, body)
        if fault is not None and fault.kind == "timeout":
            time.sleep(self.timeout_seconds)  # done, but the answer comes too late
        return self._json(status, body)

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in list(self.faults):
            if path.startswith(fault.path) and fault.method in ("", method):
                self.faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_body(kind: str):
        if kind == "card_declined":
            return 402, {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "message": "Your card was declined.",
                }
            }
        return 400, {
            "error": {
                "type": "invalid_request_error",
                "code": "balance_insufficient",
                "message": "You have insufficient funds in your Stripe account.",
            }
        }

    @staticmethod
    def _json(status: int, body: dict) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _error(self, status: int, kind: str, message: str) -> Response:
        return self._json(status, {"error": {"type": kind, "message": message}})

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        routes = [
            ("POST", r"/v1/checkout/sessions", self._create_session),
            ("GET", r"/v1/checkout/sessions/(?P<id>[\w]+)", self._get_session),
            ("GET", r"/v1/payment_intents/(?P<id>[\w]+)", self._get_intent),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds", self._list_refunds),
            ("GET", r"/v1/disputes", self._list_disputes),
            ("POST", r"/v1/accounts", self._create_account),
            ("GET", r"/v1/accounts/(?P<id>[\w]+)", self._get_account),
            ("POST", r"/v1/account_links", self._create_link),
            ("POST", r"/v1/transfers", self._create_transfer),
            ("GET", r"/v1/transfers", self._list_transfers),
            ("GET", r"/v1/transfers/(?P<id>[\w]+)", self._get_transfer),
            ("POST", r"/v1/transfers/(?P<id>[\w]+)/reversals", self._create_reversal),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(params, **match.groupdict())
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {path}"}}

    @staticmethod
    def _missing(name: str):
        return 400, {
            "error": {
                "type": "invalid_request_error",
                "param": name,
                "message": f"Missing required param: {name}.",
            }
        }

    def _create_session(self, params):
        for name in ("mode", "line_items", "success_url", "cancel_url"):
            if name not in params:
                return self._missing(name)
        items = params["line_items"]
        price = items[0]["price_data"]
        amount = int(price["unit_amount"]) * int(items[0].get("quantity", 1))
        session_id = self._id("cs")
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": price["currency"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"{self.base_url}/pay/{session_id}",
            "payment_intent": None,
            "_intent_metadata": params.get("payment_intent_data", {}).get("metadata", {}),
            "livemode": False,
        }
        return 200, self._session_view(session_id, expand=False)

    def _session_view(self, session_id: str, *, expand: bool) -> dict:
        found = {k: v for k, v in self.sessions[session_id].items() if not k.startswith("_")}
        if expand and found["payment_intent"]:
            found["payment_intent"] = dict(self.intents[found["payment_intent"]])
        return found

    def _get_session(self, params, id):
        if id not in self.sessions:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        return 200, self._session_view(id, expand="payment_intent" in params.get("expand", []))

    def _get_intent(self, params, id):
        if id not in self.intents:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        return 200, dict(self.intents[id])

    def _refundable(self, intent_id: str) -> int:
        intent = self.intents[intent_id]
        taken = sum(
            r["amount"]
            for r in self.refunds.values()
            if r["payment_intent"] == intent_id and r["status"] in ("pending", "succeeded")
        )
        return intent["amount_received"] - taken

    def _create_refund(self, params):
        intent_id = params.get("payment_intent")
        if intent_id not in self.intents:
            return self._missing("payment_intent")
        if any(
            d["payment_intent"] == intent_id and d["status"] in ("needs_response", "under_review")
            for d in self.disputes.values()
        ):
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "charge_disputed",
                    "message": "This charge has a dispute open: it cannot be refunded.",
                }
            }
        amount = int(params.get("amount", self._refundable(intent_id)))
        if amount <= 0 or amount > self._refundable(intent_id):
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "amount_too_large",
                    "message": "Refund amount is greater than the unrefunded amount.",
                }
            }
        refund = self._new_refund(intent_id, amount, params.get("metadata", {}))
        return 200, dict(refund)

    def _list(self, store: dict, params) -> tuple[int, dict]:
        rows = [
            dict(r) for r in store.values() if r["payment_intent"] == params.get("payment_intent")
        ]
        return 200, {"object": "list", "data": rows, "has_more": False, "url": "/v1/list"}

    def _list_refunds(self, params):
        return self._list(self.refunds, params)

    def _list_disputes(self, params):
        return self._list(self.disputes, params)

    def _create_account(self, params):
        if params.get("type") != "express":
            return self._missing("type")
        account_id = self._id("acct")
        self.accounts[account_id] = {
            "id": account_id,
            "object": "account",
            "type": "express",
            "metadata": params.get("metadata", {}),
            "capabilities": {"transfers": "inactive"},
            "details_submitted": False,
            "payouts_enabled": False,
        }
        return 200, dict(self.accounts[account_id])

    def _get_account(self, params, id):
        if id not in self.accounts:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        return 200, dict(self.accounts[id])

    def _create_link(self, params):
        for name in ("account", "type", "return_url", "refresh_url"):
            if name not in params:
                return self._missing(name)
        return 200, {
            "object": "account_link",
            "url": f"{self.base_url}/onboarding/{params['account']}",
            "expires_at": int(time.time()) + 300,
        }

    def _create_transfer(self, params):
        for name in ("amount", "currency", "destination"):
            if name not in params:
                return self._missing(name)
        found = self.accounts.get(params["destination"])
        if found is None:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such destination: '{params['destination']}'",
                }
            }
        if found["capabilities"]["transfers"] != "active":
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "insufficient_capabilities_for_transfer",
                    "message": "The destination account cannot receive transfers.",
                }
            }
        transfer_id = self._id("tr")
        self.transfers[transfer_id] = {
            "id": transfer_id,
            "object": "transfer",
            "amount": int(params["amount"]),
            "amount_reversed": 0,
            "currency": params["currency"],
            "destination": params["destination"],
            "transfer_group": params.get("transfer_group"),
            "metadata": params.get("metadata", {}),
            "reversed": False,
        }
        self._emit("transfer.created", self.transfers[transfer_id])
        return 200, dict(self.transfers[transfer_id])

    def _list_transfers(self, params):
        rows = [
            dict(t)
            for t in self.transfers.values()
            if t["transfer_group"] == params.get("transfer_group")
        ]
        return 200, {"object": "list", "data": rows, "has_more": False, "url": "/v1/transfers"}

    def _get_transfer(self, params, id):
        if id not in self.transfers:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        return 200, dict(self.transfers[id])

    def _create_reversal(self, params, id):
        transfer = self.transfers.get(id)
        if transfer is None:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        amount = int(params.get("amount", transfer["amount"] - transfer["amount_reversed"]))
        if amount <= 0 or amount > transfer["amount"] - transfer["amount_reversed"]:
            return 400, {"error": {"type": "invalid_request_error", "code": "amount_too_large"}}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        self._emit("transfer.reversed", transfer)
        return 200, {"id": self._id("trr"), "object": "transfer_reversal", "amount": amount}

    # The other side: what the company, its bank and Stripe's dashboard do -------------------

    def finish_onboarding(self, account_id: str) -> None:
        """The member gave Stripe their bank details: transfers can reach them."""
        with self.lock:
            found = self.accounts[account_id]
            found.update(
                capabilities={"transfers": "active"}, details_submitted=True, payouts_enabled=True
            )

    def reverse_transfer(self, transfer_id: str, amount: int | None = None) -> dict:
        """The platform takes a transfer back (all of it, or ``amount``) on the dashboard."""
        with self.lock:
            self._create_reversal({} if amount is None else {"amount": amount}, transfer_id)
            return self.events[-1]

    def _emit(self, kind: str, thing: dict) -> dict:
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": "2025-01-27",
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "data": {"object": {k: v for k, v in thing.items() if not k.startswith("_")}},
        }
        self.events.append(event)
        return event

    def _intent_for(self, session_id: str, status: str) -> dict:
        found = self.sessions[session_id]
        if found["payment_intent"] is None:
            intent_id = self._id("pi")
            found["payment_intent"] = intent_id
            self.intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": found["amount_total"],
                "amount_received": 0,
                "currency": found["currency"],
                "metadata": found["_intent_metadata"],
                "status": status,
                "latest_charge": self._id("ch"),
            }
        intent = self.intents[found["payment_intent"]]
        intent["status"] = status
        if status == "succeeded":
            intent["amount_received"] = intent["amount"]
        return intent

    def pay(self, session_id: str, *, asynchronous: bool = False) -> dict:
        """The company pays on Stripe's page: by card (paid at once), or by a bank debit
        that takes days (``asynchronous``: complete, still unpaid)."""
        with self.lock:
            found = self.sessions[session_id]
            found["status"] = "complete"
            found["customer_details"] = {"email": "accounts@company.example", "name": "A. Payer"}
            self._intent_for(session_id, "processing" if asynchronous else "succeeded")
            found["payment_status"] = "unpaid" if asynchronous else "paid"
            return self._emit(
                "checkout.session.completed", self._session_view(session_id, expand=False)
            )

    def settle(self, session_id: str, *, succeeded: bool = True) -> dict:
        """The bank debit of an asynchronous payment succeeds, or fails."""
        with self.lock:
            found = self.sessions[session_id]
            if succeeded:
                self._intent_for(session_id, "succeeded")
                found["payment_status"] = "paid"
                kind = "checkout.session.async_payment_succeeded"
            else:
                self._intent_for(session_id, "requires_payment_method")
                kind = "checkout.session.async_payment_failed"
            return self._emit(kind, self._session_view(session_id, expand=False))

    def expire(self, session_id: str) -> dict:
        with self.lock:
            self.sessions[session_id]["status"] = "expired"
            return self._emit(
                "checkout.session.expired", self._session_view(session_id, expand=False)
            )

    def _new_refund(self, intent_id: str, amount: int, metadata: dict, status: str = "succeeded"):
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "currency": self.intents[intent_id]["currency"],
            "payment_intent": intent_id,
            "charge": self.intents[intent_id]["latest_charge"],
            "metadata": metadata,
            "status": status,
        }
        self.refunds[refund["id"]] = refund
        self._emit("refund.created", refund)
        self._emit("charge.refunded", self._charge(intent_id))
        return refund

    def _charge(self, intent_id: str) -> dict:
        intent = self.intents[intent_id]
        refunded = intent["amount_received"] - self._refundable(intent_id)
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": refunded,
            "refunded": refunded == intent["amount"],
            "currency": intent["currency"],
            "payment_intent": intent_id,
            "disputed": any(d["payment_intent"] == intent_id for d in self.disputes.values()),
        }

    def refund(self, session_id: str, amount: int | None = None, *, status="succeeded") -> dict:
        """A refund made on Stripe's dashboard; returns the refund."""
        with self.lock:
            intent_id = self.sessions[session_id]["payment_intent"]
            amount = self._refundable(intent_id) if amount is None else amount
            return self._new_refund(intent_id, amount, {}, status)

    def fail_refund(self, refund_id: str) -> dict:
        with self.lock:
            refund = self.refunds[refund_id]
            refund["status"] = "failed"
            return self._emit("refund.failed", refund)

    def dispute(self, session_id: str, amount: int | None = None) -> dict:
        """The company's bank disputes the payment: the money is withdrawn."""
        with self.lock:
            intent_id = self.sessions[session_id]["payment_intent"]
            intent = self.intents[intent_id]
            found = {
                "id": self._id("dp"),
                "object": "dispute",
                "amount": intent["amount"] if amount is None else amount,
                "currency": intent["currency"],
                "charge": intent["latest_charge"],
                "payment_intent": intent_id,
                "status": "needs_response",
                "reason": "fraudulent",
            }
            self.disputes[found["id"]] = found
            self._emit("charge.dispute.created", found)
            return found

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict:
        with self.lock:
            found = self.disputes[dispute_id]
            found["status"] = "won" if won else "lost"
            return self._emit("charge.dispute.closed", found)

    def other_event(self, kind: str = "customer.created") -> dict:
        with self.lock:
            return self._emit(kind, {"id": self._id("cus"), "object": "customer"})

    # Delivering events -----------------------------------------------------------------------

    def signed(self, event: dict, *, at: int | None = None, secret: str | None = None):
        """The body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        body = json.dumps(event)
        at = int(time.time()) if at is None else at
        digest = hmac.new(
            (secret or self.webhook_secret).encode(), f"{at}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        return body, f"t={at},v1={digest}"

    def deliveries(self, events: list[dict], rng, *, most: int = 5) -> list[dict]:
        """Each event one to ``most`` times, all in a shuffled order."""
        every = [event for event in events for _ in range(rng.randint(1, most))]
        rng.shuffle(every)
        return every


class Served:
    """The stand-in, served on a free port of 127.0.0.1 in a thread of the test run."""

    def __init__(self, standin: StandInStripe):
        self.standin = standin
        self.server = make_server("127.0.0.1", 0, standin, threaded=True)
        standin.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInStripe:
        self.thread.start()
        return self.standin

    def __exit__(self, *exc):
        self.server.shutdown()
