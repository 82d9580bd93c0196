"""Fixtures for the scanner endpoint tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

URL = "/api/scanner/results"


@pytest.fixture
def post(client: FlaskClient, scanner_headers: dict[str, str]) -> Callable[..., TestResponse]:
    """POST a payload (dict, or raw bytes) as an authenticated scanner unless told otherwise."""

    def send(payload: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        merged = {**scanner_headers, **(headers or {})}
        merged = {name: value for name, value in merged.items() if value is not None}
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return client.post(URL, data=body, headers=merged, **kwargs)

    return send
