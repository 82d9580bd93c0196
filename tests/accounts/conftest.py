"""Customer-side fixtures (browser-like client, login, two tenants) shared with tests/reports."""

from tests.reports.conftest import login, post_result, tenants, web  # noqa: F401
