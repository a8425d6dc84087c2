"""The benchmark's guests and orders, built by Patron's own code.

Every profile goes through the API's validation (``CustomerCreate``) and ``new_profile``, every
order through ``OrderCreate`` and ``document_of``, so the rows are exactly what the API would have
stored; bench.databases only inserts them in bulk. Building runs in worker processes, one chunk
(a run of one account's guests and their orders) at a time."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from patron import demo, ids
from patron.auth.clients import DEFAULT_CHANNEL
from patron.body import validate
from patron.customers.schemas import CustomerCreate
from patron.customers.service import new_profile
from patron.orders.schemas import OrderCreate
from patron.orders.service import document_of

ACCOUNTS = 100
COUNTRY = "BE"
CHUNK_PROFILES = 5000
# A quarter of the guests order about four times as often as the rest (mean five orders each).
REGULARS, REGULAR_WEIGHT = 0.25, 4.0
_CONTEXT = {"default_country": COUNTRY}


# --- what a guest looks like ---------------------------------------------------------------


def address(rng: random.Random) -> dict[str, Any]:
    city, postal, lat, lng = rng.choice(demo.CITIES)
    return {
        "street": f"{rng.choice(demo.STREETS)} {rng.randint(1, 200)}",
        "city": city,
        "postalCode": postal,
        "country": COUNTRY,
        "coordinates": [round(lat + rng.uniform(-0.02, 0.02), 6), round(lng + rng.uniform(-0.02, 0.02), 6)],
    }


def guest_body(rng: random.Random, n: int) -> dict[str, Any]:
    """A create body: demo.guest's guest, with the extras real profiles collect over time."""
    body = demo.guest(rng, n)
    extra = rng.random()
    if extra < 0.35:
        body["deliveryAddresses"].append({**address(rng), "subpremise": f"{rng.randint(1, 6)}e verdieping"})
    if extra < 0.10:
        body["deliveryAddresses"].append(address(rng))
    favorites = rng.sample(demo.ITEMS, rng.randint(1, 4))
    body["favorites"] = [{"type": "item", "item": item} for item in favorites]
    if rng.random() < 0.3:
        body["favorites"].append({"type": "store", "storeId": f"store-{rng.randint(1, 40)}", "label": "usual"})
    if rng.random() < 0.2:
        body["billingAddress"] = address(rng)
    if rng.random() < 0.3:
        body["externalId"] = f"pos-{rng.randint(10**6, 10**7 - 1)}"
    if rng.random() < 0.15:
        body["loyaltyProviderId"] = f"loyalty-{rng.randint(10**5, 10**6 - 1)}"
    if rng.random() < 0.5:
        body["metadata"] = {
            "marketingOptIn": rng.random() < 0.4,
            "source": rng.choice(["web", "app", "kiosk", "phone"]),
        }
    return body


def contact_patch(rng: random.Random) -> dict[str, Any]:
    guest = demo.guest(rng, 0)["contact"]
    return {"contact": {"firstName": guest["firstName"], "lastName": guest["lastName"], "phone": guest["phone"]}}


def addresses_patch(rng: random.Random) -> list[dict[str, Any]]:
    return [address(rng) for _ in range(rng.randint(1, 2))]


# --- building documents (in worker processes) ----------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """A run of one account's guests and the orders they placed."""

    account_id: str
    first: int  # the guests' global numbers, which make their emails unique
    profiles: int
    orders: int
    seed: int
    sample_rate: float
    start: datetime


@dataclass
class Built:
    customers: list[tuple[Any, ...]]
    orders: list[tuple[Any, ...]]
    sample: list[tuple[str, str, str]]  # (account id, profile id, email)


def build(chunk: Chunk) -> Built:
    rng = random.Random(chunk.seed)
    customers: list[tuple[Any, ...]] = []
    sample: list[tuple[str, str, str]] = []
    for n in range(chunk.first, chunk.first + chunk.profiles):
        body = validate(CustomerCreate, guest_body(rng, n), context=_CONTEXT)
        profile, email_key, phone = new_profile(DEFAULT_CHANNEL, chunk.account_id, body)
        customers.append((chunk.account_id, profile.id, email_key, phone, profile.version, profile.document))
        if rng.random() < chunk.sample_rate:
            assert body.contact is not None and body.contact.email is not None
            sample.append((chunk.account_id, profile.id, body.contact.email))
    owners = [row[1] for row in customers]
    weights = [REGULAR_WEIGHT if rng.random() < REGULARS else 1.0 for _ in owners]
    orders: list[tuple[Any, ...]] = []
    for k, owner in enumerate(rng.choices(owners, weights, k=chunk.orders) if owners else []):
        body = validate(OrderCreate, demo.order(rng, owner, k, chunk.start))
        document = document_of(body, account_id=chunk.account_id, default_channel=DEFAULT_CHANNEL)
        # As orders.service.record stores it: the document with its new CRM order id.
        crm_order_id = ids.new_id()
        text = orjson.dumps({**document, "id": crm_order_id}).decode()
        orders.append((chunk.account_id, crm_order_id, body.crmProfileId, body.orderId, body.orderDate, text))
    return Built(customers, orders, sample)


def account_sizes(profiles: int, accounts: int) -> list[int]:
    """Guests per account: a few chains and many single restaurants (weights 1/rank^0.7)."""
    weights = [1 / (rank + 1) ** 0.7 for rank in range(accounts)]
    total = sum(weights)
    cumulative, sizes, before = 0.0, [], 0
    for weight in weights:
        cumulative += weight
        upto = round(profiles * cumulative / total)
        sizes.append(upto - before)
        before = upto
    return sizes


def plan(account_ids: list[str], profiles: int, orders: int, *, seed: int, sample: int) -> list[Chunk]:
    start = datetime.now(UTC) - timedelta(days=365)
    rate = min(1.0, sample / profiles) if profiles else 0.0
    chunks, first = [], 0
    for account_id, size in zip(account_ids, account_sizes(profiles, len(account_ids)), strict=True):
        for offset in range(0, size, CHUNK_PROFILES):
            count = min(CHUNK_PROFILES, size - offset)
            # Orders follow guests, rounded so the total is exact.
            placed = round((first + count) * orders / profiles) - round(first * orders / profiles)
            chunks.append(Chunk(account_id, first, count, placed, seed * 1_000_003 + first, rate, start))
            first += count
    return chunks
