"""Redaction speed and accuracy, measured next to a floor measured in the same run.

Run with ``.venv/bin/python bench/redaction_bench.py``. Two seeded corpora of realistic
evidence (HTML pages, minified JS bundles, HTTP header blocks, console logs, JSON
configs) are built: secret-free (about 4 MB), and secret-dense (1 MB of log and
config lines with a secret of a rotating family every 250-500 bytes, as in the
records of issue 15). The report gives:

- MB/s of ``redact`` on each, warm (best of seven runs in this process: on a shared
  machine one run in three can be a third slower, and the least CPU time is the one
  least disturbed) and cold (the
  first pass over 1 MB of new dense text in a fresh process, after import), in CPU
  time: the machine is shared, and wall time mostly measures the neighbours;
- the floor: one pass of Python ``re.compile(r"[A-Za-z0-9]{40}")`` ``finditer`` over the
  same text, the least a regex-based scanner does, and the engine's ratio to it;
- recall over every family and syntax of ``tests/redaction/secret_factories.py`` in
  every context its format survives (HTML, JS, JSON, headers, console, YAML, XML,
  .env, Makefile, shell), seeds 0-4: the share of samples whose secrets are all gone,
  and the share redacted exactly (right span, right kind);
- false positives: the share of lookalike samples (hashes, nonces, UUIDs, documented
  examples, templates...) in every context that redaction changed.
"""

from __future__ import annotations

import platform
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redaction.secret_factories import CONTEXTS, LOOKALIKES, SECRETS, fits  # noqa: E402
from webriskops.redaction import redact  # noqa: E402

SEED = 20240501
TARGET_BYTES = 4_000_000
FLOOR = re.compile(r"[A-Za-z0-9]{40}")
WORDS = (  # noqa: SIM905
    "account checkout cart order shipping payment secure customer support product price "
    "delivery returns newsletter privacy terms cookie session login register profile "
    "settings dashboard analytics search results page token password reset help"
).split()


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _numbers(rng: random.Random, n: int) -> str:
    return ",".join(str(rng.randrange(999)) for _ in range(n))


def html_page(rng: random.Random) -> str:
    """A product listing page with lazy images, an SRI link, a nonce and a login form."""
    items = "".join(
        f'<li class="product-card col-{rng.randrange(1, 13)}"><a href="/p/{rng.randrange(99999)}'
        f'?utm_source=home&amp;page={rng.randrange(9)}"><img src="/img/{_hex(rng, 32)}.webp" '
        f'alt="{_words(rng, 3)}" loading="lazy"></a><span style="color:#{_hex(rng, 6)}">'
        f'{_words(rng, 8)}</span><data value="{rng.randrange(10**6)}"></data></li>\n'
        for _ in range(rng.randrange(20, 60))
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_words(rng, 4)}</title>"
        f'<link rel="stylesheet" href="/static/css/main.{_hex(rng, 8)}.css" '
        f'integrity="sha384-{_hex(rng, 64)}">'
        f'<script nonce="{_hex(rng, 22)}">window.dataLayer=window.dataLayer||[];</script>'
        f'</head>\n<body><header><nav aria-label="main">{_words(rng, 12)}</nav></header>'
        f"<main><h1>{_words(rng, 5)}</h1><p>{_words(rng, 60)}</p><ul>\n{items}</ul>"
        f'<form method="post" action="/login"><input type="hidden" name="csrf" '
        f'value="{_hex(rng, 40)}"><input type="password" name="password"></form>'
        f"</main><footer>{_words(rng, 20)}</footer></body></html>\n"
    )


def js_bundle(rng: random.Random) -> str:
    """A minified bundle: short identifiers, ``.token``/``.password`` reads, hex constants."""
    parts = []
    for i in range(rng.randrange(150, 400)):
        a, b, c = (rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3))
        parts.append(
            rng.choice(
                [
                    f"function {a}{i}({b},{c}){{return {b}&&{c}.token?{c}.token:{b}.id}}",
                    f'{a}.exports={{name:"{_words(rng, 2)}",version:"{rng.randrange(9)}.'
                    f'{rng.randrange(20)}.{rng.randrange(40)}"}};',
                    f'var {a}{i}="{_hex(rng, 40)}",{b}{i}=[{_numbers(rng, 12)}];',
                    f'{a}.prototype.render=function(){{return this.props.password?"*":""}};',
                    f'fetch("/api/v1/{rng.choice(WORDS)}?page={rng.randrange(50)}")'
                    f".then(function({a}){{return {a}.json()}});",
                ]
            )
        )
    return "!function(){" + ";".join(parts) + "}();\n"


def header_block(rng: random.Random) -> str:
    """A response header block with an ETag, a request id and a CSP nonce."""
    return (
        "HTTP/2 200\r\ncontent-type: text/html; charset=utf-8\r\n"
        f'etag: W/"{_hex(rng, 40)}"\r\ncache-control: max-age={rng.randrange(9999)}\r\n'
        f"x-request-id: {_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-"
        f"{_hex(rng, 12)}\r\n"
        f"content-security-policy: default-src 'self'; script-src 'nonce-{_hex(rng, 24)}' "
        "'strict-dynamic'; object-src 'none'\r\nstrict-transport-security: max-age=63072000\r\n"
        f"server: nginx/1.{rng.randrange(27)}.{rng.randrange(9)}\r\n\r\n"
    )


def console_log(rng: random.Random) -> str:
    """Browser console lines: messages, requests, stack frames, commit hashes."""
    lines = []
    for _ in range(rng.randrange(20, 80)):
        lines.append(
            rng.choice(
                [
                    f"[{rng.randrange(24):02d}:{rng.randrange(60):02d}:00."
                    f"{rng.randrange(999):03d}] console.log: {_words(rng, 10)}",
                    f"GET https://www.example.com/{rng.choice(WORDS)}?q={rng.choice(WORDS)}"
                    f"&page={rng.randrange(30)} {rng.choice([200, 304, 404])} "
                    f"({rng.randrange(900)} ms)",
                    f"Uncaught TypeError: Cannot read properties of undefined (reading "
                    f"'{rng.choice(WORDS)}')\n    at https://cdn.example.com/js/app.{_hex(rng, 8)}"
                    f".js:1:{rng.randrange(99999)}",
                    f"[warn] deprecated option '{rng.choice(WORDS)}' used in commit "
                    f"{_hex(rng, 40)}",
                ]
            )
        )
    return "\n".join(lines) + "\n"


def json_config(rng: random.Random) -> str:
    """A JSON settings object with ids, flags and timeouts."""
    entries = ",".join(
        f'"{rng.choice(WORDS)}_{i}":{{"enabled":{rng.choice(["true", "false"])},'
        f'"timeout":{rng.randrange(9999)},"id":"{_hex(rng, 24)}","label":"{_words(rng, 4)}"}}'
        for i in range(rng.randrange(20, 60))
    )
    return "{" + entries + "}\n"


KINDS = (html_page, js_bundle, header_block, console_log, json_config)


def corpus(with_secrets: bool) -> tuple[str, list]:
    """The evidence, and the planted samples (in their contexts) when ``with_secrets``."""
    rng = random.Random(SEED)
    secret_rng = random.Random(SEED + 1)
    families, contexts = sorted(SECRETS), sorted(CONTEXTS)
    pieces, planted, size, n = [], [], 0, 0
    while size < TARGET_BYTES:
        piece = rng.choice(KINDS)(rng)
        if with_secrets and n % 4 == 0:
            family = families[(n // 4) % len(families)]
            context = contexts[(n // 4 // len(families)) % len(contexts)]
            sample = CONTEXTS[context](SECRETS[family](secret_rng))
            planted.append((family, sample))
            piece += sample.text
        pieces.append(piece)
        size += len(piece)
        n += 1
    return "".join(pieces), planted


DENSE_BYTES = 1_000_000
LINES = (
    "[{t}] GET https://www.example.com/{w}?page={n} 200 ({n} ms) {w} {w} {w}",
    '{{"level":"info","msg":"{w} {w} {w} {w}","request_id":"{h}","duration_ms":{n}}}',
    "{t} worker[{n}]: processed {w} {w} batch={n} commit={h} status=ok",
    '<li class="item-{n}"><a href="/{w}/{n}">{w} {w} {w}</a></li>',
    "  {w}_timeout: {n}\n  {w}_enabled: true\n  {w}_url: https://{w}.example.com/{w}",
)


def dense_corpus(seed: int) -> tuple[str, int]:
    """About 1 MB of evidence lines with one secret every 250-500 bytes; and their count."""
    rng = random.Random(seed)
    families, contexts = sorted(SECRETS), ("console", "env", "js", "json", "yaml")
    pieces, size, count = [], 0, 0
    while size < DENSE_BYTES:
        filler = []
        while sum(map(len, filler)) < rng.randrange(200, 420):
            filler.append(
                rng.choice(LINES).format(
                    t=f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
                    w=rng.choice(WORDS),
                    n=rng.randrange(9999),
                    h=_hex(rng, 16),
                )
            )
        family = families[count % len(families)]
        context = rng.choice([c for c in contexts if fits(family, c)])
        sample = CONTEXTS[context](SECRETS[family](rng)).text
        piece = "\n".join(filler) + "\n" + sample + "\n"
        pieces.append(piece)
        size += len(piece.encode())
        count += 1
    return "".join(pieces), count


def cpu_seconds(run: Callable[[], object], repeats: int = 7) -> float:
    """The least CPU time of ``repeats`` runs, in seconds (the machine is shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


COLD = """
import sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from redaction_bench import dense_corpus
text, _ = dense_corpus({seed})
from webriskops.redaction import redact
start = time.process_time()
redact(text)
print(time.process_time() - start)
"""


def cold_seconds(seed: int) -> float:
    """CPU seconds of the first pass over new dense text in a fresh process, after import."""
    code = COLD.format(root=str(ROOT), bench=str(ROOT / "bench"), seed=seed)
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure, then print the table, cold passes, recall and false positives."""
    rows = []
    free, _ = corpus(False)
    dense, dense_count = dense_corpus(SEED)
    for label, text in (("secret-free evidence", free), ("secret-dense evidence", dense)):
        megabytes = len(text.encode()) / 1e6
        redact(text)  # warm: the automata's states for this text are built
        engine = megabytes / cpu_seconds(lambda text=text: redact(text))
        floor = megabytes / cpu_seconds(lambda text=text: sum(1 for _ in FLOOR.finditer(text)))
        rows.append((label, megabytes, engine, floor))
    new_text, _ = dense_corpus(SEED + 7)
    new_in_warm_process = cpu_seconds(lambda: redact(new_text), repeats=1)
    colds = sorted(cold_seconds(SEED + 100 + n) for n in range(3))

    samples = [
        (family, CONTEXTS[context](make(random.Random(f"bench-{family}-{context}-{seed}"))))
        for family, make in SECRETS.items()
        for context in CONTEXTS
        if fits(family, context)
        for seed in range(5)
    ]
    gone = exact = 0
    missed: dict[str, int] = {}
    for family, sample in samples:
        redacted = redact(sample.text)
        if all(secret not in redacted for secret in sample.secrets):
            gone += 1
        else:
            missed[family] = missed.get(family, 0) + 1
        exact += redacted == sample.expected
    lookalikes = [
        CONTEXTS[context](make(random.Random(f"bench-{name}-{context}-{seed}")))
        for name, make in LOOKALIKES.items()
        for context in CONTEXTS
        for seed in range(10)
    ]
    changed = sum(redact(s.text) != s.text for s in lookalikes)

    print(f"redaction benchmark  python {platform.python_version()}  {platform.machine()}")
    print("CPU time (process_time): the machine is shared, wall time measures the neighbours")
    print(f"{'corpus':<24}{'MB':>7}{'engine MB/s':>13}{'floor MB/s':>12}{'ratio':>8}")
    for label, megabytes, engine, floor in rows:
        print(f"{label:<24}{megabytes:>7.2f}{engine:>13.1f}{floor:>12.1f}{engine / floor:>8.2f}")
    dense_mb = len(dense.encode()) / 1e6
    print(
        f"secret-dense corpus: {dense_count} secrets in {dense_mb:.2f} MB "
        f"(one per {len(dense.encode()) // dense_count} bytes)"
    )
    print(
        f"first pass over 1 MB of new dense text: fresh process {colds[0]:.2f}-{colds[-1]:.2f} s "
        f"(3 runs), already warm process {new_in_warm_process:.2f} s"
    )
    print(
        f"recall: {gone}/{len(samples)} samples with every secret gone "
        f"({100 * gone / len(samples):.1f}%), {exact} redacted exactly "
        f"({100 * exact / len(samples):.1f}%) across {len(SECRETS)} families and syntaxes "
        f"x {len(CONTEXTS)} contexts x 5 seeds"
    )
    if missed:
        print("  missed: " + ", ".join(f"{name} ({n})" for name, n in sorted(missed.items())))
    print(
        f"false positives: {changed}/{len(lookalikes)} lookalike samples changed "
        f"({100 * changed / len(lookalikes):.2f}%) across {len(LOOKALIKES)} kinds "
        f"x {len(CONTEXTS)} contexts x 10 seeds"
    )


if __name__ == "__main__":
    main()
