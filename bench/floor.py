"""The floor: the least any Python server on this stack can do per request.

A minimal Starlette app on the same uvicorn as ``patron serve`` (uvloop, httptools, one worker)
that answers every request with one constant 1.5 KB JSON profile from memory. Patron's requests
per second divided by the floor's says how much of the budget Patron's own work takes."""

from __future__ import annotations

import argparse
import random

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.dataset import address, guest_body
from patron.body import validate
from patron.customers.schemas import CustomerCreate
from patron.customers.service import new_profile


def profile_document(size: int = 1536) -> bytes:
    """A real profile (built by Patron), its metadata padded to ``size`` bytes."""
    rng = random.Random(7)
    body = guest_body(rng, 1)
    body["deliveryAddresses"].append(address(rng))
    body["metadata"] = {"note": ""}
    document = orjson.loads(new_profile(10000, "0" * 24, validate(CustomerCreate, body))[0].document)
    document["metadata"]["note"] = "x" * max(0, size - len(orjson.dumps(document)))
    return orjson.dumps(document)


PROFILE = profile_document()


async def answer(request: Request) -> Response:
    return Response(PROFILE, media_type="application/json")


app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST", "PATCH"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
