"""Properties of the field normalisers and of PATCH, and hostile input: injection-shaped strings,
NUL bytes, deep nesting and oversized bodies get the right 4xx, never a 500, and write nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from starlette.testclient import TestClient

from patron import tables
from patron.config import Settings
from patron.db import Database
from patron.fields import check_coordinates, email_key, normalize_birthdate, normalize_email, normalize_phone
from tests.factories import Tenant

FAST = settings(max_examples=60, deadline=None)
# API properties reuse the test's client and tenant across examples; each example makes its own profile.
API = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

INJECTIONS = ["'; DROP TABLE customers; --", "<script>alert(1)</script>", '" OR 1=1 --', "${jndi:ldap://x}"]
MIB = 1024 * 1024


def count_profiles(database_url: str) -> int:
    async def main() -> int:
        db = Database(Settings(database_url=database_url))
        try:
            async with db.read() as conn:
                return (await conn.execute(select(func.count()).select_from(tables.customers))).scalar_one()
        finally:
            await db.dispose()

    return asyncio.run(main())


# --- email ---------------------------------------------------------------------------------

_local = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9_+-]|\.(?!\.)){0,20}[a-zA-Z0-9]", fullmatch=True)
_label = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)
_tld = st.sampled_from(["com", "org", "be", "Io", "NET", "museum"])
emails = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    _local,
    st.lists(_label, min_size=1, max_size=3),
    _tld,
)
_space = st.sampled_from(["", " ", "  ", "\t", " \t "])


def _recase(text: str, flips: list[bool]) -> str:
    return "".join(ch.swapcase() if flip else ch for ch, flip in zip(text, flips + [False] * len(text), strict=False))


@FAST
@given(emails, st.lists(st.booleans(), max_size=60), _space, _space)
def test_email_matching_ignores_case_and_surrounding_space(
    address: str, flips: list[bool], before: str, after: str
) -> None:
    variant = before + _recase(address, flips) + after
    assert normalize_email(address) == address
    assert normalize_email(variant) == _recase(address, flips)  # trimmed, case kept
    assert email_key(variant) == email_key(address)
    assert email_key(email_key(address)) == email_key(address)
    assert email_key(address) == address.lower()


@FAST
@given(emails, emails)
def test_different_addresses_have_different_keys(one: str, two: str) -> None:
    assert (email_key(one) == email_key(two)) == (one.lower() == two.lower())


def test_an_internationalised_domain_matches_its_punycode_form() -> None:
    assert email_key("Ana@B\u00fccher.example") == email_key("ana@xn--bcher-kva.example")
    assert normalize_email(" ana@b\u00fccher.example ") == "ana@b\u00fccher.example"


@pytest.mark.parametrize("bad", ["", "   ", "ana", "ana@", "@example.com", "a@@example.com", "a..b@example.com"])
def test_invalid_emails_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(bad)


# --- phone ---------------------------------------------------------------------------------

_EXAMPLES = [
    (region, number)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    if (
        number := phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        or phonenumbers.example_number(region)
    )
    is not None
]


@FAST
@given(st.sampled_from(_EXAMPLES), st.sampled_from(["", " ", "-", ".", "  "]))
def test_phone_numbers_round_trip_through_e164(example: tuple[str, Any], separator: str) -> None:
    region, number = example
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)

    assert normalize_phone(e164, None) == e164
    assert normalize_phone(normalize_phone(e164, None), None) == e164
    assert normalize_phone(international.replace(" ", separator), None) == e164
    assert normalize_phone("00" + e164[1:], None) == e164
    assert normalize_phone(national, region) == e164
    if not national.lstrip().startswith(("+", "00")):
        with pytest.raises(ValueError):
            normalize_phone(national, None)


@FAST
@given(st.text(alphabet="+0123456789 -()./", max_size=25), st.sampled_from([None, "BE", "US", "GB"]))
def test_any_accepted_phone_is_valid_e164(raw: str, country: str | None) -> None:
    try:
        value = normalize_phone(raw, country)
    except ValueError:
        return
    assert value.startswith("+") and value[1:].isdigit() and 2 <= len(value) <= 16
    assert phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    assert normalize_phone(value, None) == value


# --- birthdate -----------------------------------------------------------------------------

_YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
_offsets = st.sampled_from(["", "Z", "+00:00", "+14:00", "-12:00", "+0530", "-03:30"])


@FAST
@given(st.dates(max_value=_YESTERDAY), st.times(), _offsets)
def test_valid_birthdates_keep_their_calendar_date(day: date, moment: Any, offset: str) -> None:
    iso = day.isoformat()
    assert normalize_birthdate(iso) == iso
    written = f"{iso}T{moment.strftime('%H:%M:%S')}{offset}"
    assert normalize_birthdate(written) == iso  # no time-zone shift


@FAST
@given(st.dates(min_value=datetime.now(UTC).date() + timedelta(days=2)))
def test_future_birthdates_are_refused(day: date) -> None:
    with pytest.raises(ValueError):
        normalize_birthdate(day.isoformat())


@FAST
@given(st.integers(1000, 2020), st.integers(0, 99), st.integers(0, 99))
def test_impossible_birthdates_are_refused(year: int, month: int, day: int) -> None:
    try:
        date(year, month, day)
    except ValueError:
        with pytest.raises(ValueError):
            normalize_birthdate(f"{year:04d}-{month:02d}-{day:02d}")
    else:
        assert normalize_birthdate(f"{year:04d}-{month:02d}-{day:02d}") == f"{year:04d}-{month:02d}-{day:02d}"


@pytest.mark.parametrize(
    "bad", ["17/05/1990", "1990-5-17", "19900517", "1990-05-17T25:00:00Z", "1990-05-17 00:00:00", " 1990-05-17", ""]
)
def test_other_birthdate_forms_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_birthdate(bad)


@FAST
@given(st.text(max_size=30))
def test_any_accepted_birthdate_is_an_iso_date(raw: str) -> None:
    try:
        value = normalize_birthdate(raw)
    except ValueError:
        return
    assert date.fromisoformat(value).isoformat() == value
    assert raw.startswith(value)


# --- coordinates ---------------------------------------------------------------------------

_finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1000, max_value=1000)


@FAST
@given(_finite, _finite)
def test_coordinates_are_kept_exactly_when_in_range(lat: float, lng: float) -> None:
    if -90 <= lat <= 90 and -180 <= lng <= 180:
        assert check_coordinates([lat, lng]) == [lat, lng]
    else:
        with pytest.raises(ValueError):
            check_coordinates([lat, lng])


@FAST
@given(st.lists(_finite, max_size=5).filter(lambda v: len(v) != 2))
def test_coordinates_need_exactly_two_numbers(value: list[float]) -> None:
    with pytest.raises(ValueError):
        check_coordinates(value)


@API
@given(st.floats(-200, 200, allow_nan=False), st.floats(-400, 400, allow_nan=False))
def test_coordinates_through_the_api(client: TestClient, tenant: Tenant, lat: float, lng: float) -> None:
    body = {
        "email": f"{uuid.uuid4().hex}@example.com",
        "deliveryAddresses": [{"street": "Main 1", "coordinates": [lat, lng]}],
    }
    answer = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
    if -90 <= lat <= 90 and -180 <= lng <= 180:
        assert answer.status_code == 200, answer.text
        assert answer.json()["deliveryAddresses"][0]["coordinates"] == [lat, lng]
    else:
        assert answer.status_code == 422
        assert answer.json()["context"]["errors"][0]["loc"][:3] == ["body", "deliveryAddresses", 0]


# --- PATCH merge, against a model of the contract --------------------------------------------

_names = st.one_of(
    st.none(),
    st.sampled_from(["", "  "]),
    st.text(alphabet="abcdefghij KLM\u00e9\u00f1'-", min_size=1, max_size=12).map(str.strip).filter(bool),
)
_storable = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")  # NUL is a 422 of its own
_free_text = st.one_of(st.none(), st.text(_storable, max_size=20))
_PHONES = {
    "+32 470 12 34 56": "+32470123456",
    "0044 20 7946 0958": "+442079460958",
    "+1 (202) 555-0123": "+12025550123",
}
_BILLING = ("street", "subpremise", "area", "city", "postalCode", "stateOrProvince", "country", "coordinates")

_contact_patch = st.fixed_dictionaries(
    {},
    optional={
        "firstName": _names,
        "lastName": _names,
        "birthdate": st.one_of(st.none(), st.dates(max_value=date(2010, 1, 1)).map(date.isoformat)),
        "phone": st.one_of(st.none(), st.sampled_from(sorted(_PHONES))),
        "email": st.sampled_from(["new", "NEW", "Other"]),
        "fullName": st.just("ignored by the server"),
    },
)
_billing_patch = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "street": _free_text,
            "city": _free_text,
            "country": st.sampled_from(["be", "NL", "us"]),
            "coordinates": st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(list),
        },
    ),
)
_favorite = st.one_of(
    st.builds(lambda v: {"type": "item", "item": v}, st.sampled_from(["P1", "P2"])),
    st.builds(lambda v: {"type": "store", "storeId": v, "label": "home"}, st.sampled_from(["S1", "S2"])),
)
_vehicle = st.fixed_dictionaries(
    {}, optional={"make": st.sampled_from(["Volvo", "BMW"]), "color": st.sampled_from(["Red", "blue"])}
)
_metadata = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["a", "b", "tier"]),
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(_storable, max_size=5)),
        max_size=3,
    ),
)

patches = st.fixed_dictionaries(
    {},
    optional={
        "externalId": _free_text,
        "loyaltyProviderId": _free_text,
        "contact": _contact_patch,
        "billingAddress": _billing_patch,
        "metadata": _metadata,
        "favorites": st.one_of(st.none(), st.lists(_favorite, max_size=4)),
        "vehicles": st.one_of(st.none(), st.lists(_vehicle, max_size=3)),
        "shoeSize": st.integers(-(2**63), 2**63 - 1),  # unknown: ignored (past 64 bits: 422, see test_json_numbers)
    },
)


def _email_for(base: str, tag: str) -> str:
    return f"{base}.{tag}@Example.com"


def _with_email(patch: dict[str, Any], base: str) -> dict[str, Any]:
    """The patch as sent: a contact email tag becomes an address no other example uses."""
    if "email" not in patch.get("contact", {}):
        return patch
    return {**patch, "contact": {**patch["contact"], "email": _email_for(base, patch["contact"]["email"])}}


def _apply(model: dict[str, Any], patch: dict[str, Any]) -> None:
    """What the contract says a PATCH does, written independently of the service."""
    for field, value in patch.items():
        if field == "contact":
            contact = model["contact"]
            for key, item in value.items():
                if key == "fullName":
                    continue
                if key == "phone" and item is not None:
                    item = _PHONES[item]
                contact[key] = item
            parts = [p for p in (contact["firstName"], contact["lastName"]) if p is not None and p.strip()]
            contact["fullName"] = " ".join(parts) or None
        elif field == "billingAddress":
            model[field] = None if value is None else {name: value.get(name) for name in _BILLING}
            if value is not None and value.get("country"):
                model[field]["country"] = value["country"].upper()
        elif field == "metadata":
            model[field] = value if value is not None else {}
        elif field == "favorites":
            unique: list[dict[str, Any]] = []
            for item in value or []:
                if item not in unique:
                    unique.append(item)
            model[field] = unique
        elif field == "vehicles":
            items = [
                {
                    "make": (v.get("make") or "").lower() or None,
                    "model": None,
                    "color": (v.get("color") or "").lower() or None,
                }
                for v in value or []
            ]
            for index, item in enumerate(items):
                item["default"] = index == 0
            model[field] = items
        elif field != "shoeSize":
            model[field] = value


def _observed(document: dict[str, Any]) -> dict[str, Any]:
    seen = {
        k: document[k]
        for k in ("externalId", "loyaltyProviderId", "contact", "billingAddress", "metadata", "favorites")
    }
    seen["vehicles"] = [{k: v for k, v in vehicle.items() if k != "id"} for vehicle in document["vehicles"]]
    return seen


@API
@given(st.lists(patches, min_size=1, max_size=4))
def test_patches_in_sequence_match_the_model(
    client: TestClient, tenant: Tenant, sequence: list[dict[str, Any]]
) -> None:
    base = uuid.uuid4().hex
    created = client.post(
        tenant.url("/customers"), json={"contact": {"email": _email_for(base, "first")}}, headers=tenant.headers
    )
    assert created.status_code == 200, created.text
    document = created.json()
    model = _observed(document)
    profile = tenant.url(f"/customers/{document['id']}")

    for step, patch in enumerate(sequence, start=2):
        patch = _with_email(patch, base)
        answer = client.patch(profile, json=patch, headers=tenant.headers)
        assert answer.status_code == 200, (patch, answer.text)
        _apply(model, patch)
        assert _observed(answer.json()) == model, patch
        assert answer.headers["etag"] == f'"{step}"'

    final = client.get(profile, headers=tenant.headers).json()
    assert _observed(final) == model
    assert final["created"] == document["created"]
    assert final["updated"] > document["updated"]
    assert "shoeSize" not in final


# --- hostile input -------------------------------------------------------------------------


def _created(client: TestClient, tenant: Tenant) -> tuple[str, dict[str, Any]]:
    answer = client.post(tenant.url("/customers"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert answer.status_code == 200
    return tenant.url(f"/customers/{answer.json()['id']}"), answer.json()


def test_injection_shaped_free_text_is_stored_verbatim(client: TestClient, tenant: Tenant, database_url: str) -> None:
    for number, value in enumerate(INJECTIONS):
        body = {
            "contact": {"email": f"guest{number}@example.com", "firstName": value, "lastName": value},
            "externalId": value,
            "metadata": {value: value},
            "billingAddress": {"street": value, "city": value},
            "favorites": [{"type": "item", "item": value, "label": value}],
        }
        created = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
        assert created.status_code == 200, created.text
        assert created.headers["content-type"] == "application/json"
        read = client.get(tenant.url(f"/customers/{created.json()['id']}"), headers=tenant.headers).json()
        assert read["contact"]["firstName"] == value
        assert read["externalId"] == value
        assert read["metadata"] == {value: value}
        assert read["billingAddress"]["street"] == value
        assert read["favorites"] == [{"type": "item", "item": value, "label": value}]
    assert count_profiles(database_url) == len(INJECTIONS)


CHECKED = {
    "email": lambda v: {"email": v},
    "email-local-part": lambda v: {"contact": {"email": f"{v}@example.com"}},
    "phone": lambda v: {"email": "ana@example.com", "contact": {"phone": v}},
    "birthdate": lambda v: {"email": "ana@example.com", "contact": {"birthdate": v}},
    "country": lambda v: {"email": "ana@example.com", "billingAddress": {"country": v}},
}


def test_injection_shaped_checked_fields_are_422(client: TestClient, tenant: Tenant, database_url: str) -> None:
    for field, body in CHECKED.items():
        for value in INJECTIONS:
            answer = client.post(tenant.url("/customers"), json=body(value), headers=tenant.headers)
            assert answer.status_code == 422, (field, value, answer.text)
            assert answer.json()["code"] == "validation_error"
    assert count_profiles(database_url) == 0


def test_injection_shaped_lookups_and_ids_find_nothing(client: TestClient, tenant: Tenant) -> None:
    _created(client, tenant)
    for value in INJECTIONS:
        for query in ({"email": value}, {"phone": value}):
            answer = client.post(tenant.url("/customers/lookup"), json=query, headers=tenant.headers)
            assert answer.status_code == 422, (query, answer.text)
        assert client.get(tenant.url(f"/customers/{value}"), headers=tenant.headers).status_code == 404
        assert client.get(f"/crm/{value}/customers/{'0' * 24}", headers=tenant.headers).status_code in (403, 404)
        order = client.get(tenant.url(f"/orders/{value}"), headers=tenant.headers)
        assert order.status_code == 404
        assert order.json()["code"] in ("order_not_found", "not_found")  # a "/" in the value makes another path
    still = client.post(tenant.url("/customers/lookup"), json={"email": "ana@example.com"}, headers=tenant.headers)
    assert still.status_code == 200


def test_an_apostrophe_email_is_an_ordinary_guest(client: TestClient, tenant: Tenant) -> None:
    created = client.post(tenant.url("/customers"), json={"email": "o'brien@example.com"}, headers=tenant.headers)
    assert created.status_code == 200
    found = client.post(tenant.url("/customers/lookup"), json={"email": "O'Brien@example.com"}, headers=tenant.headers)
    assert found.status_code == 200
    assert found.json()["id"] == created.json()["id"]


_NUL = "a\x00b"
NUL_BODIES = {
    "firstName": {"contact": {"email": "ana@example.com", "firstName": _NUL}},
    "lastName": {"contact": {"email": "ana@example.com", "lastName": _NUL}},
    "email": {"contact": {"email": "ana\x00@example.com"}},
    "top-level-email": {"email": "ana@example.com\x00"},
    "phone": {"email": "ana@example.com", "contact": {"phone": "+32470123456\x00"}},
    "birthdate": {"email": "ana@example.com", "contact": {"birthdate": "1990-05-17\x00"}},
    "externalId": {"email": "ana@example.com", "externalId": _NUL},
    "loyaltyProviderId": {"email": "ana@example.com", "loyaltyProviderId": _NUL},
    "metadata-key": {"email": "ana@example.com", "metadata": {_NUL: 1}},
    "metadata-value": {"email": "ana@example.com", "metadata": {"k": {"deep": [_NUL]}}},
    "street": {"email": "ana@example.com", "billingAddress": {"street": _NUL}},
    "country": {"email": "ana@example.com", "billingAddress": {"country": "B\x00"}},
    "address-city": {"email": "ana@example.com", "deliveryAddresses": [{"city": _NUL}]},
    "vehicle": {"email": "ana@example.com", "vehicles": [{"make": _NUL}]},
    "favorite": {"email": "ana@example.com", "favorites": [{"type": "item", "item": _NUL}]},
    "favorite-label": {"email": "ana@example.com", "favorites": [{"type": "item", "item": "P", "label": _NUL}]},
}


def test_nul_bytes_are_422_and_nothing_is_written(client: TestClient, tenant: Tenant, database_url: str) -> None:
    for field, body in NUL_BODIES.items():
        answer = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["code"] == "validation_error"
    assert count_profiles(database_url) == 0


def test_nul_bytes_in_a_patch_change_nothing(client: TestClient, tenant: Tenant) -> None:
    profile, before = _created(client, tenant)
    for field, body in NUL_BODIES.items():
        patch = {k: v for k, v in body.items() if k != "email"}  # a top-level email only means something on create
        if not patch:
            continue
        answer = client.patch(profile, json=patch, headers=tenant.headers)
        assert answer.status_code == 422, (field, answer.text)
    assert client.get(profile, headers=tenant.headers).json() == before


def test_nul_bytes_in_lookups_orders_and_paths_are_refused(client: TestClient, tenant: Tenant) -> None:
    profile, _ = _created(client, tenant)
    for query in ({"email": "ana@example.com\x00"}, {"phone": "+32470123456\x00"}):
        assert client.post(tenant.url("/customers/lookup"), json=query, headers=tenant.headers).status_code == 422
    order = {
        "crmProfileId": profile.rsplit("/", 1)[1],
        "orderId": _NUL,
        "orderDate": "2025-10-24T16:45:14Z",
        "payment": {"amount": {"value": 100, "currency": "EUR"}},
    }
    assert client.post(tenant.url("/orders"), json=order, headers=tenant.headers).status_code == 422
    assert client.get(tenant.url("/customers/%00"), headers=tenant.headers).status_code == 404
    assert client.get(tenant.url("/orders/%00"), headers=tenant.headers).status_code == 404
    assert client.get(profile.replace(tenant.account_id, "%00"), headers=tenant.headers).status_code == 403


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _deep_json(depth: int) -> bytes:
    return b'{"email":"ana@example.com","metadata":' + b'{"k":' * depth + b"1" + b"}" * depth + b"}"


def test_deep_nesting_is_refused_without_a_500(client: TestClient, tenant: Tenant, database_url: str) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    for depth, status in ((6, 422), (300, 422), (1000, 422), (5000, 400)):
        answer = client.post(tenant.url("/customers"), content=_deep_json(depth), headers=headers)
        assert answer.status_code == status, (depth, answer.text[:300])
    assert client.post(tenant.url("/customers"), content=_deep_json(5000), headers=headers).json()["code"] == (
        "invalid_json"
    )
    assert count_profiles(database_url) == 0
    within = client.post(tenant.url("/customers"), content=_deep_json(5), headers=headers)  # metadata is level 1
    assert within.status_code == 200
    assert within.json()["metadata"] == {"k": {"k": {"k": {"k": {"k": 1}}}}}


def test_deep_nesting_in_typed_fields_is_422(client: TestClient, tenant: Tenant, database_url: str) -> None:
    for field in ("externalId", "contact", "favorites", "billingAddress", "vehicles", "deliveryAddresses"):
        body = {"email": "ana@example.com", field: _nested(500)}
        answer = client.post(tenant.url("/customers"), json=body, headers=tenant.headers)
        assert answer.status_code == 422, field
    assert count_profiles(database_url) == 0


def test_deep_nesting_in_a_lookup_is_refused(client: TestClient, tenant: Tenant) -> None:
    answer = client.post(tenant.url("/customers/lookup"), json={"email": _nested(500)}, headers=tenant.headers)
    assert answer.status_code == 422
    raw = b'{"email":' + b"[" * 5000 + b"]" * 5000 + b"}"
    answer = client.post(
        tenant.url("/customers/lookup"), content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400


def _oversized() -> bytes:
    return b'{"email":"ana@example.com","externalId":"' + b"x" * MIB + b'"}'


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_1_mib_is_413_and_nothing_is_written(
    client: TestClient, tenant: Tenant, database_url: str, chunked: bool
) -> None:
    raw = _oversized()
    content: Any = iter([raw[i : i + 65536] for i in range(0, len(raw), 65536)]) if chunked else raw
    answer = client.post(
        tenant.url("/customers"), content=content, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"
    assert count_profiles(database_url) == 0


def test_an_oversized_patch_or_lookup_is_413(client: TestClient, tenant: Tenant) -> None:
    profile, before = _created(client, tenant)
    headers = {**tenant.headers, "Content-Type": "application/json"}
    for path in (profile, f"{profile}/favorites"):
        assert client.patch(path, content=_oversized(), headers=headers).status_code == 413
    assert client.post(tenant.url("/customers/lookup"), content=_oversized(), headers=headers).status_code == 413
    assert client.post(tenant.url("/orders"), content=_oversized(), headers=headers).status_code == 413
    assert client.get(profile, headers=tenant.headers).json() == before


def test_a_body_of_just_under_1_mib_is_read_and_judged_on_its_fields(
    client: TestClient, tenant: Tenant, database_url: str
) -> None:
    prefix, suffix = b'{"email":"ana@example.com","externalId":"', b'"}'
    raw = prefix + b"x" * (MIB - len(prefix) - len(suffix)) + suffix
    assert len(raw) == MIB
    answer = client.post(
        tenant.url("/customers"), content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422  # externalId is over 255 characters: refused, not truncated
    assert answer.json()["context"]["errors"][0]["loc"] == ["body", "externalId"]
    assert count_profiles(database_url) == 0


_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from([*INJECTIONS, "ana@example.com", "+32470123456", "1990-05-17", "\x00"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["email", "contact", "phone", "firstName", "metadata", "favorites", "type", "item", "x"]),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@API
@given(_json_values)
def test_any_json_body_gets_a_4xx_or_a_profile_never_a_500(
    client: TestClient, tenant: Tenant, database_url: str, body: Any
) -> None:
    before = count_profiles(database_url)
    answer = client.post(
        tenant.url("/customers"),
        content=json.dumps(body),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code in (200, 400, 409, 422), answer.text
    assert count_profiles(database_url) == before + (1 if answer.status_code == 200 else 0)


@API
@given(st.binary(max_size=200))
def test_any_bytes_get_a_4xx_never_a_500(client: TestClient, tenant: Tenant, database_url: str, raw: bytes) -> None:
    answer = client.post(
        tenant.url("/customers/lookup"), content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert answer.status_code in (400, 404, 409, 422), answer.text
