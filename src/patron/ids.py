"""ObjectId-style identifiers: 4-byte seconds, 5 random bytes, 3-byte counter, as 24 hex."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

_ID = re.compile(r"[0-9a-f]{24}")

_lock = threading.Lock()
_pid = os.getpid()
_random = os.urandom(5)
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))


def new_id() -> str:
    global _pid, _random
    with _lock:
        if os.getpid() != _pid:  # a forked worker must not share its parent's random part
            _pid, _random = os.getpid(), os.urandom(5)
        count = next(_counter) & 0xFFFFFF
    seconds = int(time.time()) & 0xFFFFFFFF
    return (seconds.to_bytes(4, "big") + _random + count.to_bytes(3, "big")).hex()


def is_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None
