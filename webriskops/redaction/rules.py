"""The secret families: what each looks like, as data.

Each rule is a byte pattern for RE2 with at most one capturing group, the part that is
replaced (the whole match when there is none), and the kind named in the marker. A
``check`` runs on candidates only, so it may be as thorough as it likes: checksums,
entropy, the name a value is assigned to.

Formats come from the issuers' documentation and the public rule lists of gitleaks and
detect-secrets (see docs/redaction.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from webriskops.redaction import checks

# Characters that may never start or continue a replaced value: markers we wrote
# (``[REDACTED:kind]``) must not match again, or redaction would not be idempotent.
_VALUE = rb"[^\s\"'`,;&<>\[\]{}()\\|]"
# Between a secret-like name and its value: ``=``, ``:``, ``=>`` or ``:=``, with the quotes
# of JSON, YAML or code around either side, also when the text is itself a JSON string
# (``\"password\": \"…\"``, common in logged payloads).
_ASSIGN = rb"\\{0,2}[\"'`]?\s{0,4}(?:=>|:=|[:=])\s{0,4}\\{0,2}[\"'`]?"
# The same, with the value's opening quote required.
_ASSIGN_OPEN = rb"\\{0,2}[\"'`]?\s{0,4}(?:=>|:=|[:=])\s{0,4}\\{0,2}[\"'`]"
# Inside quotes: anything but whitespace, quotes, backslashes and the brackets of a marker.
_QUOTED_VALUE = rb"[^\s\"'`\\\[\]]"
# Names whose value is a secret when it looks like one (checks.assignment decides).
_SECRET_NAME = (
    rb"(?i:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|"
    rb"private[_\-]?key|credentials?|auth|sessid|session(?:[_\-]?(?:id|key|token))?|jsessionid|"
    rb"phpsessid|sid|signing[_\-]?key|encryption[_\-]?key|salt|signature)"
    rb"[A-Za-z0-9_.\-]{0,24}"
)


@dataclass(frozen=True)
class Rule:
    """One secret family."""

    kind: str
    pattern: bytes
    check: Callable[[bytes, int, int, str], str | None] | None = None
    # ``check(text, start, end, kind)`` returns the kind to report, or None to keep the value.


def _b64(n: str) -> bytes:
    return rb"[A-Za-z0-9+/]{" + n.encode() + rb"}"


RULES: tuple[Rule, ...] = (
    # --- private keys: the header is matched here, the block's end is found by the engine
    Rule(
        "private_key",
        rb"-----BEGIN[ A-Z0-9]{0,24}PRIVATE KEY(?: BLOCK)?-----",
        checks.pem_kind,
    ),
    # --- cloud providers
    Rule(
        "aws_access_key_id",
        rb"\b((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16})\b",
    ),
    Rule(
        "aws_secret_access_key",
        rb"(?i:aws)[A-Za-z0-9_.\-]{0,24}(?i:secret|sk)[A-Za-z0-9_.\-]{0,16}"
        + _ASSIGN
        + rb"([A-Za-z0-9/+]{40})",
        checks.not_followed_by_base64,
    ),
    Rule("gcp_api_key", rb"\b(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)"),
    Rule(
        "gcp_private_key_id",
        rb"\"private_key_id\\{0,2}\"\s{0,4}:\s{0,4}\\{0,2}\"([a-f0-9]{40})\\{0,2}\"",
    ),
    Rule("azure_storage_key", rb"(?i:AccountKey)=(" + _b64("86") + rb"==)"),
    Rule("azure_sas_signature", rb"[?&;](?i:sig)=([A-Za-z0-9%+/=]{40,120})"),
    Rule("digitalocean_token", rb"\b(do[opr]_v1_[a-f0-9]{64})\b"),
    Rule("heroku_api_key", rb"\b(HRKU-[A-Za-z0-9_\-]{60})(?:[^A-Za-z0-9_\-]|$)"),
    Rule(
        # The legacy key is a UUID, a secret only by the name it is assigned to.
        "heroku_api_key",
        rb"(?i:heroku)[A-Za-z0-9_.\-]{0,20}(?i:key|token)"
        + _ASSIGN
        + rb"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b",
    ),
    Rule("hashicorp_vault_token", rb"\b(hv[sb]\.[A-Za-z0-9_\-]{24,200})(?:[^A-Za-z0-9_\-]|$)"),
    Rule("terraform_cloud_token", rb"\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,70})"),
    Rule("pulumi_access_token", rb"\b(pul-[a-f0-9]{40})\b"),
    Rule("supabase_access_token", rb"\b(sbp_[a-f0-9]{40})\b"),
    # --- source control, packages, CI
    Rule("github_token", rb"\b(gh[pousr]_[A-Za-z0-9]{36})\b", checks.github_token),
    Rule("github_fine_grained_token", rb"\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b"),
    Rule(
        "gitlab_token",
        rb"\b((?:glpat|gldt|glptt|glft|glsoat|glrt|glimt|glagent|gloas)-[A-Za-z0-9_\-]{20,64}|GR1348941[A-Za-z0-9_\-]{20,40})",
    ),
    Rule("bitbucket_app_password", rb"\b(ATBB[A-Za-z0-9]{28,64})\b"),
    Rule("npm_token", rb"\b(npm_[A-Za-z0-9]{36})\b", checks.npm_token),
    Rule("pypi_token", rb"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,300})"),
    Rule("rubygems_api_key", rb"\b(rubygems_[a-f0-9]{48})\b"),
    Rule("dockerhub_token", rb"\b(dckr_pat_[A-Za-z0-9_\-]{27})(?:[^A-Za-z0-9_\-]|$)"),
    Rule("atlassian_api_token", rb"\b(AT(?:ATT|CTT)3[A-Za-z0-9_\-=]{150,250})"),
    Rule("linear_api_key", rb"\b(lin_(?:api|oauth)_[A-Za-z0-9]{40,64})\b"),
    Rule("notion_token", rb"\b(secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35})\b"),
    Rule("airtable_token", rb"\b(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})\b"),
    Rule("figma_token", rb"\b(figd_[A-Za-z0-9_\-]{40})"),
    Rule("grafana_token", rb"\b(glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2})"),
    Rule("postman_api_key", rb"\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b"),
    Rule("doppler_token", rb"\b(dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,44})\b"),
    Rule("age_secret_key", rb"\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b"),
    # --- payments
    Rule(
        "stripe_secret_key",
        rb"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,247})\b",
        checks.stripe_kind,
    ),
    Rule("stripe_webhook_secret", rb"\b(whsec_[A-Za-z0-9+/=]{32,64})"),
    Rule(
        "square_access_token",
        rb"\b(EAAA[A-Za-z0-9_\-]{60}|sq0atp-[A-Za-z0-9_\-]{22}|sq0csp-[A-Za-z0-9_\-]{43})",
        checks.standalone,
    ),
    Rule(
        "braintree_access_token",
        rb"(access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32})",
    ),
    Rule(
        "paypal_client_secret",
        rb"(?i:paypal)[A-Za-z0-9_.\-]{0,20}(?i:secret)[A-Za-z0-9_.\-]{0,10}"
        + _ASSIGN
        + rb"([A-Za-z0-9_\-]{60,90})",
    ),
    Rule("shopify_token", rb"\b(shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32})\b"),
    # --- messaging, mail, chat
    Rule("twilio_api_key", rb"\b(SK[0-9a-f]{32})\b"),
    Rule(
        "twilio_auth_token",
        rb"(?i:twilio)[A-Za-z0-9_.\-]{0,20}(?i:token|secret)[A-Za-z0-9_.\-]{0,10}"
        + _ASSIGN
        + rb"([a-f0-9]{32})\b",
    ),
    Rule(
        "sendgrid_api_key", rb"\b(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})(?:[^A-Za-z0-9_\-]|$)"
    ),
    Rule("mailgun_api_key", rb"\b(key-[0-9a-f]{32})\b"),
    Rule("mailchimp_api_key", rb"\b([0-9a-f]{32}-us[0-9]{1,2})\b"),
    Rule(
        "slack_token",
        rb"\b(xox[baprse]-[A-Za-z0-9\-]{10,250}|xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,16}-[a-f0-9]{32,80})",
    ),
    Rule(
        "slack_webhook_url",
        rb"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9_/\-]{20,120})",
    ),
    Rule(
        "discord_webhook_url",
        rb"discord(?:app)?\.com/api/webhooks/[0-9]{15,22}/([A-Za-z0-9_\-]{60,68})",
    ),
    Rule(
        "discord_bot_token",
        rb"\b([MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40})(?:[^A-Za-z0-9_\-]|$)",
    ),
    Rule("telegram_bot_token", rb"\b([0-9]{8,10}:AA[A-Za-z0-9_\-]{33})(?:[^A-Za-z0-9_\-]|$)"),
    Rule("twitter_bearer_token", rb"\b(A{22}[A-Za-z0-9%]{60,120})", checks.standalone),
    Rule("mapbox_secret_token", rb"\b(sk\.eyJ[A-Za-z0-9_\-]{20,160}\.[A-Za-z0-9_\-]{20,40})"),
    Rule("dropbox_token", rb"\b(sl\.[A-Za-z0-9_\-]{130,160})"),
    # --- AI
    Rule("anthropic_api_key", rb"\b(sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_\-]{80,120})"),
    Rule(
        "openai_api_key",
        rb"\b(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,200}T3BlbkFJ[A-Za-z0-9_\-]{20,200}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,200})",
    ),
    Rule("huggingface_token", rb"\b(hf_[A-Za-z]{34})\b"),
    # --- monitoring
    Rule(
        "datadog_api_key",
        rb"(?i:dd|datadog)[_\-]?(?i:api|app)[_\-]?(?i:key)"
        + _ASSIGN
        + rb"([a-f0-9]{32}(?:[a-f0-9]{8})?)\b",
    ),
    Rule("newrelic_key", rb"\b(NR(?:AK|II|JS|RA|IQ)-[A-Za-z0-9]{20,42}|[a-f0-9]{36}NRAL)\b"),
    Rule(
        "sentry_dsn",
        rb"https?://([a-f0-9]{32}:[a-f0-9]{32})@[A-Za-z0-9.\-]+(?::[0-9]+)?/[0-9]+",
    ),
    Rule("sentry_token", rb"\b(sntry[su]_[A-Za-z0-9+/=_]{60,200})"),
    Rule("okta_api_token", rb"(?i:SSWS)\s+(00[A-Za-z0-9_\-]{40})(?:[^A-Za-z0-9_\-]|$)"),
    # --- notifications
    Rule("fcm_server_key", rb"\b(AAAA[A-Za-z0-9_\-]{7}:APA91b[A-Za-z0-9_\-]{130,160})"),
    # --- generic shapes
    Rule(
        "jwt",
        rb"\b(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{8,})",
        checks.jwt,
    ),
    # Other schemes of an Authorization header written out in text (``token`` for GitHub,
    # ``Bot`` for Discord, AWS SigV4, Digest...): the credentials run to the end of the
    # line or the quote that closes the header in code.
    Rule(
        "authorization",
        rb"(?i:authorization)\\{0,2}[\"']?\s{0,4}[:=]\s{0,4}\\{0,2}[\"']?"
        rb"(?i:token|bot|apikey|api-key|key|hmac|signature|sharedkey|sharedkeylite|"
        rb"aws4-hmac-sha256|aws|negotiate|ntlm|dpop|oauth|gssapi)"
        rb"\s{1,4}([^\s\"'`\\<>\[\]][^\r\n\"'`\\<>\[\]]{7,})",
        checks.authorization,
    ),
    Rule("bearer_token", rb"(?i:\bbearer)\s+([A-Za-z0-9_\-.~+/]{16,}=*)", checks.bearer),
    Rule("basic_auth", rb"(?i:\bbasic)\s+([A-Za-z0-9+/]{8,}={0,2})", checks.basic_auth),
    Rule(
        "url_password",
        rb"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s:/@\"'<>\[\]]*:([^\s@/\"'<>\[\]]+)@",
        checks.url_password,
    ),
    Rule(
        "query_secret",
        rb"[?&;#](?i:access_token|refresh_token|id_token|oauth_token|token|auth|auth_token|api_key|apikey|api-key|key|access_key|secret_key|app_secret|secret|client_secret|password|passwd|pwd|pass|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|code|session|sessionid|session_id|jsessionid|phpsessid|sid|jwt|private_token|ticket|hash_secret)=([^&;\s#?\"'<>\[\]]+)",
        checks.query_value,
    ),
    # The header and its first cookie name are matched here; the engine parses the rest
    # of the line, as far as a quote or backslash when it is quoted in code or a JSON
    # string (cookie values may contain neither).
    Rule("cookie", rb"(?i:\b(?:set-)?cookie)\s{0,2}:\s{0,2}([^\s=;,\"\\<>]+=)", None),
    # Values shorter than 6 are never secrets by name alone (``token:e.token`` in every
    # minified bundle), so they are not even candidates.
    # A quoted value runs to its closing quote, so ``&``, ``;`` or ``,`` inside a quoted
    # password do not cut it short; listed first, it wins over the unquoted form below
    # when both match at the same name (RE2 alternation is leftmost-first).
    Rule(
        "generic_secret",
        _SECRET_NAME + _ASSIGN_OPEN + rb"(" + _QUOTED_VALUE + rb"{6,})\\{0,2}[\"'`]",
        checks.assignment,
    ),
    Rule(
        "generic_secret",
        _SECRET_NAME + _ASSIGN + rb"(" + _VALUE + rb"{6,})",
        checks.assignment,
    ),
)
