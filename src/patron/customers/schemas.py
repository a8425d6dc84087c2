"""Customer profile bodies: what clients send (Create, Update, lists, Lookup) and what they get (Read)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from patron.fields import Birthdate, Coordinates, Country, Email, LowerText, Metadata, Name, Phone, Text, email_key

MAX_ADDRESSES = 20
MAX_VEHICLES = 20
MAX_FAVORITES = 200

StrictBool = Annotated[bool, Strict()]
T = TypeVar("T")


def _problem(loc: tuple[str | int, ...], type_: str, msg: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(type_, msg), loc=loc, input=value)


def _validate_with(value: Any, handler: Callable[[Any], T], problems: list[InitErrorDetails]) -> T:
    """``handler(value)``, failing with its errors and ``problems`` together: a rule that spans
    several fields is reported even when a field fails too, so one answer names every bad field."""
    try:
        validated = handler(value)
    except ValidationError as exc:
        if not problems:
            raise
        found = [_problem(e["loc"], e["type"], e["msg"], e["input"]) for e in exc.errors()]
        raise ValidationError.from_exception_data(exc.title, [*found, *problems]) from None
    if problems:
        raise ValidationError.from_exception_data("body", problems)
    return validated


class _Body(BaseModel):
    # Unknown fields are ignored; present ones are checked strictly (no "1" for 1, no 1 for true).
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class ContactIn(_Body):
    email: Email = None  # type: ignore[assignment]  # absent is fine; null is not
    firstName: Name | None = None
    lastName: Name | None = None
    birthdate: Birthdate | None = None
    phone: Phone | None = None


class BillingAddressIn(_Body):
    street: Text | None = None
    subpremise: Text | None = Field(None, validation_alias=AliasChoices("subpremise", "subPremise"))
    area: Text | None = None
    city: Text | None = None
    postalCode: Text | None = None
    stateOrProvince: Text | None = None
    country: Country | None = None
    coordinates: Coordinates | None = None


class DeliveryAddressIn(BillingAddressIn):
    id: Text | None = None
    default: StrictBool | None = None


class VehicleIn(_Body):
    id: Text | None = None
    make: LowerText | None = None
    model: LowerText | None = None
    color: LowerText | None = None
    default: StrictBool | None = None


_FAVORITE_KEYS = {"item": "item", "order": "orderId", "store": "storeId"}


class FavoriteIn(_Body):
    type: Literal["item", "order", "store"]
    item: Text | None = None
    orderId: Text | None = None
    storeId: Text | None = None
    label: Text | None = None

    @model_validator(mode="after")
    def _one_key_for_the_type(self) -> FavoriteIn:
        wanted = _FAVORITE_KEYS[self.type]
        if getattr(self, wanted) is None:
            raise ValueError(f"a favorite of type {self.type!r} needs {wanted!r}")
        others = [key for key in _FAVORITE_KEYS.values() if key != wanted and getattr(self, key) is not None]
        if others:
            raise ValueError(f"a favorite of type {self.type!r} takes {wanted!r}, not {others[0]!r}")
        return self

    def as_document(self) -> dict[str, str]:
        key = _FAVORITE_KEYS[self.type]
        document = {"type": self.type, key: getattr(self, key)}
        if self.label is not None:
            document["label"] = self.label
        return document


def _one_default(items: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    marked = [i for i in items if isinstance(i, dict) and i.get("default") is True] if isinstance(items, list) else []
    many = [_problem((), "value_error", "at most one item may be the default", items)] if len(marked) > 1 else []
    return _validate_with(items, handler, many)


DeliveryAddresses = Annotated[list[DeliveryAddressIn], Field(max_length=MAX_ADDRESSES), WrapValidator(_one_default)]
Vehicles = Annotated[list[VehicleIn], Field(max_length=MAX_VEHICLES), WrapValidator(_one_default)]
Favorites = Annotated[list[FavoriteIn], Field(max_length=MAX_FAVORITES)]


class _ProfileFields(_Body):
    externalId: Text | None = None
    loyaltyProviderId: Text | None = None
    deliveryAddresses: DeliveryAddresses | None = None
    billingAddress: BillingAddressIn | None = None
    metadata: Metadata | None = None
    vehicles: Vehicles | None = None
    favorites: Favorites | None = None


class CustomerCreate(_ProfileFields):
    """Register a guest. ``contact.email`` is required; a top-level ``email`` fills it when absent."""

    contact: ContactIn | None = None
    email: Email | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _one_guest(cls, data: Any, handler: ModelWrapValidatorHandler[CustomerCreate]) -> CustomerCreate:
        return _validate_with(data, handler, _email_problems(data))


def _email_problems(data: Any) -> list[InitErrorDetails]:
    """An email is required (``contact.email`` or top-level); when both are given they name one guest."""
    if not isinstance(data, dict):
        return []
    contact, top = data.get("contact"), data.get("email")
    if top is None and not (isinstance(contact, dict) and "email" in contact):
        return [_problem(("contact", "email"), "missing", "Field required", data)]
    inner = contact.get("email") if isinstance(contact, dict) else None
    if isinstance(top, str) and isinstance(inner, str):
        try:
            same = email_key(top) == email_key(inner)
        except ValueError:
            return []  # an address that is not valid is named by its own field
        if not same:
            return [_problem(("email",), "email_mismatch", "names another guest than contact.email", top)]
    return []


class CustomerUpdate(_ProfileFields):
    """Partial update: absent fields stay, ``null`` clears; ``contact`` merges field by field."""

    contact: ContactIn = None  # type: ignore[assignment]  # absent is fine; null is not


class CustomerLookup(_Body):
    """Find a profile by email (which decides when given) or by phone."""

    email: Email | None = None
    phone: Phone | None = None


DeliveryAddressesAdapter: TypeAdapter[list[DeliveryAddressIn]] = TypeAdapter(DeliveryAddresses)
VehiclesAdapter: TypeAdapter[list[VehicleIn]] = TypeAdapter(Vehicles)
FavoritesAdapter: TypeAdapter[list[FavoriteIn]] = TypeAdapter(Favorites)


# --- what the API answers (documentation of the stored document) ------------------------


class ContactRead(BaseModel):
    email: str
    firstName: str | None
    lastName: str | None
    birthdate: str | None = Field(description="YYYY-MM-DD")
    phone: str | None = Field(description="E.164")
    fullName: str | None = Field(description="Set by the CRM: firstName and lastName joined by one space.")


class BillingAddressRead(BaseModel):
    street: str | None
    subpremise: str | None
    area: str | None
    city: str | None
    postalCode: str | None
    stateOrProvince: str | None
    country: str | None
    coordinates: list[float] | None


class DeliveryAddressRead(BillingAddressRead):
    id: str = Field(description="Unique identifier of the address in the CRM.")
    default: bool


class VehicleRead(BaseModel):
    id: str
    make: str | None
    model: str | None
    color: str | None
    default: bool


class FavoriteRead(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["item", "order", "store"]
    item: str | None = None
    orderId: str | None = None
    storeId: str | None = None
    label: str | None = None


class CustomerRead(BaseModel):
    externalId: str | None
    loyaltyProviderId: str | None
    deliveryAddresses: list[DeliveryAddressRead]
    billingAddress: BillingAddressRead | None
    metadata: dict[str, Any]
    vehicles: list[VehicleRead]
    id: str
    accountId: str
    channel: int
    created: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ")
    updated: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ")
    contact: ContactRead
    favorites: list[FavoriteRead]
