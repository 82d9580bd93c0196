"""Generators of secrets in their real formats, and of the harmless text that looks like them.

Nothing real is committed: every value is drawn at test time from a seeded
``random.Random`` with the issuer's prefix, length, alphabet and, where the format has
one, checksum (GitHub and npm tokens end in a base62 CRC32; Discord bot tokens start
with a base64 user id; Basic credentials decode to ``user:password``).

A sample is a list of parts, each either kept text or a secret with the kind its marker
must name, so a test knows the exact text redaction must produce:
``Sample.text`` is what goes in, ``Sample.expected`` what must come out. ``SECRETS``
maps each family to its generator; ``LOOKALIKES`` maps each kind of harmless
lookalike (hashes, UUIDs, nonces, public keys, prose...) to one whose samples have no
secret part and must come out unchanged.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
import string
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass

DIGITS = string.digits
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
BASE32 = string.ascii_uppercase + "234567"
ALNUM = string.ascii_letters + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
# Characters people put in passwords that no format treats as a delimiter.
PASSWORD = ALNUM + "!#$%^*-_+=~."


@dataclass(frozen=True)
class Part:
    """A piece of a sample: kept text (``kind`` None) or a secret redacted as ``kind``."""

    text: str
    kind: str | None = None


@dataclass(frozen=True)
class Sample:
    """Parts in order; ``line`` when the secret runs to the end of its line (cookies)."""

    parts: tuple[Part, ...]
    line: bool = False

    @property
    def text(self) -> str:
        """The sample as it appears in evidence."""
        return "".join(part.text for part in self.parts)

    @property
    def expected(self) -> str:
        """The sample with each secret replaced by its marker."""
        return "".join(
            part.text if part.kind is None else f"[REDACTED:{part.kind}]" for part in self.parts
        )

    @property
    def secrets(self) -> list[str]:
        """The secret values, which must not survive redaction."""
        return [part.text for part in self.parts if part.kind is not None]

    def map(self, escape: Callable[[str], str]) -> Sample:
        """The same sample with every part escaped (JSON strings, HTML text, header values)."""
        return Sample(tuple(Part(escape(p.text), p.kind) for p in self.parts), self.line)


def sample(*pieces: str | tuple[str, str], line: bool = False) -> Sample:
    """Build a sample: plain strings are kept, ``(kind, value)`` pairs are secrets."""
    return Sample(tuple(Part(p) if isinstance(p, str) else Part(p[1], p[0]) for p in pieces), line)


def rand(rng: random.Random, alphabet: str, length: int) -> str:
    """``length`` characters drawn from ``alphabet``."""
    return "".join(rng.choice(alphabet) for _ in range(length))


def password(rng: random.Random) -> str:
    """A password with letters, digits and a symbol, as password rules ask for."""
    return (
        rand(rng, string.ascii_letters, 5)
        + rand(rng, DIGITS, 2)
        + rng.choice("!#%^*-_+~")
        + rand(rng, PASSWORD, rng.randrange(4, 12))
    )


def b64url(data: bytes) -> str:
    """Unpadded base64url, as in JWTs."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def base62_crc32(payload: str) -> str:
    """The 6-character checksum GitHub and npm append to their tokens."""
    crc = zlib.crc32(payload.encode())
    out = ""
    while crc:
        crc, rest = divmod(crc, 62)
        out = BASE62[rest] + out
    return out.rjust(6, "0")


def checksummed(prefix: str, rng: random.Random) -> str:
    """``prefix`` + 30 random base62 characters + their CRC32 (GitHub classic, npm)."""
    body = rand(rng, ALNUM, 30)
    return prefix + body + base62_crc32(body)


def assign(rng: random.Random, names: tuple[str, ...], kind: str, value: str) -> Sample:
    """``value`` assigned to one of ``names`` in .env, YAML, JSON or code style."""
    name = rng.choice(names)
    style = rng.randrange(5)
    if style == 0:
        return sample(f"{name}=", (kind, value))
    if style == 1:
        return sample(f"{name}: ", (kind, value))
    if style == 2:
        return sample(f'"{name}": "', (kind, value), '"')
    if style == 3:
        return sample(f"{name} = '", (kind, value), "'")
    return sample(f'export {name}="', (kind, value), '"')


def pem(rng: random.Random, label: str, size: int, headers: str = "") -> str:
    """A PEM block of ``size`` random bytes under ``label``."""
    body = base64.b64encode(rng.randbytes(size)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n{headers}" + "\n".join(lines) + f"\n-----END {label}-----"


def jwt(rng: random.Random, alg: str = "HS256") -> str:
    """A signed JWT with a random subject and signature."""
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": rand(rng, DIGITS, 10), "name": "Ada", "iat": 1700000000 + rng.randrange(9999)}
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}.{b64url(rng.randbytes(32 if alg == 'HS256' else 256))}"


# --- secrets: one generator per family -------------------------------------------------


def _aws_access_key_id(rng):
    return sample(("aws_access_key_id", rng.choice(["AKIA", "ASIA"]) + rand(rng, BASE32, 16)))


def _aws_secret_access_key(rng):
    names = ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "awsSecretAccessKey", "aws_sk")
    return assign(rng, names, "aws_secret_access_key", rand(rng, B64, 40))


def _gcp_api_key(rng):
    return sample(("gcp_api_key", "AIza" + rand(rng, URLSAFE, 35)))


def _gcp_service_account(rng):
    key = pem(rng, "PRIVATE KEY", 1190).replace("\n", "\\n")
    return sample(
        '{"type": "service_account", "project_id": "acme-prod", "private_key_id": "',
        ("gcp_private_key_id", rand(rng, HEX, 40)),
        '", "private_key": "',
        ("private_key", key),
        '\\n", "client_email": "deploy@acme-prod.iam.gserviceaccount.com"}',
    )


def _azure_storage_key(rng):
    return sample(
        "DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=",
        ("azure_storage_key", base64.b64encode(rng.randbytes(64)).decode()),
        ";EndpointSuffix=core.windows.net",
    )


def _azure_sas(rng):
    sig = base64.b64encode(rng.randbytes(32)).decode()
    sig = sig.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return sample(
        "https://acmeprod.blob.core.windows.net/exports/report.csv?sv=2022-11-02&ss=b&srt=o"
        "&sp=r&se=2025-01-01T00:00:00Z&sig=",
        ("azure_sas_signature", sig),
    )


def _digitalocean(rng):
    return sample(
        ("digitalocean_token", rng.choice(["dop", "doo", "dor"]) + "_v1_" + rand(rng, HEX, 64))
    )


def _heroku(rng):
    return sample(("heroku_api_key", "HRKU-AA" + rand(rng, URLSAFE, 58)))


def _heroku_legacy(rng):
    uuid = "-".join(rand(rng, HEX, n) for n in (8, 4, 4, 4, 12))
    return assign(rng, ("HEROKU_API_KEY", "heroku_api_token"), "heroku_api_key", uuid)


def _vault(rng):
    return sample(("hashicorp_vault_token", "hvs." + rand(rng, URLSAFE, 90)))


def _terraform(rng):
    return sample(
        ("terraform_cloud_token", rand(rng, ALNUM, 14) + ".atlasv1." + rand(rng, ALNUM, 67))
    )


def _pulumi(rng):
    return sample(("pulumi_access_token", "pul-" + rand(rng, HEX, 40)))


def _supabase(rng):
    return sample(("supabase_access_token", "sbp_" + rand(rng, HEX, 40)))


def _github_classic(rng):
    return sample(("github_token", checksummed("ghp_", rng)))


def _github_oauth(rng):
    return sample(("github_oauth_token", checksummed("gho_", rng)))


def _github_app(rng):
    return sample(("github_app_token", checksummed(rng.choice(["ghu_", "ghs_"]), rng)))


def _github_refresh(rng):
    return sample(("github_refresh_token", checksummed("ghr_", rng)))


def _github_fine_grained(rng):
    token = "github_pat_" + rand(rng, ALNUM, 22) + "_" + rand(rng, ALNUM, 59)
    return sample(("github_fine_grained_token", token))


def _gitlab(rng):
    prefix = rng.choice(["glpat-", "gldt-", "glrt-", "glptt-"])
    return sample(("gitlab_token", prefix + rand(rng, URLSAFE, 20)))


def _bitbucket(rng):
    return sample(("bitbucket_app_password", "ATBB" + rand(rng, ALNUM, 32)))


def _npm(rng):
    return sample(("npm_token", checksummed("npm_", rng)))


def _pypi(rng):
    return sample(("pypi_token", "pypi-AgEIcHlwaS5vcmc" + rand(rng, URLSAFE, 160)))


def _rubygems(rng):
    return sample(("rubygems_api_key", "rubygems_" + rand(rng, HEX, 48)))


def _dockerhub(rng):
    return sample(("dockerhub_token", "dckr_pat_" + rand(rng, URLSAFE, 27)))


def _atlassian(rng):
    token = "ATATT3xFfGF0" + rand(rng, URLSAFE, 170) + "=" + rand(rng, HEX.upper(), 8)
    return sample(("atlassian_api_token", token))


def _linear(rng):
    return sample(("linear_api_key", "lin_api_" + rand(rng, ALNUM, 40)))


def _notion(rng):
    if rng.random() < 0.5:
        return sample(("notion_token", "secret_" + rand(rng, ALNUM, 43)))
    return sample(("notion_token", "ntn_" + rand(rng, DIGITS, 11) + rand(rng, ALNUM, 35)))


def _airtable(rng):
    return sample(("airtable_token", "pat" + rand(rng, ALNUM, 14) + "." + rand(rng, HEX, 64)))


def _figma(rng):
    return sample(("figma_token", "figd_" + rand(rng, URLSAFE, 40)))


def _grafana(rng):
    token = "glsa_" + rand(rng, ALNUM, 32) + "_" + rand(rng, HEX, 8)
    return sample(("grafana_token", token))


def _postman(rng):
    return sample(("postman_api_key", "PMAK-" + rand(rng, HEX, 24) + "-" + rand(rng, HEX, 34)))


def _doppler(rng):
    return sample(("doppler_token", "dp.pt." + rand(rng, ALNUM, 43)))


def _age(rng):
    bech32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
    return sample(("age_secret_key", "AGE-SECRET-KEY-1" + rand(rng, bech32, 58)))


def _stripe_secret(rng):
    mode = rng.choice(["live", "test"])
    return sample(("stripe_secret_key", f"sk_{mode}_" + rand(rng, ALNUM, rng.choice([24, 99]))))


def _stripe_restricted(rng):
    return sample(("stripe_restricted_key", "rk_live_" + rand(rng, ALNUM, rng.choice([24, 99]))))


def _stripe_webhook(rng):
    return sample(("stripe_webhook_secret", "whsec_" + rand(rng, ALNUM, 32)))


def _square(rng):
    if rng.random() < 0.5:
        return sample(("square_access_token", "EAAA" + rand(rng, URLSAFE, 60)))
    return sample(("square_access_token", "sq0csp-" + rand(rng, URLSAFE, 43)))


def _braintree(rng):
    token = (
        f"access_token${rng.choice(['production', 'sandbox'])}$"
        + rand(rng, string.ascii_lowercase + DIGITS, 16)
        + "$"
        + rand(rng, HEX, 32)
    )
    return sample(("braintree_access_token", token))


def _paypal(rng):
    names = ("PAYPAL_CLIENT_SECRET", "paypal_secret", "paypalClientSecret")
    return assign(rng, names, "paypal_client_secret", "E" + rand(rng, URLSAFE, 79))


def _shopify(rng):
    prefix = rng.choice(["shpat_", "shpss_", "shpca_", "shppa_"])
    return sample(("shopify_token", prefix + rand(rng, HEX, 32)))


def _twilio_api_key(rng):
    return sample(("twilio_api_key", "SK" + rand(rng, HEX, 32)))


def _twilio_auth_token(rng):
    names = ("TWILIO_AUTH_TOKEN", "twilio_token", "twilioAuthToken")
    return assign(rng, names, "twilio_auth_token", rand(rng, HEX, 32))


def _sendgrid(rng):
    token = "SG." + rand(rng, URLSAFE, 22) + "." + rand(rng, URLSAFE, 43)
    return sample(("sendgrid_api_key", token))


def _mailgun(rng):
    return sample(("mailgun_api_key", "key-" + rand(rng, HEX, 32)))


def _mailchimp(rng):
    return sample(("mailchimp_api_key", rand(rng, HEX, 32) + f"-us{rng.randrange(1, 22)}"))


def _slack_bot(rng):
    token = f"xoxb-{rand(rng, DIGITS, 12)}-{rand(rng, DIGITS, 13)}-{rand(rng, ALNUM, 24)}"
    return sample(("slack_token", token))


def _slack_user(rng):
    token = f"xoxp-{rand(rng, DIGITS, 12)}-{rand(rng, DIGITS, 12)}-{rand(rng, DIGITS, 13)}-" + rand(
        rng, HEX, 32
    )
    return sample(("slack_token", token))


def _slack_app(rng):
    token = f"xapp-1-A{rand(rng, UPPER_DIGITS, 10)}-{rand(rng, DIGITS, 13)}-{rand(rng, HEX, 64)}"
    return sample(("slack_token", token))


def _slack_webhook(rng):
    path = f"T{rand(rng, UPPER_DIGITS, 8)}/B{rand(rng, UPPER_DIGITS, 10)}/{rand(rng, ALNUM, 24)}"
    return sample("https://hooks.slack.com/services/", ("slack_webhook_url", path))


def _discord_webhook(rng):
    return sample(
        f"https://discord.com/api/webhooks/{rand(rng, DIGITS, 19)}/",
        ("discord_webhook_url", rand(rng, URLSAFE, 68)),
    )


def _discord_bot(rng):
    user_id = b64url(str(rng.randrange(10**17, 10**18)).encode())
    token = f"{user_id}.{rand(rng, URLSAFE, 6)}.{rand(rng, URLSAFE, 38)}"
    return sample(("discord_bot_token", token))


def _telegram(rng):
    token = f"{rng.randrange(10**8, 10**10)}:AA" + rand(rng, URLSAFE, 33)
    return sample(("telegram_bot_token", token))


def _twitter(rng):
    token = "A" * 22 + rand(rng, ALNUM, 20) + "%3D" + rand(rng, ALNUM, 50)
    return sample(("twitter_bearer_token", token))


def _mapbox(rng):
    user = rng.choice([b"acme", b"jane-doe", b"mapsteam"])
    header = b64url(b'{"u":"' + user + b'","a":"cl' + rand(rng, ALNUM, 23).encode() + b'"}')
    return sample(("mapbox_secret_token", f"sk.{header}.{rand(rng, URLSAFE, 22)}"))


def _dropbox(rng):
    return sample(("dropbox_token", "sl." + rand(rng, URLSAFE, 140)))


def _anthropic(rng):
    return sample(("anthropic_api_key", "sk-ant-api03-" + rand(rng, URLSAFE, 93) + "AA"))


def _openai(rng):
    if rng.random() < 0.5:
        return sample(("openai_api_key", "sk-proj-" + rand(rng, URLSAFE, 156)))
    return sample(
        ("openai_api_key", "sk-" + rand(rng, ALNUM, 20) + "T3BlbkFJ" + rand(rng, ALNUM, 20))
    )


def _huggingface(rng):
    return sample(("huggingface_token", "hf_" + rand(rng, string.ascii_letters, 34)))


def _datadog(rng):
    names = ("DD_API_KEY", "datadog_api_key", "DD_APP_KEY")
    return assign(rng, names, "datadog_api_key", rand(rng, HEX, rng.choice([32, 40])))


def _newrelic(rng):
    if rng.random() < 0.5:
        return sample(("newrelic_key", "NRAK-" + rand(rng, UPPER_DIGITS, 27)))
    return sample(("newrelic_key", rand(rng, HEX, 36) + "NRAL"))


def _sentry_dsn(rng):
    return sample(
        "https://",
        ("sentry_dsn", rand(rng, HEX, 32) + ":" + rand(rng, HEX, 32)),
        f"@o{rand(rng, DIGITS, 6)}.ingest.sentry.io/{rand(rng, DIGITS, 7)}",
    )


def _sentry_token(rng):
    if rng.random() < 0.5:
        return sample(("sentry_token", "sntryu_" + rand(rng, HEX, 64)))
    claims = b64url(b'{"iat":1700000000,"url":"https://sentry.io","org":"acme"}')
    return sample(("sentry_token", f"sntrys_{claims}_{rand(rng, ALNUM, 43)}"))


def _okta(rng):
    return sample("Authorization: SSWS ", ("okta_api_token", "00" + rand(rng, URLSAFE, 40)))


def _fcm(rng):
    token = "AAAA" + rand(rng, URLSAFE, 7) + ":APA91b" + rand(rng, URLSAFE, 134)
    return sample(("fcm_server_key", token))


def _jwt(rng):
    return sample(("jwt", jwt(rng, rng.choice(["HS256", "RS256"]))))


def _bearer(rng):
    return sample("Authorization: Bearer ", ("bearer_token", rand(rng, URLSAFE, 40)))


def _bearer_jwt(rng):
    return sample("authorization: bearer ", ("jwt", jwt(rng)))


def _basic(rng):
    user = rng.choice(["admin", "deploy", "ci-bot"])
    credentials = base64.b64encode(f"{user}:{password(rng)}".encode()).decode()
    return sample("Authorization: Basic ", ("basic_auth", credentials))


def _private_key(label: str, size: int, kind: str = "private_key") -> Callable:
    def make(rng):
        return sample((kind, pem(rng, label, size)))

    return make


def _encrypted_pem(rng):
    headers = "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC," + rand(rng, HEX.upper(), 32) + "\n\n"
    return sample(("private_key", pem(rng, "RSA PRIVATE KEY", 1190, headers)))


def _pgp(rng):
    headers = "Version: GnuPG v2\n\n"
    block = pem(rng, "PGP PRIVATE KEY BLOCK", 900, headers)
    checksum = "=" + rand(rng, B64, 4)
    block = block.replace("\n-----END", f"\n{checksum}\n-----END")
    return sample(("pgp_private_key", block))


def _url_password(rng):
    host = rng.choice(["git.example.com/acme/app.git", "ftp.example.org/pub", "example.net/admin"])
    scheme = rng.choice(["https", "ftp", "http"])
    return sample(f"{scheme}://deploy:", ("url_password", password(rng)), f"@{host}")


def _database_url(rng):
    scheme, host = rng.choice(
        [
            ("postgres", "db.internal:5432/app"),
            ("postgresql+psycopg", "10.0.3.7/app?sslmode=require"),
            ("mysql", "mysql.prod:3306/shop"),
            ("mongodb+srv", "cluster0.ab1cd.mongodb.net/app"),
        ]
    )
    return sample(
        f"{scheme}://app_user:", ("connection_string_password", password(rng)), f"@{host}"
    )


def _broker_url(rng):
    scheme, user, host = rng.choice(
        [
            ("redis", "", "cache.internal:6379/0"),
            ("amqps", "worker", "mq.internal:5671/%2f"),
            ("rediss", "default", "redis.example.com:6380"),
        ]
    )
    return sample(f"{scheme}://{user}:", ("connection_string_password", password(rng)), f"@{host}")


def _ado_connection_string(rng):
    # Known gap: a ``#`` in such a password ends the redacted value (see docs/redaction.md).
    return sample(
        "Server=tcp:sql.internal,1433;Database=shop;User Id=app;Password=",
        ("connection_string_password", password(rng).replace("#", "!")),
        ";Encrypt=True",
    )


def _query_secret(rng):
    name = rng.choice(["access_token", "api_key", "token", "client_secret", "X-Amz-Signature"])
    return sample(
        f"https://api.example.com/v1/export?format=csv&{name}=",
        ("query_secret", rand(rng, URLSAFE, 32)),
        "&page=2",
    )


def _form_body(rng):
    return sample(
        "username=alice%40example.com&password=",
        ("password", urllib.parse.quote(password(rng), safe="")),
        "&remember=1",
    )


def _password_assignment(rng):
    names = ("DB_PASSWORD", "password", "db_pass", "smtpPassword", "admin_pwd")
    return assign(rng, names, "password", password(rng))


def _session_cookie(rng):
    return sample(
        "Set-Cookie: sessionid=",
        ("cookie", rand(rng, ALNUM, 32)),
        "; Path=/; HttpOnly; Secure; SameSite=Lax",
        line=True,
    )


def _cookie_header(rng):
    return sample(
        "Cookie: session=",
        ("cookie", b64url(rng.randbytes(30))),
        "; csrftoken=",
        ("cookie", rand(rng, ALNUM, 32)),
        line=True,
    )


def _session_assignment(rng):
    names = ("session_id", "sessionToken", "PHPSESSID", "JSESSIONID", "sid")
    return assign(rng, names, "generic_secret", rand(rng, ALNUM, 32))


def _authorization_scheme(rng):
    scheme, value = rng.choice(
        [
            ("token", rand(rng, HEX, 40)),
            ("Bot", rand(rng, URLSAFE, 59)),
            (
                "AWS4-HMAC-SHA256",
                f"Credential=AKIA{rand(rng, BASE32, 16)}/20240501/us-east-1/s3/aws4_request, "
                f"SignedHeaders=host;x-amz-date, Signature={rand(rng, HEX, 64)}",
            ),
        ]
    )
    return sample(f"Authorization: {scheme} ", ("authorization", value), line=True)


def _quoted_password_with_separators(rng):
    value = password(rng)[:8] + rng.choice("&;,|") + rand(rng, ALNUM, 6)
    quote = rng.choice("\"'")
    name = rng.choice(["password", "DB_PASSWORD", "smtp_pass"])
    return sample(f"{name}: {quote}", ("password", value), quote)


def _generic_secret(rng):
    names = ("SECRET_KEY", "apiKey", "client_secret", "api_token", "signing_key", "auth_token")
    value = rand(rng, ALNUM + "-_", rng.randrange(24, 64))
    return assign(rng, names, "generic_secret", value)


SECRETS: dict[str, Callable[[random.Random], Sample]] = {
    "aws_access_key_id": _aws_access_key_id,
    "aws_secret_access_key": _aws_secret_access_key,
    "gcp_api_key": _gcp_api_key,
    "gcp_service_account": _gcp_service_account,
    "azure_storage_key": _azure_storage_key,
    "azure_sas_signature": _azure_sas,
    "digitalocean_token": _digitalocean,
    "heroku_api_key": _heroku,
    "heroku_legacy_api_key": _heroku_legacy,
    "hashicorp_vault_token": _vault,
    "terraform_cloud_token": _terraform,
    "pulumi_access_token": _pulumi,
    "supabase_access_token": _supabase,
    "github_classic_token": _github_classic,
    "github_oauth_token": _github_oauth,
    "github_app_token": _github_app,
    "github_refresh_token": _github_refresh,
    "github_fine_grained_token": _github_fine_grained,
    "gitlab_token": _gitlab,
    "bitbucket_app_password": _bitbucket,
    "npm_token": _npm,
    "pypi_token": _pypi,
    "rubygems_api_key": _rubygems,
    "dockerhub_token": _dockerhub,
    "atlassian_api_token": _atlassian,
    "linear_api_key": _linear,
    "notion_token": _notion,
    "airtable_token": _airtable,
    "figma_token": _figma,
    "grafana_token": _grafana,
    "postman_api_key": _postman,
    "doppler_token": _doppler,
    "age_secret_key": _age,
    "stripe_secret_key": _stripe_secret,
    "stripe_restricted_key": _stripe_restricted,
    "stripe_webhook_secret": _stripe_webhook,
    "square_access_token": _square,
    "braintree_access_token": _braintree,
    "paypal_client_secret": _paypal,
    "shopify_token": _shopify,
    "twilio_api_key": _twilio_api_key,
    "twilio_auth_token": _twilio_auth_token,
    "sendgrid_api_key": _sendgrid,
    "mailgun_api_key": _mailgun,
    "mailchimp_api_key": _mailchimp,
    "slack_bot_token": _slack_bot,
    "slack_user_token": _slack_user,
    "slack_app_token": _slack_app,
    "slack_webhook_url": _slack_webhook,
    "discord_webhook_url": _discord_webhook,
    "discord_bot_token": _discord_bot,
    "telegram_bot_token": _telegram,
    "twitter_bearer_token": _twitter,
    "mapbox_secret_token": _mapbox,
    "dropbox_token": _dropbox,
    "anthropic_api_key": _anthropic,
    "openai_api_key": _openai,
    "huggingface_token": _huggingface,
    "datadog_api_key": _datadog,
    "newrelic_key": _newrelic,
    "sentry_dsn": _sentry_dsn,
    "sentry_token": _sentry_token,
    "okta_api_token": _okta,
    "fcm_server_key": _fcm,
    "jwt": _jwt,
    "bearer_token": _bearer,
    "bearer_jwt": _bearer_jwt,
    "basic_auth": _basic,
    "rsa_private_key": _private_key("RSA PRIVATE KEY", 1190),
    "ec_private_key": _private_key("EC PRIVATE KEY", 121),
    "openssh_private_key": _private_key("OPENSSH PRIVATE KEY", 400),
    "pkcs8_private_key": _private_key("PRIVATE KEY", 1218),
    "encrypted_private_key": _encrypted_pem,
    "pgp_private_key": _pgp,
    "url_password": _url_password,
    "database_url": _database_url,
    "broker_url": _broker_url,
    "ado_connection_string": _ado_connection_string,
    "query_secret": _query_secret,
    "form_body_password": _form_body,
    "password_assignment": _password_assignment,
    "session_cookie": _session_cookie,
    "cookie_header": _cookie_header,
    "session_assignment": _session_assignment,
    "generic_secret": _generic_secret,
    "authorization_scheme": _authorization_scheme,
    "quoted_password_with_separators": _quoted_password_with_separators,
}


# --- lookalikes: harmless text that resembles secrets ----------------------------------


def _uuid(rng):
    return "-".join(rand(rng, HEX, n) for n in (8, 4, 4, 4, 12))


def _commit(rng):
    sha = rand(rng, HEX, 40)
    return sample(
        rng.choice(
            [f"commit {sha}", f'"commit": "{sha}"', f"GIT_COMMIT_SHA={sha}", f"revision: {sha}"]
        )
    )


def _etag(rng):
    return sample(rng.choice([f'ETag: "{rand(rng, HEX, 32)}"', f'etag: W/"{rand(rng, HEX, 40)}"']))


def _sri(rng):
    digest = base64.b64encode(rng.randbytes(48)).decode()
    return sample(
        f'<script src="https://cdn.example.com/lib.min.js" integrity="sha384-{digest}" '
        'crossorigin="anonymous"></script>'
    )


def _package_lock(rng):
    digest = base64.b64encode(rng.randbytes(64)).decode()
    return sample(
        f'"resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz", '
        f'"integrity": "sha512-{digest}"'
    )


def _uuids(rng):
    return sample(
        rng.choice(
            [
                f"request_id={_uuid(rng)}",
                f'"id": "{_uuid(rng)}"',
                f"X-Request-Id: {_uuid(rng)}",
                f"trace {_uuid(rng)} finished",
            ]
        )
    )


def _versions(rng):
    version = f"{rng.randrange(20)}.{rng.randrange(40)}.{rng.randrange(100)}"
    return sample(
        rng.choice(
            [
                f"version: {version}",
                f'"version": "{version}-beta.{rng.randrange(9)}+build.7"',
                f"Server: nginx/{version}",
                f"jquery-{version}.min.js",
            ]
        )
    )


def _colours(rng):
    return sample(
        f".btn{{color:#{rand(rng, HEX, 6)};background:#{rand(rng, HEX, 3)};"
        f"border-color:rgba(0,0,0,.{rng.randrange(9)})}}"
    )


def _csp(rng):
    nonce = base64.b64encode(rng.randbytes(18)).decode()
    digest = base64.b64encode(rng.randbytes(32)).decode()
    return sample(
        f"Content-Security-Policy: script-src 'nonce-{nonce}' 'sha256-{digest}' "
        "'strict-dynamic'; object-src 'none'; base-uri 'self'"
    )


def _script_nonce(rng):
    nonce = base64.b64encode(rng.randbytes(16)).decode()
    return sample(f'<script nonce="{nonce}">window.dataLayer=window.dataLayer||[];</script>')


def _minified_js(rng):
    a, b, c = rng.sample("abcdefghnrtu", 3)
    return sample(
        rng.choice(
            [
                f"function({a},{b}){{var {c}={b}.token;return {c}&&{a}.setAuth({c})}}",
                f'{a}.password={b}.password||"";{a}.token={c}.accessToken;',
                f"const {{apiKey:{a},authDomain:{b}}}=window.__CFG__;",
                f"{a}=function({b}){{return{{token:{b}.token,secret:!!{b}.secret}}}}",
                f'if(!{a}.sessionId||{a}.sessionId!=={b})throw new Error("bad session");',
                f"e.exports={{getAccessTokenSilently:{a},refreshTokenRotation:{b}}}",
            ]
        )
    )


def _webpack_chunks(rng):
    return sample(
        f'<script src="/_next/static/chunks/pages/_app-{rand(rng, HEX, 16)}.js" defer></script>'
        f'<link rel="preload" href="/static/js/main.{rand(rng, HEX, 8)}.chunk.js" as="script">'
        f'{{"buildId":"{rand(rng, URLSAFE, 21)}","page":"/"}}'
    )


def _public_url(rng):
    return sample(
        f"https://www.example.com/search?q=password+reset&page={rng.randrange(2, 40)}"
        "&utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale"
        f"&gclid={rand(rng, URLSAFE, 40)}"
    )


def _oauth_authorize_url(rng):
    return sample(
        "https://accounts.google.com/o/oauth2/v2/auth?client_id="
        f"{rand(rng, DIGITS, 12)}-{rand(rng, string.ascii_lowercase + DIGITS, 32)}"
        ".apps.googleusercontent.com&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback"
        f"&response_type=code&scope=openid%20email&state={rand(rng, ALNUM, 16)}"
    )


def _prose(rng):
    return sample(
        rng.choice(
            [
                "Forgot your password? Enter your email and we will send you a reset link.",
                "Password: must be at least 12 characters long.",
                "Your session token expires after 30 minutes of inactivity.",
                "Invalid token: please sign in again.",
                "The secret to great coffee is fresh beans and patience.",
                "API keys are managed under Settings > Developers; never share your token.",
                "password: incorrect, 2 attempts remaining",
                "Enter your passphrase to unlock the vault.",
            ]
        )
    )


def _base64_image(rng):
    raw = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(rng.randrange(3) for _ in range(40))
    raw += b"\x00" * rng.randrange(20, 60) + rng.randbytes(300) + b"\x00" * 40 + rng.randbytes(200)
    data = base64.b64encode(raw).decode()
    return sample(f'<img alt="logo" src="data:image/png;base64,{data}">')


def _font_data(rng):
    data = base64.b64encode(b"wOF2\x00\x01\x00\x00" + rng.randbytes(400)).decode()
    return sample(f"@font-face{{font-family:Inter;src:url(data:font/woff2;base64,{data})}}")


def _long_hex(rng):
    return sample(
        rng.choice(
            [
                f"trace_id={rand(rng, HEX, 32)}",
                f'"requestId": "{rand(rng, HEX, 64)}"',
                f"image: nginx@sha256:{rand(rng, HEX, 64)}",
                f"x-amz-request-id: {rand(rng, UPPER_DIGITS, 16)}",
                f"cf-ray: {rand(rng, HEX, 16)}-FRA",
            ]
        )
    )


def _google_fonts(rng):
    family = rng.choice(["Inter", "Roboto", "Open+Sans"])
    return sample(
        f'<link href="https://fonts.googleapis.com/css2?family={family}:wght@400;700'
        '&display=swap" rel="stylesheet">'
    )


def _stripe_publishable(rng):
    mode = rng.choice(["live", "test"])
    return sample(f'const stripe = Stripe("pk_{mode}_{rand(rng, ALNUM, 99)}");')


def _aws_account(rng):
    account = rand(rng, DIGITS, 12)
    return sample(
        rng.choice(
            [
                f"arn:aws:iam::{account}:role/Deploy",
                f'"AccountId": "{account}"',
                f"https://{account}.dkr.ecr.us-east-1.amazonaws.com/app:latest",
            ]
        )
    )


def _sentry_public_dsn(rng):
    return sample(
        f'Sentry.init({{dsn:"https://{rand(rng, HEX, 32)}@o{rand(rng, DIGITS, 6)}'
        f'.ingest.sentry.io/{rand(rng, DIGITS, 7)}"}})'
    )


def _public_keys(rng):
    return sample(
        rng.choice(
            [
                pem(rng, "PUBLIC KEY", 294),
                pem(rng, "CERTIFICATE", 900),
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rand(rng, B64, 43) + " ci@example",
            ]
        )
    )


def _jwks(rng):
    n = b64url(rng.randbytes(256))
    return sample(f'{{"kty":"RSA","use":"sig","kid":"{rand(rng, HEX, 40)}","n":"{n}","e":"AQAB"}}')


def _analytics_ids(rng):
    return sample(
        f"gtag('config', 'G-{rand(rng, UPPER_DIGITS, 10)}'); ga('create', "
        f"'UA-{rand(rng, DIGITS, 8)}-1'); fbq('init', '{rand(rng, DIGITS, 15)}');"
    )


def _recaptcha(rng):
    return sample(f'<div class="g-recaptcha" data-sitekey="6Lc{rand(rng, URLSAFE, 37)}"></div>')


def _firebase_public(rng):
    return sample(
        f'authDomain: "acme-{rand(rng, string.ascii_lowercase, 5)}.firebaseapp.com", '
        f'projectId: "acme-{rand(rng, string.ascii_lowercase, 5)}", '
        f'messagingSenderId: "{rand(rng, DIGITS, 12)}"'
    )


def _password_field(rng):
    return sample(
        '<label for="password">Password</label><input type="password" id="password" '
        'name="password" autocomplete="current-password" placeholder="Password" required>'
    )


def _placeholders(rng):
    return sample(
        rng.choice(
            [
                "API_KEY=your_api_key_here",
                "password: ${DB_PASSWORD}",
                'token: "<TOKEN>"',
                "SECRET_KEY={{ secret_key }}",
                '"password": null',
                "client_secret: ********",
                "Authorization: Bearer <token>",
                "postgres://user:password@localhost/db",
            ]
        )
    )


def _hash_fields(rng):
    return sample(
        rng.choice(
            [
                f'"token_hash": "{rand(rng, HEX, 64)}"',
                f'"passwordHash": "$2b$12${rand(rng, B64.replace("+", "."), 53)}"',
                f"secret_sha256={rand(rng, HEX, 64)}",
                f"api_key_id: {rand(rng, HEX, 24)}",
            ]
        )
    )


def _settings(rng):
    return sample(
        rng.choice(
            [
                f"sessionTimeout: {rng.randrange(60, 7200)}",
                f'"tokenExpiry": "2025-0{rng.randrange(1, 9)}-01T00:00:00Z"',
                "auth: true",
                f"--token-spacing-{rng.randrange(9)}: {rng.randrange(40)}px",
                "password_min_length=12",
                f'"tokenUrl": "https://auth.example.com/oauth/token?tenant={rand(rng, HEX, 8)}"',
            ]
        )
    )


def _video_and_ids(rng):
    return sample(
        f"https://www.youtube.com/watch?v={rand(rng, URLSAFE, 11)}&t={rng.randrange(999)}s "
        f"https://cdn.example.com/img/{rand(rng, HEX, 32)}.jpg?w=640&v={rand(rng, HEX, 8)}"
    )


def _network(rng):
    return sample(
        f"client 2001:db8::{rand(rng, HEX, 4)} mac {':'.join(rand(rng, HEX, 2) for _ in range(6))}"
        f" at 2024-0{rng.randrange(1, 9)}-1{rng.randrange(9)}T12:34:56.789Z"
    )


def _git_urls(rng):
    return sample(
        rng.choice(
            [
                "https://deploy@github.com/acme/app.git",
                "ssh://git@github.com:22/acme/app.git",
                f"https://cdn.example.com:8443/assets/logo@{rng.randrange(2, 4)}x.png",
                "mailto:support@example.com?subject=Password%20reset",
            ]
        )
    )


def _redacted_already(rng):
    return sample(
        rng.choice(
            [
                "token=[REDACTED:jwt] user=ada",
                "Authorization: Bearer [REDACTED:bearer_token]",
                "postgres://app:[REDACTED:connection_string_password]@db/app",
                '"password": "[REDACTED:password]"',
            ]
        )
    )


def _svg_path(rng):
    nums = " ".join(f"{rng.randrange(24)}.{rng.randrange(99)}" for _ in range(12))
    return sample(f'<svg viewBox="0 0 24 24"><path d="M{nums}Z" fill="currentColor"/></svg>')


def _base64_json(rng):
    state = base64.b64encode(
        json.dumps({"page": rng.randrange(99), "filters": ["new", "sale"]}).encode()
    ).decode()
    return sample(f'<div data-props="{state}" data-id="{rand(rng, DIGITS, 9)}"></div>')


def _hex_css_and_data(rng):
    return sample(
        f'window.__INITIAL_STATE__={{"cartId":"{rand(rng, ALNUM, 26)}","currency":"EUR",'
        f'"csrfParam":"authenticity","experiment":"{rand(rng, HEX, 12)}"}}'
    )


def _auth_config(rng):
    tenant = rand(rng, HEX, 8)
    return sample(
        rng.choice(
            [
                '{passwordAutocomplete:"current-password",type:"password",required:!0}',
                "{'passwordConfirmation': 'password_confirmation', 'label': 'Repeat'}",
                f'{{"tokenEndpoint":"https://login.example.com/{tenant}/oauth2/v2.0/token"}}',
                f'authUrl: "https://auth.example.com/authorize?tenant={tenant}&prompt=login"',
                f'"sessionTimeoutMs": {rng.randrange(60000, 900000)}',
                'Authorization: Digest realm="api", qop="auth"',
            ]
        )
    )


LOOKALIKES: dict[str, Callable[[random.Random], Sample]] = {
    "commit_sha": _commit,
    "etag": _etag,
    "sri_integrity": _sri,
    "package_lock_integrity": _package_lock,
    "uuid": _uuids,
    "version": _versions,
    "css_colour": _colours,
    "csp_header": _csp,
    "script_nonce": _script_nonce,
    "minified_js": _minified_js,
    "webpack_chunks": _webpack_chunks,
    "public_url": _public_url,
    "oauth_authorize_url": _oauth_authorize_url,
    "prose": _prose,
    "base64_image": _base64_image,
    "font_data_uri": _font_data,
    "long_hex_id": _long_hex,
    "google_fonts_url": _google_fonts,
    "stripe_publishable_key": _stripe_publishable,
    "aws_account_id": _aws_account,
    "sentry_public_dsn": _sentry_public_dsn,
    "public_key": _public_keys,
    "jwks": _jwks,
    "analytics_ids": _analytics_ids,
    "recaptcha_site_key": _recaptcha,
    "firebase_public_config": _firebase_public,
    "password_field": _password_field,
    "placeholder": _placeholders,
    "hash_field": _hash_fields,
    "setting": _settings,
    "media_url": _video_and_ids,
    "network_ids": _network,
    "git_url": _git_urls,
    "already_redacted": _redacted_already,
    "svg_path": _svg_path,
    "base64_json": _base64_json,
    "page_state": _hex_css_and_data,
    "auth_config": _auth_config,
}


# --- contexts: where evidence carries them ---------------------------------------------


def _in_html(s: Sample) -> Sample:
    return _wrap(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Checkout - Acme'
        '</title></head>\n<body><main class="container"><pre class="debug">\n',
        s.map(lambda text: html.escape(text, quote=False)),
        "\n</pre><p>&copy; 2024 Acme Inc.</p></main></body></html>\n",
    )


def _in_js(s: Sample) -> Sample:
    return _wrap(
        '!function(){"use strict";var e={env:"production",release:"4.2.1"};'
        "window.__APP__=e;var t=`\n",
        s,
        "\n`;e.debug&&console.log(t)}();\n",
    )


def _in_json(s: Sample) -> Sample:
    return _wrap(
        '{"level":"error","url":"https://app.example.com/checkout?step=2","message":"',
        s.map(lambda text: json.dumps(text)[1:-1]),
        '","ts":1700000000}',
    )


def _in_headers(s: Sample) -> Sample:
    own_line = re.match(r"[A-Za-z][A-Za-z0-9-]*: ", s.text)
    return _wrap(
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html; charset=utf-8\r\n"
        + ("" if own_line else "X-Debug-Info: "),
        s.map(lambda text: text.replace("\n", "\\n")),
        "\r\nCache-Control: no-store\r\nVary: Accept-Encoding\r\n\r\n",
    )


def _in_console(s: Sample) -> Sample:
    return _wrap(
        "[12:00:01.123] console.error: Request failed: ",
        s,
        "\n    at fetchConfig (https://app.example.com/static/js/main.4f3a9c.js:1:48213)\n",
    )


def _wrap(prefix: str, s: Sample, suffix: str) -> Sample:
    return Sample((Part(prefix), *s.parts, Part(suffix)), s.line)


CONTEXTS: dict[str, Callable[[Sample], Sample]] = {
    "html": _in_html,
    "js": _in_js,
    "json": _in_json,
    "headers": _in_headers,
    "console": _in_console,
}


# --- families of issue 15: written from the vendors' documented formats ----------------

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
DJANGO = string.ascii_lowercase + DIGITS + "!@#$%^&*(-_=+)"
AZURE = ALNUM + "_~.-"
WORDS = (  # noqa: SIM905 - a word list reads best as words
    "abandon ability able about above absent absorb abstract absurd abuse access accident "
    "acoustic acquire across action actor actress adapt addict address adjust admit adult "
    "advance advice aerobic affair afford afraid again agent agree ahead alarm album"
).split()


def with_digits(rng: random.Random, alphabet: str, length: int) -> str:
    """``length`` characters of ``alphabet`` with at least two digits, as generated keys have."""
    chars = list(rand(rng, alphabet, length - 2) + rand(rng, DIGITS, 2))
    rng.shuffle(chars)
    return "".join(chars)


def base58check(payload: bytes) -> str:
    """Base58 with the 4-byte double SHA-256 checksum (Bitcoin WIF, extended keys)."""
    import hashlib

    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = BASE58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _adobe(rng):
    names = ("ADOBE_CLIENT_SECRET", "adobeClientSecret")
    return assign(rng, names, "adobe_client_secret", "p8e-" + rand(rng, ALNUM, 32))


def _adobe_bare(rng):
    return sample(("adobe_client_secret", "p8e-" + rand(rng, ALNUM, 32)))


def _alibaba_id(rng):
    return sample(("alibaba_access_key_id", "LTAI5t" + rand(rng, ALNUM, 18)))


def _alibaba_secret(rng):
    names = ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "alibaba_secret_key", "aliyunAccessKeySecret")
    return assign(rng, names, "alibaba_secret", with_digits(rng, ALNUM, 30))


def _asana_pat(rng):
    if rng.random() < 0.5:
        token = f"2/{rand(rng, DIGITS, 16)}/{rand(rng, DIGITS, 16)}:{rand(rng, HEX, 32)}"
    else:
        token = f"1/{rand(rng, DIGITS, 16)}:{rand(rng, HEX, 32)}"
    return sample(("asana_token", token))


def _asana_client(rng):
    if rng.random() < 0.5:
        return assign(
            rng, ("ASANA_CLIENT_ID", "asanaClientId"), "asana_token", rand(rng, DIGITS, 16)
        )
    return assign(rng, ("ASANA_CLIENT_SECRET",), "asana_token", with_digits(rng, ALNUM, 32))


def _curl_user(rng):
    flag = rng.choice(["-u ", "--user ", "--user="])
    return sample(
        f"curl -sS {flag}",
        ("curl_credentials", f"deploy:{password(rng)}"),
        " https://api.example.com/v1/export",
    )


def _curl_header(rng):
    flag = rng.choice(["--header", "-H"])
    quote = rng.choice("'\"")
    scheme, kind, value = rng.choice(
        [
            ("Bearer ", "bearer_token", rand(rng, URLSAFE, 40)),
            ("token ", "authorization", rand(rng, HEX, 40)),
        ]
    )
    return sample(
        f"curl {flag} {quote}Authorization: {scheme}",
        (kind, value),
        f"{quote} https://api.example.com/v2/user",
    )


def _discord_client(rng):
    if rng.random() < 0.5:
        return assign(rng, ("DISCORD_CLIENT_ID",), "discord_client_secret", rand(rng, DIGITS, 18))
    return assign(
        rng,
        ("DISCORD_CLIENT_SECRET", "discordClientSecret"),
        "discord_client_secret",
        with_digits(rng, URLSAFE, 32),
    )


def _facebook_page(rng):
    token = "EAA" + rng.choice("BGd") + with_digits(rng, ALNUM, 180)
    return sample(("facebook_access_token", token))


def _msteams(rng):
    path = f"{_uuid(rng)}@{_uuid(rng)}/IncomingWebhook/{rand(rng, HEX, 32)}/{_uuid(rng)}"
    return sample("https://acme.webhook.office.com/webhookb2/", ("msteams_webhook_url", path))


def _nuget(rng):
    return sample(
        '<packageSourceCredentials><acme><add key="Username" value="ci-bot" />'
        '<add key="ClearTextPassword" value="',
        ("password", password(rng)),
        '" /></acme></packageSourceCredentials>',
    )


def _sourcegraph(rng):
    if rng.random() < 0.5:
        token = f"sgp_{rand(rng, HEX, 16)}_{rand(rng, HEX, 40)}"
    else:
        token = "sgp_" + rand(rng, HEX, 40)
    return sample(("sourcegraph_token", token))


def _telegram_named(rng):
    token = f"{rng.randrange(10**8, 10**10)}:AA" + rand(rng, URLSAFE, 32)
    return assign(rng, ("TELEGRAM_BOT_TOKEN", "telegramToken"), "telegram_bot_token", token)


def _heroku_named(rng):
    return assign(rng, ("HEROKU_API_KEY_PROD", "heroku_token_ci"), "heroku_api_key", _uuid(rng))


def _mailgun_named(rng):
    key = f"{rand(rng, HEX, 32)}-{rand(rng, HEX, 8)}-{rand(rng, HEX, 8)}"
    return assign(rng, ("MAILGUN_API_KEY", "mailgunKey"), "mailgun_api_key", key)


def _twilio_secret(rng):
    return assign(rng, ("TWILIO_API_SECRET",), "twilio_auth_token", with_digits(rng, ALNUM, 32))


def _planetscale(rng):
    prefix = rng.choice(["pscale_tkn_", "pscale_pw_", "pscale_oauth_"])
    return sample(("planetscale_token", prefix + with_digits(rng, URLSAFE, 43)))


def _square_sandbox(rng):
    return sample(("square_access_token", "sq0atp-" + rand(rng, URLSAFE, 22)))


def _jfrog(rng):
    if rng.random() < 0.5:
        return sample(("jfrog_token", "AKCp" + rand(rng, ALNUM, 69)))
    return sample(("jfrog_token", "cmVmdGtuOjAxOj" + rand(rng, ALNUM, 50)))


def _messagebird(rng):
    names = ("MESSAGEBIRD_API_KEY", "messagebird_access_key", "message_bird_key")
    return assign(rng, names, "messagebird_api_key", with_digits(rng, ALNUM, 25))


def _twitter_named(rng):
    if rng.random() < 0.5:
        return assign(
            rng,
            ("TWITTER_CONSUMER_SECRET", "twitterApiSecret"),
            "twitter_secret",
            with_digits(rng, ALNUM, 50),
        )
    token = f"{rand(rng, DIGITS, 19)}-{with_digits(rng, ALNUM, 40)}"
    return assign(rng, ("TWITTER_ACCESS_TOKEN",), "twitter_secret", token)


def _cloudflare(rng):
    if rng.random() < 0.5:
        return assign(
            rng,
            ("CLOUDFLARE_API_TOKEN", "cloudflareToken"),
            "cloudflare_api_key",
            with_digits(rng, URLSAFE, 40),
        )
    return assign(
        rng, ("CF_API_KEY", "cloudflare_global_key"), "cloudflare_api_key", rand(rng, HEX, 37)
    )


def _cloudflare_origin_ca(rng):
    key = f"v1.0-{rand(rng, HEX, 24)}-{rand(rng, HEX, 146)}"
    return sample(("cloudflare_origin_ca_key", key))


def _flyio(rng):
    if rng.random() < 0.5:
        return sample(("flyio_token", "fo1_" + with_digits(rng, URLSAFE, 43)))
    body = base64.b64encode(rng.randbytes(180)).decode()
    return sample("Authorization: FlyV1 ", ("flyio_token", "fm2_" + body))


def _sidekiq_env(rng):
    name = rng.choice(["BUNDLE_ENTERPRISE__CONTRIBSYS__COM", "BUNDLE_GEMS__CONTRIBSYS__COM"])
    return sample(f"{name}=", ("sidekiq_secret", f"{rand(rng, HEX, 8)}:{rand(rng, HEX, 8)}"))


def _sidekiq_url(rng):
    return sample(
        'source "https://',
        ("url_password", f"{rand(rng, HEX, 8)}:{rand(rng, HEX, 8)}"),
        '@enterprise.contribsys.com/"',
    )


def _url_token_user(rng):
    return sample(
        "git clone https://",
        ("url_password", f"{with_digits(rng, ALNUM, 40)}:x-oauth-basic"),
        "@github.com/acme/app.git",
    )


def _atlassian_named(rng):
    names = ("JIRA_API_TOKEN", "confluence_token", "ATLASSIAN_API_TOKEN")
    return assign(rng, names, "atlassian_api_token", with_digits(rng, ALNUM, 24))


def _etsy(rng):
    return assign(
        rng,
        ("ETSY_API_KEY", "etsyKeystring"),
        "etsy_api_key",
        with_digits(rng, string.ascii_lowercase + DIGITS, 24),
    )


def _easypost(rng):
    return sample(("easypost_api_key", rng.choice(["EZAK", "EZTK"]) + rand(rng, ALNUM, 54)))


def _onepassword(rng):
    if rng.random() < 0.5:
        parts = [rand(rng, UPPER_DIGITS, n) for n in (6, 6, 5, 5, 5, 5)]
        return sample(("onepassword_secret_key", "A3-" + "-".join(parts)))
    claims = b64url(
        json.dumps(
            {"signInAddress": "acme.1password.com", "userAuth": {"method": "SRPg-4096"}}
        ).encode()
    )
    return sample(("onepassword_service_token", "ops_" + claims + rand(rng, URLSAFE, 60)))


def _sumologic(rng):
    if rng.random() < 0.5:
        return assign(
            rng,
            ("SUMO_ACCESS_ID", "sumologic_access_id"),
            "sumologic_key",
            "su" + rand(rng, ALNUM, 12),
        )
    return assign(
        rng, ("SUMO_ACCESS_KEY", "sumologicAccessKey"), "sumologic_key", with_digits(rng, ALNUM, 64)
    )


def _huggingface_org(rng):
    return sample(("huggingface_token", "api_org_" + rand(rng, string.ascii_letters, 34)))


def _azure_ad(rng):
    secret = rand(rng, AZURE, 3) + rng.choice(DIGITS) + "Q~" + rand(rng, AZURE, 34)
    names = ("AZURE_CLIENT_SECRET", "clientSecret", "client_secret")
    return assign(rng, names, "azure_ad_client_secret", secret)


def _laravel(rng):
    key = base64.b64encode(rng.randbytes(32)).decode()
    return sample("APP_KEY=", ("laravel_app_key", "base64:" + key))


def _django(rng):
    if rng.random() < 0.5:
        return sample(
            "SECRET_KEY = '", ("django_secret_key", "django-insecure-" + rand(rng, DJANGO, 50)), "'"
        )
    return sample("DJANGO_SECRET_KEY=", ("django_secret_key", rand(rng, DJANGO, 50)))


def _wif(rng):
    return sample(("crypto_private_key", base58check(b"\x80" + rng.randbytes(32) + b"\x01")))


def _xprv(rng):
    payload = bytes.fromhex("0488ade4") + rng.randbytes(41) + b"\0" + rng.randbytes(32)
    return sample(("crypto_private_key", base58check(payload)))


def _eth_key(rng):
    names = ("WALLET_PRIVATE_KEY", "DEPLOYER_KEY", "eth_private_key", "signerKey")
    return assign(rng, names, "crypto_private_key", "0x" + rand(rng, HEX, 64))


def _seed_phrase(rng):
    phrase = " ".join(rng.choice(WORDS) for _ in range(rng.choice([12, 24])))
    names = ("MNEMONIC", "seed_phrase", "walletSeed")
    quote = rng.choice("\"'")
    return sample(f"{rng.choice(names)}={quote}", ("crypto_seed_phrase", phrase), quote)


def _docker_auths(rng):
    auth = base64.b64encode(f"robot$ci:{password(rng)}".encode()).decode()
    return sample(
        '{"auths": {"registry.example.com": {"auth": "', ("docker_registry_auth", auth), '"}}}'
    )


def _dockerconfigjson(rng):
    auth = base64.b64encode(f"ci:{password(rng)}".encode()).decode()
    config = json.dumps({"auths": {"ghcr.io": {"auth": auth}}}, separators=(",", ":"))
    return sample(
        ".dockerconfigjson: ", ("docker_config", base64.b64encode(config.encode()).decode())
    )


def _kubernetes_secret(rng):
    user = base64.b64encode(b"app").decode()
    secret = base64.b64encode(password(rng).encode()).decode()
    token = base64.b64encode(rand(rng, ALNUM, 40).encode()).decode()
    return sample(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-credentials\n  namespace: prod\n"
        "type: Opaque\ndata:\n  username: ",
        ("kubernetes_secret", user),
        "\n  password: ",
        ("kubernetes_secret", secret),
        "\n  api-token: ",
        ("kubernetes_secret", token),
        "\n",
    )


def _kubernetes_secret_json(rng):
    secret = base64.b64encode(password(rng).encode()).decode()
    return sample(
        '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"data":{"password":"',
        ("kubernetes_secret", secret),
        '"}}',
    )


# --- syntaxes the issue found decided too much -----------------------------------------


def _go_var(rng):
    name = rng.choice(["apiToken", "authToken", "secretKey"])
    value = with_digits(rng, ALNUM, rng.randrange(24, 48))
    return sample(f'var {name} string = "', ("generic_secret", value), '"')


def _xml_element(rng):
    name = rng.choice(["apiToken", "accessToken", "clientSecret"])
    value = with_digits(rng, ALNUM, 32)
    return sample(f"<{name}>", ("generic_secret", value), f"</{name}>")


def _add_key(rng):
    key = rng.choice(["Password", "DbPassword", "SmtpPassword"])
    return sample(f'<add key="{key}" value="', ("password", password(rng)), '" />')


def _php_concat(rng):
    name = rng.choice(["$apiToken", "$secretKey", "$this->authToken"])
    return sample(f'{name} .= "', ("generic_secret", with_digits(rng, ALNUM, 32)), '";')


def _set_property(rng):
    call = rng.choice(["System.setProperty", "os.Setenv", "putenv"])
    name = rng.choice(["API_TOKEN", "X_TOKEN", "CLIENT_SECRET"])
    value = with_digits(rng, ALNUM, 32)
    return sample(f'{call}("{name}", "', ("generic_secret", value), '");')


def _makefile_assignment(rng):
    operator = rng.choice(["?=", "::=", ":::=", ":=", "+="])
    name = rng.choice(["API_TOKEN", "DEPLOY_SECRET", "AUTH_TOKEN"])
    return sample(f"{name} {operator} ", ("generic_secret", with_digits(rng, ALNUM, 32)))


# --- partial leaks: each of these once kept part of its secret ---------------------------


def _long_value(rng):
    value = with_digits(rng, ALNUM, rng.randrange(513, 3000))
    return sample('SECRET_KEY="', ("generic_secret", value), '"')


def _passphrase(rng):
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 7)))
    quote = rng.choice("\"'")
    return sample(f"password = {quote}", ("password", words), quote)


def _basic_jwt(rng):
    return sample("Authorization: Basic ", ("jwt", jwt(rng)))


def _github_bad_checksum(rng):
    return sample(("github_token", "ghp_" + with_digits(rng, ALNUM, 36)))


ISSUE_15_SECRETS: dict[str, Callable[[random.Random], Sample]] = {
    "adobe_client_secret": _adobe,
    "adobe_client_secret_bare": _adobe_bare,
    "alibaba_access_key_id": _alibaba_id,
    "alibaba_secret": _alibaba_secret,
    "asana_pat": _asana_pat,
    "asana_client": _asana_client,
    "curl_user": _curl_user,
    "curl_header": _curl_header,
    "discord_client": _discord_client,
    "facebook_page_token": _facebook_page,
    "msteams_webhook": _msteams,
    "nuget_password": _nuget,
    "sourcegraph_token": _sourcegraph,
    "telegram_named": _telegram_named,
    "heroku_named": _heroku_named,
    "mailgun_named": _mailgun_named,
    "twilio_secret": _twilio_secret,
    "planetscale_token": _planetscale,
    "square_sandbox": _square_sandbox,
    "jfrog_token": _jfrog,
    "messagebird": _messagebird,
    "twitter_named": _twitter_named,
    "cloudflare_named": _cloudflare,
    "cloudflare_origin_ca": _cloudflare_origin_ca,
    "flyio_token": _flyio,
    "sidekiq_env": _sidekiq_env,
    "sidekiq_url": _sidekiq_url,
    "url_token_user": _url_token_user,
    "atlassian_named": _atlassian_named,
    "etsy": _etsy,
    "easypost": _easypost,
    "onepassword": _onepassword,
    "sumologic": _sumologic,
    "huggingface_org": _huggingface_org,
    "azure_ad_client_secret": _azure_ad,
    "laravel_app_key": _laravel,
    "django_secret_key": _django,
    "bitcoin_wif": _wif,
    "bitcoin_xprv": _xprv,
    "ethereum_key": _eth_key,
    "seed_phrase": _seed_phrase,
    "docker_auths": _docker_auths,
    "dockerconfigjson": _dockerconfigjson,
    "kubernetes_secret": _kubernetes_secret,
    "kubernetes_secret_json": _kubernetes_secret_json,
    "go_var": _go_var,
    "xml_element": _xml_element,
    "add_key_password": _add_key,
    "php_concat": _php_concat,
    "set_property": _set_property,
    "makefile_assignment": _makefile_assignment,
    "long_value": _long_value,
    "passphrase": _passphrase,
    "basic_jwt": _basic_jwt,
    "github_bad_checksum": _github_bad_checksum,
}
SECRETS.update(ISSUE_15_SECRETS)


# --- lookalikes of issue 15's families: documented examples, templates, public ids ------


def _documented_examples(rng):
    return sample(
        rng.choice(
            [
                "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                'stripe.api_key = "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx"',
                "SLACK_TOKEN=xoxb-your-token-here",
                "token: your-token-here",
                "API_TOKEN=${API_TOKEN}",
                "password: @@DB_PASSWORD@@",
                "client_secret: XXXX-XXXX-XXXX-XXXX",
                "<apiToken>${API_TOKEN}</apiToken>",
                'System.setProperty("API_TOKEN", System.getenv("API_TOKEN"));',
                "API_TOKEN ?= $(shell cat .token)",
            ]
        )
    )


def _ids_and_ownership(rng):
    return sample(
        rng.choice(
            [
                f"docker run --rm -u {rng.randrange(1000, 2000)}:{rng.randrange(1000, 2000)} app",
                "ps -u www-data -o pid,cmd",
                'curl -u "$API_USER:$API_PASSWORD" https://api.example.com',
                f"wallet_address: 0x{rand(rng, HEX, 40)}",
                f"bitcoin:1{rand(rng, BASE58, 33)}",
                f'"transactionHash": "0x{rand(rng, HEX, 64)}"',
                f"seed: {rng.randrange(99999)}",
                "APP_NAME=acme\nAPP_URL=https://acme.example.com\nAPP_KEY=\nLOG_LEVEL=debug",
            ]
        )
    )


def _messages_next_to_names(rng):
    return sample(
        rng.choice(
            [
                '"password": "Must be at least 8 characters."',
                "{'token': 'Your session has expired, please sign in again.'}",
                "<passwordHint>Use a long passphrase.</passwordHint>",
                "<tokenType>Bearer</tokenType>",
                '<add key="PasswordLength" value="12" />',
                '<add key="Username" value="ci-bot" />',
                "var tokenCount int = 5",
                'password: "%s is not a valid password"',
            ]
        )
    )


def _config_maps(rng):
    return sample(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n"
        f"  LOG_LEVEL: info\n  FEATURE_FLAGS: checkout,search\n  BUILD: {rand(rng, HEX, 12)}\n"
    )


def _makefile_settings(rng):
    version = f"{rng.randrange(9)}.{rng.randrange(20)}.{rng.randrange(40)}"
    return sample(
        f"VERSION ?= {version}\nGIT_SHA := $(shell git rev-parse HEAD)\n"
        f"IMAGE ::= registry.example.com/app:{rand(rng, HEX, 12)}\nTOKEN_FILE ?= .token"
    )


LOOKALIKES.update(
    {
        "documented_example": _documented_examples,
        "ids_and_ownership": _ids_and_ownership,
        "message_next_to_name": _messages_next_to_names,
        "config_map": _config_maps,
        "makefile_settings": _makefile_settings,
    }
)


# --- more contexts: configuration and scripts -------------------------------------------


def _in_yaml(s: Sample) -> Sample:
    return _wrap(
        "service: checkout\nreplicas: 3\nnotes: |\n    ",
        s.map(lambda text: text.replace("\n", "\n    ")),
        "\nresources:\n  limits:\n    memory: 256Mi\n",
    )


def _in_xml(s: Sample) -> Sample:
    from xml.sax.saxutils import escape

    return _wrap(
        '<?xml version="1.0" encoding="utf-8"?>\n<report><entry level="error">',
        s.map(escape),
        "</entry></report>\n",
    )


def _in_env(s: Sample) -> Sample:
    return _wrap(
        "# production settings\nAPP_ENV=production\nLOG_LEVEL=info\n", s, "\nDEBUG=false\n"
    )


def _in_makefile(s: Sample) -> Sample:
    return _wrap(".PHONY: deploy\n", s, "\n\ndeploy:\n\t./scripts/deploy.sh $(VERSION)\n")


def _in_shell(s: Sample) -> Sample:
    return _wrap("#!/bin/sh\nset -eu\n", s, '\necho "done"\n')


CONTEXTS.update(
    {"yaml": _in_yaml, "xml": _in_xml, "env": _in_env, "makefile": _in_makefile, "shell": _in_shell}
)

# Formats that cannot survive a context: a YAML manifest's lines once its newlines are
# escaped into a JSON string or a header value, or re-indented into a block scalar.
UNFIT_CONTEXTS: dict[str, frozenset[str]] = {
    "kubernetes_secret": frozenset({"json", "headers"}),
}


def fits(family: str, context: str) -> bool:
    """Whether ``family``'s format survives being carried in ``context``."""
    return context not in UNFIT_CONTEXTS.get(family, frozenset())
