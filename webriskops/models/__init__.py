"""The domain: organizations, projects, scan runs, pages, issues, credits and the outbox.

Importing this package registers every model with the metadata (migrations and
``db.create_all`` need them all).
"""

from webriskops.models.accounts import (
    ROLES,
    ApiToken,
    Invitation,
    Membership,
    Organization,
    User,
    UserSession,
)
from webriskops.models.credits import (
    CreditEntry,
    InsufficientCredits,
    create_organization,
    grant_credits,
    reserve_credit,
    settle_credit,
)
from webriskops.models.idempotency import IdempotencyRecord
from webriskops.models.outbox import OutboxJob, OutboxJobTotal
from webriskops.models.projects import Project
from webriskops.models.scans import (
    TERMINAL_STATUSES,
    Artifact,
    Issue,
    IssueOccurrence,
    ScanPage,
    ScanRun,
)
from webriskops.models.triage import TRIAGE_STATES, TriageState
from webriskops.models.webhooks import (  # noqa: F401 - registers the tables
    OwnerNotification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "ROLES",
    "TERMINAL_STATUSES",
    "TRIAGE_STATES",
    "ApiToken",
    "Artifact",
    "CreditEntry",
    "IdempotencyRecord",
    "InsufficientCredits",
    "Invitation",
    "Issue",
    "IssueOccurrence",
    "Membership",
    "Organization",
    "OutboxJob",
    "OutboxJobTotal",
    "Project",
    "ScanPage",
    "ScanRun",
    "TriageState",
    "User",
    "UserSession",
    "create_organization",
    "grant_credits",
    "reserve_credit",
    "settle_credit",
]
