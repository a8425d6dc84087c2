"""Properties of the money display and the orderDate normaliser, over generated inputs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from patron.orders.schemas import MAX_AMOUNT, display_amount, minor_units, normalize_currency, normalize_order_date

# Each test here is pure: the database fixtures are not used, so they run once, not per backend.
# No deadline: a loaded CI machine can pause any single example past Hypothesis's 200 ms.
no_deadline = settings(deadline=None)

UTC_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
DISPLAY_FORMAT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")

CURRENCIES = ["EUR", "USD", "GBP", "JPY", "KRW", "KWD", "BHD", "TND", "CLF", "UYW", "ISK", "XAU", "CHF"]
amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)
currencies = st.sampled_from(CURRENCIES)


@pytest.mark.parametrize(
    ("value", "currency", "display"),
    [(100, "EUR", "1.00"), (100, "JPY", "100"), (1000, "KWD", "1.000"), (3100, "EUR", "31.00"), (7, "EUR", "0.07")],
)
def test_display_examples(value: int, currency: str, display: str) -> None:
    assert display_amount(value, currency) == display


@no_deadline
@given(amounts, currencies)
def test_display_is_the_value_in_major_units(value: int, currency: str) -> None:
    display = display_amount(value, currency)
    exponent = minor_units(currency)
    assert Decimal(display) == Decimal(value).scaleb(-exponent)


@no_deadline
@given(amounts, currencies)
def test_display_has_exactly_the_currencys_decimals_and_no_sign(value: int, currency: str) -> None:
    display = display_amount(value, currency)
    assert DISPLAY_FORMAT.fullmatch(display), display
    decimals = len(display.partition(".")[2])
    assert decimals == minor_units(currency)


@no_deadline
@given(amounts, amounts, currencies)
def test_display_orders_like_the_value(a: int, b: int, currency: str) -> None:
    assume(a < b)
    assert Decimal(display_amount(a, currency)) < Decimal(display_amount(b, currency))


@no_deadline
@given(currencies, st.lists(st.booleans(), min_size=3, max_size=3))
def test_currency_code_is_read_in_any_case(currency: str, upper: list[bool]) -> None:
    written = "".join(c if up else c.lower() for c, up in zip(currency, upper, strict=True))
    assert normalize_currency(written) == currency


# --- orderDate ---------------------------------------------------------------------------

offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


def rfc3339(moment: datetime, *, fraction_digits: int, zulu: bool) -> str:
    """The moment as a client might write it: any offset, 0 to 9 fraction digits, Z for UTC."""
    local = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    if fraction_digits:
        local += "." + f"{moment.microsecond:06d}000"[:fraction_digits]
    offset = moment.utcoffset()
    assert offset is not None
    if zulu and offset == timedelta(0):
        return local + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{local}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def truncated(moment: datetime, fraction_digits: int) -> datetime:
    keep = 10 ** (6 - min(fraction_digits, 6))
    return moment.replace(microsecond=moment.microsecond // keep * keep)


@no_deadline
@given(instants, offsets, st.integers(min_value=0, max_value=9), st.booleans())
@example(datetime(2025, 10, 24, 16, 45, 14, 665000, tzinfo=UTC), timezone(timedelta(hours=2)), 3, True)
def test_an_order_date_is_the_same_instant_in_utc(
    instant: datetime, offset: timezone, fraction_digits: int, zulu: bool
) -> None:
    written = rfc3339(instant.astimezone(offset), fraction_digits=fraction_digits, zulu=zulu)
    normalised = normalize_order_date(written)
    assert UTC_FORMAT.fullmatch(normalised), normalised
    assert datetime.fromisoformat(normalised) == truncated(instant, fraction_digits)


@no_deadline
@given(instants, offsets)
def test_normalising_twice_changes_nothing(instant: datetime, offset: timezone) -> None:
    once = normalize_order_date(rfc3339(instant.astimezone(offset), fraction_digits=6, zulu=False))
    assert normalize_order_date(once) == once


@no_deadline
@given(instants, offsets, instants, offsets)
def test_normalised_dates_sort_as_text_in_time_order(
    a: datetime, a_offset: timezone, b: datetime, b_offset: timezone
) -> None:
    first = normalize_order_date(rfc3339(a.astimezone(a_offset), fraction_digits=6, zulu=False))
    second = normalize_order_date(rfc3339(b.astimezone(b_offset), fraction_digits=6, zulu=False))
    assert (first < second) == (a < b)
    assert (first == second) == (a == b)


@no_deadline
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), st.integers(0, 6))
def test_a_naive_date_time_is_refused(moment: datetime, fraction_digits: int) -> None:
    written = moment.isoformat(timespec="seconds")
    if fraction_digits:
        written += "." + f"{moment.microsecond:06d}"[:fraction_digits]
    with pytest.raises(ValueError):
        normalize_order_date(written)


@no_deadline
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), offsets)
def test_any_offset_date_time_is_either_normalised_or_refused_with_a_value_error(
    moment: datetime, offset: timezone
) -> None:
    """Near year 1 and year 9999 the UTC instant can fall outside the calendar: a ValueError, never a crash."""
    written = rfc3339(moment.replace(tzinfo=offset), fraction_digits=6, zulu=False)
    try:
        normalised = normalize_order_date(written)
    except ValueError:
        return
    assert UTC_FORMAT.fullmatch(normalised)
    assert datetime.fromisoformat(normalised) == moment.replace(tzinfo=offset)


@no_deadline
@given(st.text(max_size=40))
@example("2025-10-24T16:45:14\uff0e5Z")
@example("\u0662\u0660\u0662\u0665-10-24T16:45:14Z")
def test_any_text_is_either_a_well_formed_utc_date_or_a_value_error(text: str) -> None:
    try:
        normalised = normalize_order_date(text)
    except ValueError:
        return
    assert UTC_FORMAT.fullmatch(normalised)
