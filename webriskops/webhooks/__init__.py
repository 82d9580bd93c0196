"""Webhooks (Standard Webhooks 1.0): endpoints per organization, signed and retried deliveries.

``signing`` makes and checks signatures, ``ssrf`` decides where a delivery may connect,
``service`` creates deliveries and makes one attempt at a time, ``tasks`` registers the
background jobs, ``cli`` adds endpoints.
"""

from webriskops.webhooks import tasks  # noqa: F401  (registers the jobs)
