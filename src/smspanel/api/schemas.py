"""Request and response schemas: they validate input and generate /api/openapi.json."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, NotRequired, TypeVar

from flask import request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from smspanel.errors import ApiError
from smspanel.models import (
    MessageStatus,
    Priority,
    RecipientStatus,
    SkipReason,
    WebhookDeliveryStatus,
    WebhookEvent,
)
from smspanel.services.approvals import MAX_REASON_CHARS
from smspanel.services.content import MAX_CONTENT_LENGTH
from smspanel.services.sending import MAX_RECIPIENTS_PER_SEND
from smspanel.services.webhooks.destinations import MAX_URL_LENGTH

T = TypeVar("T")
MessageStatusName = Literal[
    "scheduled",
    "pending",
    "sent",
    "failed",
    "partial",
    "cancelled",
    "awaiting_approval",
    "rejected",
]
RecipientStatusName = Literal["pending", "sent", "failed", "cancelled", "skipped"]
assert set(MessageStatusName.__args__) == set(tuple(MessageStatus))  # type: ignore[attr-defined]
assert set(RecipientStatusName.__args__) == set(tuple(RecipientStatus))  # type: ignore[attr-defined]


# The documented form of a number, for clients and generated tests. The server is the judge
# (services/phone.py, which also allows blanks around it and names each bad entry).
PHONE_PATTERN = r"^(\+?852 ?)?[0-9]{4} ?[0-9]{4}$"
HongKongNumber = Annotated[StrictStr, Field(json_schema_extra={"pattern": PHONE_PATTERN})]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LoginRequest(Request):
    username: StrictStr = Field(min_length=1, max_length=64)
    password: StrictStr = Field(min_length=1, max_length=1024)


ScheduledAt = StrictStr | None
SCHEDULED_AT = Field(
    default=None,
    max_length=64,
    description=(
        "when to send, ISO 8601 (read as HKT without an offset), "
        "at least 1 minute and at most 35 days ahead; omit to send now"
    ),
)


COMMERCIAL = Field(
    default=False,
    description=(
        "a commercial electronic message (UEMO, Cap. 593): numbers on the do-not-call "
        "register are skipped and the unsubscribe statement is appended when missing"
    ),
)

PriorityName = Literal["normal", "urgent"]
assert set(PriorityName.__args__) == set(tuple(Priority))  # type: ignore[attr-defined]
PRIORITY = Field(
    default="normal",
    description=(
        "`urgent`: its recipients are sent before every queued normal recipient; "
        "normal messages take turns, so a small send never waits behind a large one"
    ),
)


class SendBody(Request):
    """A send belongs to the department its sender is in (services/departments.py): a
    `department_id` in its body is refused, not ignored, so a forged one never seems to
    have worked."""

    department_id: SkipJsonSchema[None] = None

    @field_validator("department_id", mode="before")
    @classmethod
    def _no_department_chosen(cls, value: object) -> None:
        raise PydanticCustomError(
            "department_chosen",
            "a send belongs to the department its sender is in; department_id cannot be set",
        )


class SendRequest(SendBody):
    recipient: HongKongNumber = Field(
        min_length=1, max_length=64, description="Hong Kong number: 8 digits, e.g. '1234 5678'"
    )
    content: StrictStr = Field(min_length=1, max_length=MAX_CONTENT_LENGTH)
    scheduled_at: ScheduledAt = SCHEDULED_AT
    commercial: StrictBool = COMMERCIAL
    priority: PriorityName = PRIORITY


class BulkSendRequest(SendBody):
    recipients: list[HongKongNumber] = Field(
        min_length=1,
        max_length=MAX_RECIPIENTS_PER_SEND,
        description="Hong Kong numbers; repeats are sent once",
    )
    content: StrictStr = Field(min_length=1, max_length=MAX_CONTENT_LENGTH)
    scheduled_at: ScheduledAt = SCHEDULED_AT
    commercial: StrictBool = COMMERCIAL
    priority: PriorityName = PRIORITY


# A dict, not a model: a 100,000-row send is validated three times faster without a model
# instance per row.
class TemplateRecipient(TypedDict):
    """One recipient of a personalised send: the number and its placeholder values."""

    __pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[misc]

    phone: Annotated[HongKongNumber, Field(min_length=1, max_length=64)]
    personalisation: NotRequired[
        Annotated[
            dict[str, StrictStr | int | float | None],
            Field(
                description=(
                    "a value for each placeholder; names match ignoring case, spaces, _ and -"
                )
            ),
        ]
    ]


class TemplateSendRequest(SendBody):
    template_id: int = Field(ge=1, le=2**31 - 1)
    recipients: list[TemplateRecipient] = Field(min_length=1, max_length=MAX_RECIPIENTS_PER_SEND)
    scheduled_at: ScheduledAt = SCHEDULED_AT
    commercial: StrictBool = COMMERCIAL
    priority: PriorityName = PRIORITY


class TemplateRequest(Request):
    """Checked by services/templates.py, which names each problem; the bounds here only keep
    absurd bodies out."""

    name: StrictStr = Field(
        max_length=1000, description="at most 100 characters once trimmed; unique ignoring case"
    )
    content: StrictStr = Field(
        max_length=10 * MAX_CONTENT_LENGTH,
        description=f"at most {MAX_CONTENT_LENGTH} characters as written, "
        "placeholders written ((name))",
    )


class TemplateOut(BaseModel):
    id: int
    name: str
    content: str
    placeholders: list[str] = Field(description="placeholder names in order of first appearance")
    created_at: datetime
    updated_at: datetime


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class UserOut(BaseModel):
    id: int
    username: str
    is_admin: bool


class LoginData(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_at: datetime = Field(
        description="when the token stops working (`API_LOGIN_TOKEN_HOURS` after the login)"
    )
    user: UserOut


class LogoutData(BaseModel):
    revoked: bool = Field(description="true: the token this call carried no longer works")


class TokenOut(BaseModel):
    """A live token of the caller's; its secret is never shown again, nor its hash."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute; null if never used")
    expires_at: datetime | None = Field(description="null: no expiry")
    current: bool = Field(description="true for the token this call carried")


class TokenList(BaseModel):
    tokens: list[TokenOut] = Field(description="neither revoked nor expired, newest first")


SkipReasonName = Literal["opted_out", "dnc_register", "fixed_line", "pager", "not_mobile"]
assert set(SkipReasonName.__args__) == set(tuple(SkipReason))  # type: ignore[attr-defined]


class SkippedNumber(BaseModel):
    phone: str
    reason: SkipReasonName


class NumberWarning(BaseModel):
    phone: str
    message: str = Field(description="e.g. not in Hong Kong's numbering plan data; sent anyway")


class RepeatedRow(BaseModel):
    row: int = Field(description="1-based position in `recipients`")
    phone: str
    first_row: int = Field(description="the row it is sent from")


class SendAccepted(BaseModel):
    id: int
    status: MessageStatusName
    recipient_count: int
    segments: int = Field(description="per SMS; for a personalised send, the total of all")
    created_at: datetime
    scheduled_at: datetime | None
    skipped_count: int = 0
    cancelled_count: int = 0
    commercial: bool = False
    priority: PriorityName = "normal"
    skipped: list[SkippedNumber] = Field(
        default_factory=list,
        description="numbers not sent and why, the first 100 (all are in `skipped_count`)",
    )
    warnings: list[NumberWarning] = Field(
        default_factory=list,
        description="numbers sent though the numbering plan does not know them, the first 100",
    )
    repeated: list[RepeatedRow] = Field(
        default_factory=list, description="personalised sends: numbers given again, sent once"
    )


class MessageSummary(BaseModel):
    id: int
    content: str
    status: MessageStatusName
    created_at: datetime
    recipient_count: int
    success_count: int
    failed_count: int
    skipped_count: int
    cancelled_count: int
    scheduled_at: datetime | None
    priority: PriorityName = "normal"


class MessagePage(BaseModel):
    messages: list[MessageSummary]
    total: int
    pages: int
    current_page: int
    per_page: int


class MessageDetail(BaseModel):
    id: int
    content: str
    status: MessageStatusName
    created_at: datetime
    sent_at: datetime | None = Field(description="when the last recipient was finished")
    recipient_count: int
    success_count: int
    failed_count: int
    pending_count: int
    skipped_count: int
    cancelled_count: int
    segments: int
    scheduled_at: datetime | None
    commercial: bool = False
    priority: PriorityName = "normal"
    decided_by: str | None = Field(
        default=None, description="who approved or rejected it (a send that needed approval)"
    )
    decided_at: datetime | None = None
    rejection_reason: str | None = None


class RejectRequest(Request):
    reason: StrictStr = Field(
        min_length=1,
        max_length=MAX_REASON_CHARS,
        description="why the send is rejected (required, not blank); its maker sees it",
    )


class CancelResult(BaseModel):
    id: int
    status: MessageStatusName
    cancelled_count: int


class RecipientOut(BaseModel):
    id: int
    phone: str = Field(description="the 8 digits")
    status: RecipientStatusName
    error_message: str | None
    attempts: int
    sent_at: datetime | None
    skip_reason: SkipReasonName | None = None
    content: str | None = Field(default=None, description="the personalised text, if any")


class RecipientList(BaseModel):
    recipients: list[RecipientOut]
    total: int


# --- the opt-out register (admins) ---------------------------------------------------------

OptOutSource = Literal["web", "csv", "api"]
OPT_OUT_REASON = Field(default=None, max_length=500, description="why, e.g. 'replied STOP'")


class OptOutAddRequest(Request):
    phones: list[HongKongNumber] = Field(
        min_length=1,
        max_length=100_000,
        description="Hong Kong numbers; all are added or, if any is not a number, none",
    )
    reason: StrictStr | None = OPT_OUT_REASON


class OptOutRemoveRequest(Request):
    reason: StrictStr = Field(
        min_length=1, max_length=500, description="why it may get messages again (required)"
    )


class OptOutOut(BaseModel):
    phone: str = Field(description="the 8 digits")
    reason: str
    source: OptOutSource = Field(description="how it was added: web form, file import or API")
    created_at: datetime


class OptOutList(BaseModel):
    opt_outs: list[OptOutOut] = Field(description="newest first")
    total: int


class OptOutAdded(BaseModel):
    added: list[str] = Field(description="numbers now on the register (8 digits each)")
    already: list[str] = Field(description="numbers that were on it already")


class OptOutRemoved(BaseModel):
    phone: str
    reason: str


# --- the caller's webhook -------------------------------------------------------------

WebhookEventName = Literal["message.final", "recipient.final"]
assert set(WebhookEventName.__args__) == set(tuple(WebhookEvent))  # type: ignore[attr-defined]
WebhookDeliveryStatusName = Literal["pending", "delivered", "failed"]
assert set(WebhookDeliveryStatusName.__args__) == set(tuple(WebhookDeliveryStatus))  # type: ignore[attr-defined]


class WebhookRequest(Request):
    """Checked by services/webhooks/subscriptions.py, which names each problem; the bounds
    here only keep absurd bodies out."""

    url: StrictStr = Field(
        max_length=10 * MAX_URL_LENGTH,
        description=f"at most {MAX_URL_LENGTH} characters; https (http, loopback and private "
        "addresses only when the panel sets WEBHOOK_ALLOW_HTTP=true); never link-local "
        "(169.254.169.254)",
    )
    events: list[StrictStr] = Field(
        max_length=100,
        description="one or more of `message.final`, `recipient.final`; repeats count once",
    )
    rotate_secret: StrictBool = Field(
        default=False, description="make a new secret (shown in this answer only)"
    )


class WebhookSaved(BaseModel):
    url: str
    events: list[WebhookEventName]
    secret: str | None = Field(
        description="the signing secret, only when just made (a new webhook or a rotation); "
        "null when kept. Shown this once: store it"
    )


class WebhookOut(BaseModel):
    url: str
    events: list[WebhookEventName]
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime


class WebhookDeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="the event's `id`: the same over retries and resends")
    type: WebhookEventName = Field(description="the event's `type`")
    status: WebhookDeliveryStatusName
    attempts: int = Field(description="POSTs tried since it was made or last resent")
    last_status_code: int | None = Field(description="the receiver's last HTTP status")
    last_error: str | None = Field(
        description='why the last try failed (timeout, refused address, "webhook removed"…)'
    )
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(description="the next try, while pending")
    message_id: int | None
    recipient_count: int = Field(description="recipients in the event (`recipient.final`)")


class WebhookDeliveryList(BaseModel):
    deliveries: list[WebhookDeliveryOut] = Field(description="newest first")
    total: int


class UsageData(BaseModel):
    """This HKT calendar month's use: the caller's department's, or their own without one."""

    month: str = Field(description="YYYY-MM, Hong Kong time", pattern=r"^\d{4}-\d{2}$")
    segments_used: int = Field(ge=0, description="SMS segments reserved by sends this month")
    quota: int = Field(ge=0, description="the monthly segment quota; 0 = none")
    messages: int = Field(ge=0, description="messages sent this month")
    recipients: int = Field(ge=0, description="recipients sent to or still to be sent")


class HealthData(BaseModel):
    database: Literal["ok"]


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T
    message: str = ""


class ErrorItem(BaseModel):
    field: str | None = None
    message: str
    value: Any = None


class QuotaFigures(BaseModel):
    """QUOTA_EXCEEDED's details: the month's use and quota, and what the send needed."""

    used: int = Field(ge=0, description="SMS segments used this month (HKT)")
    quota: int = Field(ge=0, description="the department's monthly segment quota")
    needed: int = Field(ge=0, description="what the send would have taken")


class ErrorBody(BaseModel):
    code: str = Field(description="UPPER_SNAKE error code")
    message: str
    details: list[ErrorItem] | QuotaFigures | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


RequestModel = TypeVar("RequestModel", bound=Request)


def parse_body(model: type[RequestModel], *, empty_is_object: bool = False) -> RequestModel:
    """Validate the JSON body against `model`, or raise a 400 that names each bad field.
    `empty_is_object`: no body at all is `{}`, so its required fields are named (for a
    DELETE, which many clients send without one)."""
    if empty_is_object and not request.get_data(cache=True):
        payload = {}
    else:
        payload = request.get_json(silent=True, force=True)
    if payload is None:
        raise ApiError(400, "INVALID_JSON", "request body must be a JSON object")
    if not isinstance(payload, dict):
        raise ApiError(
            400, "INVALID_JSON", "request body must be a JSON object, not a list or value"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = [
            {"field": field_path(err["loc"]), "message": err["msg"]} for err in exc.errors()[:50]
        ]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        raise ApiError(400, "VALIDATION_ERROR", summary, details) from None


def respond(model: BaseModel, message: str = "", status: int = 200):
    """Wrap `model` in the success envelope."""
    from flask import current_app

    body = {"success": True, "data": model.model_dump(mode="json"), "message": message}
    return current_app.json.response(body), status
