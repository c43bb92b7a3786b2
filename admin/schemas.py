"""Request and response bodies of the admin API, as msgspec Structs.

Requests are decoded straight into these types, so a body is validated at the boundary
(types, lengths, unknown fields) before any handler sees it; the OpenAPI document is
generated from the same Structs (`admin.openapi`). Optional request fields use `UNSET`
rather than `None`, so that "not given" and `null` stay different and the schema stays a
plain `string`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# Most links a message may list in `urls`, and a bulk call may ask for (413 beyond).
MAX_MESSAGE_URLS = 1000
MAX_BULK_LINKS = 10_000

BrandId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        description="Brand id; defaults to the API key's brand (any other brand: 403).",
        examples=["northjobs"],
    ),
]
MessageId = Annotated[str, Meta(min_length=1, max_length=200, examples=["wk-2024-42-000123"])]
Label = Annotated[str, Meta(max_length=200)]
Campaign = Annotated[str, Meta(max_length=200, examples=["weekly-matches"])]
JobSource = Annotated[str, Meta(max_length=200, examples=["indeed"])]
Recipient = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=320,
        description="Email address or phone number; only its keyed hash is ever stored.",
        examples=["jamie@example.com"],
    ),
]
Url = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=4096,
        description="An absolute http(s) URL.",
        examples=["https://northjobs.example/jobs/42"],
        # Documented, not enforced by the decoder: the link builder checks URLs and says
        # what is wrong in words (422) rather than quoting a regular expression.
        extra_json_schema={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+"},
    ),
]
Channel = Literal["email", "sms"]
ClickId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The click id the redirect appended to the destination "
        "(parameter `tclid` unless the brand names it otherwise).",
        examples=["0192b3c4d5e6a1b2c3d4001"],
    ),
]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", examples=["USD"])]
AttrKey = Annotated[str, Meta(min_length=1, max_length=64)]
AttrValue = Annotated[str, Meta(max_length=1000)]


# --- requests --------------------------------------------------------------------------
class MessageRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One outgoing message to one recipient. Give `html` (and optionally `text`) or
    `urls` (the links of a message you render yourself, e.g. an SMS), not both."""

    recipient: Recipient
    brand: BrandId | UnsetType = UNSET
    channel: Channel = "email"
    message_id: Annotated[MessageId | UnsetType, Meta(description="Generated when not given.")] = (
        UNSET
    )
    campaign: Campaign = ""
    job_source: JobSource = ""
    list_id: Annotated[
        str,
        Meta(
            max_length=200,
            description="Unsubscribing leaves this list only (a list of the brand); "
            "empty: all of the brand's marketing.",
        ),
    ] = ""
    html: Annotated[str | UnsetType, Meta(description="Email HTML to rewrite.")] = UNSET
    text: Annotated[str | UnsetType, Meta(description="Plain-text part (with `html` only).")] = (
        UNSET
    )
    urls: Annotated[
        list[Url] | UnsetType,
        Meta(extra_json_schema={"maxItems": MAX_MESSAGE_URLS}),
    ] = UNSET


class LinkSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    message_id: MessageId
    url: Url
    recipient: Annotated[str, Meta(max_length=320)] = ""
    campaign: Campaign = ""
    job_source: JobSource = ""
    channel: Annotated[
        Channel, Meta(description="`sms` gives a short link `https://{host}/s/{slug}`.")
    ] = "email"
    link: Annotated[
        int, Meta(ge=0, le=1_000_000, description="Index of the link in its message.")
    ] = 0


class LinksRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    links: Annotated[list[LinkSpec], Meta(extra_json_schema={"maxItems": MAX_BULK_LINKS})]
    brand: BrandId | UnsetType = UNSET


class ConversionRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    click_id: ClickId
    brand: BrandId | UnsetType = UNSET
    value: Annotated[
        float,
        Meta(
            ge=0,
            le=1e12,
            description="What the conversion is worth; never negative (refunds are not "
            "conversions, and a negative value would lower a campaign's revenue).",
        ),
    ] = 0.0
    currency: Annotated[
        Currency | UnsetType, Meta(description="Defaults to the brand's currency.")
    ] = UNSET
    attrs: Annotated[
        dict[AttrKey, AttrValue],
        Meta(max_length=50, description="Free-form attributes, e.g. the application id."),
    ] = msgspec.field(default_factory=dict)


Dimension = Literal["client", "os", "device", "country"]


class StatsQuery(msgspec.Struct, kw_only=True):
    brand: BrandId | UnsetType = UNSET
    by: Annotated[
        Dimension | UnsetType,
        Meta(
            description="Also break the hits (opens, clicks, unsubscribe pages, unsubscribes) "
            "down per email client, OS, device class or country: `breakdown`."
        ),
    ] = UNSET
    campaign: Campaign | UnsetType = UNSET
    job_source: JobSource | UnsetType = UNSET
    since: Annotated[
        dt.date | UnsetType, Meta(description="First UTC day counted (YYYY-MM-DD).")
    ] = UNSET
    until: Annotated[
        dt.date | UnsetType, Meta(description="Last UTC day counted (YYYY-MM-DD).")
    ] = UNSET


class SuppressionsQuery(msgspec.Struct, kw_only=True):
    brand: BrandId | UnsetType = UNSET
    scope: Annotated[
        Label | UnsetType, Meta(description="Only this scope (empty: all marketing).")
    ] = UNSET
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100
    offset: Annotated[int, Meta(ge=0, le=1_000_000_000)] = 0


class SuppressionCheckQuery(msgspec.Struct, kw_only=True):
    recipient: Recipient
    brand: BrandId | UnsetType = UNSET
    list_id: Annotated[
        str, Meta(max_length=200, description="Would a message on this list be suppressed?")
    ] = ""


# --- responses -------------------------------------------------------------------------
class TrackedUrl(msgspec.Struct, kw_only=True):
    index: int
    url: str
    tracked_url: str


class SkippedUrl(msgspec.Struct, kw_only=True):
    url: str
    reason: str


class UnsubscribeHeaders(msgspec.Struct, kw_only=True):
    list_unsubscribe: str = msgspec.field(name="List-Unsubscribe")
    list_unsubscribe_post: str = msgspec.field(name="List-Unsubscribe-Post")


class OpenPixels(msgspec.Struct, kw_only=True):
    header: str
    footer: str


class MessageResponse(msgspec.Struct, kw_only=True):
    brand: str
    channel: Channel
    message_id: str
    sent_event_id: str
    links: list[TrackedUrl]
    html: str | None
    text: str | None
    headers: UnsubscribeHeaders | None
    open_urls: OpenPixels | None
    unsubscribe_url: str | None
    canary_url: str | None
    skipped: list[SkippedUrl]


class BulkLink(msgspec.Struct, kw_only=True):
    index: int
    message_id: str
    channel: Channel
    url: str
    tracked_url: str


class LinksResponse(msgspec.Struct, kw_only=True):
    brand: str
    links: list[BulkLink]


class ConversionAccepted(msgspec.Struct, kw_only=True):
    id: str
    brand: str
    click_id: str
    status: Literal["accepted"] = "accepted"


class TypeCounts(msgspec.Struct, kw_only=True):
    all: int
    human: int
    unique_all: int
    unique_human: int
    unique_mpp: int
    revenue: float
    value: float


class EventTypeCounts(msgspec.Struct, kw_only=True):
    sent: TypeCounts
    open: TypeCounts
    click: TypeCounts
    unsubscribe_view: TypeCounts
    unsubscribe: TypeCounts
    conversion: TypeCounts
    revoked_click: TypeCounts


class HitCounts(msgspec.Struct, kw_only=True):
    all: int
    human: int


class DimensionCounts(msgspec.Struct, kw_only=True):
    """One value of the `by` dimension and its hits, human-only and all."""

    value: Annotated[
        str,
        Meta(
            description="A client (`Apple Mail`, `Gmail`, `Chrome Mobile`, ...), an OS, a "
            "device class (`desktop`, `mobile`, `tablet`, `unknown`) or an ISO 3166-1 "
            "alpha-2 country code; empty when the hits had none (no user agent, no GeoIP "
            "database, or the brand turned it off).",
            examples=["Apple Mail"],
        ),
    ]
    open: HitCounts
    click: HitCounts
    unsubscribe_view: HitCounts
    unsubscribe: HitCounts


class StatsResponse(msgspec.Struct, kw_only=True):
    brand: str
    campaign: str | None
    job_source: str | None
    since: dt.date | None
    until: dt.date | None
    currency: str
    types: EventTypeCounts
    mpp_adjusted_opens: float
    revenue: float
    conversion_value: float
    suppressions: int
    # With `by`: the dimension and its values, busiest first (null without `by`).
    by: Dimension | None = None
    breakdown: list[DimensionCounts] | None = None


class SuppressionItem(msgspec.Struct, kw_only=True):
    recipient: str
    scope: str
    ts: float
    event_id: str


class SuppressionPage(msgspec.Struct, kw_only=True):
    brand: str
    total: int
    offset: int
    limit: int
    next_offset: int | None
    items: list[SuppressionItem]


class SuppressionCheck(msgspec.Struct, kw_only=True):
    brand: str
    recipient: str
    list_id: str
    suppressed: bool
    scopes: list[str]


class Health(msgspec.Struct, kw_only=True):
    status: str


class Readiness(msgspec.Struct, kw_only=True):
    status: Literal["ready", "unavailable"]
    redis: Literal["ok", "down"]
    store: Literal["ok", "down"]


class ErrorResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    error: str
    field: str | UnsetType = UNSET
    detail: str | UnsetType = UNSET


# --- link revocation ----------------------------------------------------------------------
RevocationValue = Annotated[str, Meta(min_length=1, max_length=255)]


class RevocationRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Name exactly one of `campaign`, `message_id` or `destination_host` (a host covers
    its subdomains)."""

    brand: BrandId | UnsetType = UNSET
    campaign: RevocationValue | UnsetType = UNSET
    message_id: RevocationValue | UnsetType = UNSET
    destination_host: RevocationValue | UnsetType = UNSET
    note: Annotated[str, Meta(max_length=500, description="Why; kept with the rule.")] = ""


class RevocationQuery(msgspec.Struct, kw_only=True):
    """The rule to lift: exactly one of `campaign`, `message_id` or `destination_host`."""

    brand: BrandId | UnsetType = UNSET
    campaign: RevocationValue | UnsetType = UNSET
    message_id: RevocationValue | UnsetType = UNSET
    destination_host: RevocationValue | UnsetType = UNSET


class RevocationsQuery(msgspec.Struct, kw_only=True):
    brand: BrandId | UnsetType = UNSET


class RevocationRule(msgspec.Struct, kw_only=True):
    kind: Literal["campaign", "message_id", "destination_host"]
    value: Annotated[str, Meta(description="Destination hosts in their IDNA (xn--) form.")]
    created: Annotated[float, Meta(description="Unix time, seconds.")]
    source: Annotated[
        Literal["cli", "api"],
        Meta(description="`cli`: made by an operator (`tracer revoke`); the API cannot lift it."),
    ]
    note: str


class RevocationResult(msgspec.Struct, kw_only=True):
    brand: str
    revocation: RevocationRule
    # False: the same rule was there already (201 when made now, 200 otherwise).
    created: bool


class RevocationList(msgspec.Struct, kw_only=True):
    brand: str
    revocations: list[RevocationRule]


class RevocationLifted(msgspec.Struct, kw_only=True):
    brand: str
    revocation: RevocationRule
    status: Literal["lifted"] = "lifted"
