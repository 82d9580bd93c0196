"""The reference scanner runtime: claim runs, crawl the site politely, check it, post results.

It talks to WebRiskOps only over the documented HTTP API (claim, heartbeat, results),
exactly as a third-party scanner would, and uploads artifacts to the same storage the
app reads. Layout: ``settings`` (environment), ``fetch`` (the guarded HTTP client),
``html`` (what a page contains), ``crawler`` (breadth-first, robots.txt, probes),
``checks`` (the passive checks), ``artifacts`` (snapshots and screenshots), ``api``
(claim, heartbeat, post), ``runtime`` (one run, and the work loop), ``cli`` and
``demo_site`` (a small site with known problems).
"""
