"""The floor of the single-postback benchmark: read the body, parse it, answer 202."""

import orjson

BODY = b'{"scanRunId": 0, "status": "completed", "duplicate": false}'


def app(environ, start_response):
    """A bare WSGI function doing only what any JSON endpoint must do."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    orjson.loads(environ["wsgi.input"].read(length))
    start_response("202 Accepted", [("Content-Type", "application/json")])
    return [BODY]
