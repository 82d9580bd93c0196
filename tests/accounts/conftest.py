"""Customer-side fixtures (browser-like client, login, two tenants) shared with tests/reports,
and ``team``: two organizations without scans, for the settings tests that need none."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.reports.conftest import PASSWORD, login, post_result, tenants, web  # noqa: F401
from webriskops.models import Organization, Project, User


@dataclass
class Team:
    """Organization A (an owner, a member, a project) and organization B (its owner)."""

    org: Organization
    project: Project
    owner: User
    member: User
    other_org: Organization
    outsider: User


@pytest.fixture
def team(make_org, make_project, make_user) -> Team:
    """Two organizations without scans (cheaper than ``tenants``)."""
    org = make_org("Acme", credits=0)
    project = make_project(org, "Acme shop")
    owner = make_user(org, "owner@acme.test", "owner", PASSWORD)
    member = make_user(org, "member@acme.test", "member", PASSWORD)
    other_org = make_org("Other", credits=5)
    outsider = make_user(other_org, "outsider@other.test", "owner", PASSWORD)
    return Team(org, project, owner, member, other_org, outsider)
