"""``patron demo-data``: realistic generated guests and orders, through the same services as the API."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from patron import accounts, tables
from patron.auth.clients import DEFAULT_CHANNEL
from patron.auth.tokens import Principal
from patron.body import validate
from patron.customers import service as customers
from patron.customers.schemas import CustomerCreate
from patron.db import Database
from patron.errors import CustomerAlreadyExists
from patron.orders import service as orders
from patron.orders.schemas import OrderCreate

FIRST = [
    "Ana",
    "Bram",
    "Chloé",
    "Dries",
    "Emma",
    "Finn",
    "Giulia",
    "Hugo",
    "Inès",
    "Jonas",
    "Kaat",
    "Lars",
    "Marie",
    "Noah",
    "Olivia",
    "Pieter",
    "Rania",
    "Sofia",
    "Tom",
    "Zoë",
    "Ahmed",
    "Lucas",
    "Yara",
    "Mila",
]
LAST = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Martin",
    "Dupont",
    "El Amrani",
    "Nguyen",
    "Rossi",
    "Müller",
]
STREETS = ["Meir", "Kouter", "Grote Markt", "Rue Neuve", "Avenue Louise", "Veldstraat", "Bondgenotenlaan"]
CITIES = [
    ("Antwerpen", "2000", 51.2194, 4.4025),
    ("Gent", "9000", 51.0543, 3.7174),
    ("Bruxelles", "1000", 50.8503, 4.3517),
    ("Leuven", "3000", 50.8798, 4.7005),
]
CARS = [("volkswagen", "golf"), ("toyota", "yaris"), ("tesla", "model 3"), ("renault", "clio"), ("bmw", "i3")]
COLORS = ["black", "white", "grey", "blue", "red"]
ITEMS = ["PLU-MARGHERITA", "PLU-PEPPERONI", "PLU-TIRAMISU", "PLU-COLA", "PLU-CALZONE", "PLU-SALAD"]


def guest(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, postal, lat, lng = rng.choice(CITIES)
    make, model = rng.choice(CARS)
    local = (
        f"{first}.{last}".lower()
        .replace(" ", "")
        .replace("é", "e")
        .replace("ë", "e")
        .replace("è", "e")
        .replace("ü", "u")
    )
    return {
        "contact": {
            "email": f"{local}.{n}@example.com",
            "firstName": first,
            "lastName": last,
            "phone": f"+32 47{rng.randint(0, 9)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            "birthdate": f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        },
        "deliveryAddresses": [
            {
                "street": f"{rng.choice(STREETS)} {rng.randint(1, 200)}",
                "city": city,
                "postalCode": postal,
                "country": "BE",
                "coordinates": [round(lat + rng.uniform(-0.02, 0.02), 6), round(lng + rng.uniform(-0.02, 0.02), 6)],
            }
        ],
        "vehicles": [{"make": make, "model": model, "color": rng.choice(COLORS)}] if rng.random() < 0.3 else [],
        "favorites": [{"type": "item", "item": rng.choice(ITEMS)}],
    }


def order(rng: random.Random, profile_id: str, n: int, start: datetime) -> dict[str, Any]:
    moment = start + timedelta(minutes=rng.randint(0, 365 * 24 * 60), seconds=rng.random() * 60)
    return {
        "crmProfileId": profile_id,
        "orderId": f"demo-{profile_id}-{n}",
        "orderDisplayId": f"#{rng.randint(1000, 9999)}",
        "orderDate": moment.isoformat(),
        "orderType": rng.choice([1, 2, 2, 3, 4]),
        "itemQuantity": rng.randint(1, 6),
        "payment": {"amount": {"value": rng.randint(800, 6500), "currency": "EUR"}},
        "locationId": "demo-location-1",
    }


class NoSuchAccount(LookupError):
    """``--account`` names no account."""


_guests = tables.customers


async def fill(
    db: Database, *, account_id: str | None, customers: int, orders_per_customer: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    if account_id is None:
        async with db.write() as conn:
            account_id = (await accounts.create(conn, name="Demo restaurant", default_country="BE"))["accountId"]
    async with db.read() as conn:
        if not await accounts.existing(conn, [account_id]):
            raise NoSuchAccount(account_id)
        # Guests are numbered on from those already there, so filling an account again adds guests.
        number = (await conn.execute(select(func.count()).where(_guests.c.account_id == account_id))).scalar_one()
    principal = Principal("demo", frozenset(), frozenset({account_id}), DEFAULT_CHANNEL)
    start = datetime.now(UTC) - timedelta(days=365)
    created_customers = created_orders = 0
    batch = 200
    for first in range(0, customers, batch):
        async with db.write() as conn:
            for _ in range(first, min(first + batch, customers)):
                while True:
                    try:
                        body = validate(CustomerCreate, guest(rng, number))
                        profile = await customers_create(conn, principal, account_id, body)
                        break
                    except CustomerAlreadyExists:  # an email a guest of the account already has
                        pass
                    finally:
                        number += 1
                created_customers += 1
                for k in range(orders_per_customer):
                    created, _ = await orders.record(
                        conn,
                        account_id,
                        validate(OrderCreate, order(rng, profile, k, start)),
                        default_channel=DEFAULT_CHANNEL,
                    )
                    created_orders += created
    return {"accountId": account_id, "customers": created_customers, "orders": created_orders}


async def customers_create(conn: Any, principal: Principal, account_id: str, body: CustomerCreate) -> str:
    return (await customers.create(conn, principal, account_id, body)).id
