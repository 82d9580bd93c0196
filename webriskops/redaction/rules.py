"""The secret families: what each looks like, as data.

Each rule is a byte pattern for RE2 with at most one capturing group, the part that is
replaced (the whole match when there is none), and the kind named in the marker. A
``check`` runs on candidates only, so it may be as thorough as it likes: checksums,
entropy, the name a value is assigned to.

Formats come from the issuers' documentation; the public rule lists of gitleaks and
detect-secrets served as a checklist of families (see docs/redaction.md). The rules
added for issue 15 are written from the vendors' documented formats.
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
OPERATOR = rb"(?:=>|:{1,3}=|[.?+|]=|\?\?=|\|\|=|[:=])"
# A type between a name and its operator: ``var token string =``, ``val token: String =``.
_TYPE = rb"(?:\s{0,4}:?\s{1,4}(?:string|String|str|&str|\[\]byte|SecureString))?"
_ASSIGN = rb"\\{0,2}[\"'`]?" + _TYPE + rb"\s{0,4}" + OPERATOR + rb"\s{0,4}\\{0,2}[\"'`]?"
# The same, with the value's opening quote required.
_ASSIGN_OPEN = rb"\\{0,2}[\"'`]?" + _TYPE + rb"\s{0,4}" + OPERATOR + rb"\s{0,4}\\{0,2}[\"'`]"
# Inside quotes: anything but line breaks, quotes, backslashes and the brackets of a
# marker; spaces are kept, so a passphrase is redacted whole (checks.assignment judges).
_QUOTED_VALUE = rb"[^\r\n\"'`\\\[\]]"
# A quote, also escaped inside a JSON string (``\"``).
_Q = rb"\\{0,2}[\"']"
# Names that say a vendor (checks.vendor_value names the kind after it); the short ones
# must start a word (``DD_API_KEY``, not ``address_key``).
_VENDOR = (
    rb"(?:(?i:adobe|alibaba|aliyun|asana|discord|facebook|heroku|mailgun|datadog|twilio|"
    rb"planetscale|pscale|square|jfrog|artifactory|messagebird|message_bird|twitter|"
    rb"cloudflare|flyio|atlassian|jira|confluence|etsy|easypost|sumologic|sumo|sourcegraph|"
    rb"telegram|huggingface|hugging_face)|\b(?i:dd|cf|fb|hf|fly))"
)
_VENDOR_SECRET_WORD = (
    rb"(?i:key|token|secret|pass(?:word)?|pwd|auth|credentials?|access[_\-]?id|"
    rb"client[_\-]?id|app[_\-]?id|account[_\-]?id)"
)
# Django's key alphabet; ``&`` may come HTML-escaped.
_DJANGO = rb"(?:[a-z0-9!@#$%^*(\-_=+)]|&(?:amp;)?)"
# A key: Django generates 50 characters of that alphabet, which holds ``(`` and ``)``,
# so a bracket right after them is the text's (``os.environ.get(...)``, ``(KEY=…)``),
# and so is what follows it (``(KEY=…)a``): past 50 the key runs on only up to its
# first bracket. A shorter key (40 at least) ends in a character that is not one. The
# count starts after the ``django-insecure-`` prefix, where the key is named too.
_DJANGO_NO_BRACKET = rb"(?:[a-z0-9!@#$%^*\-_=+]|&(?:amp;)?)"
_DJANGO_KEY = (
    rb"(?:"
    + _DJANGO
    + rb"{50}"
    + _DJANGO_NO_BRACKET
    + rb"*|"
    + _DJANGO
    + rb"{39,48}"
    + _DJANGO_NO_BRACKET
    + rb")"
)
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
        # The legacy key is a UUID, a secret only by the name it is assigned to; the
        # name may go on after its key word (``HEROKU_API_KEY_PROD``, ``heroku_token_ci``).
        "heroku_api_key",
        rb"(?i:heroku)[A-Za-z0-9_.\-]{0,20}(?i:key|token)[A-Za-z0-9_.\-]{0,20}"
        + _ASSIGN
        + rb"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b",
        checks.secret_name,
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
    # --- families added from the vendors' documented formats (issue 15)
    Rule(
        "adobe_client_secret",
        rb"\b(p8e-[A-Za-z0-9_\-]{32,})(?:[^A-Za-z0-9_\-]|$)",
        checks.named_value,
    ),
    Rule("alibaba_access_key_id", rb"\b(LTAI[A-Za-z0-9]{12,24})\b", checks.named_value),
    Rule(
        "asana_token",
        rb"\b([0-9]{1,2}/[0-9]{12,20}(?:/[0-9]{12,20})?:[A-Za-z0-9]{32})\b",
        checks.named_value,
    ),
    Rule("sourcegraph_token", rb"\b(sgp_(?:[A-Fa-f0-9]{16}_|local_)?[A-Fa-f0-9]{40})\b"),
    Rule("huggingface_token", rb"\b(api_org_[A-Za-z]{34})\b"),
    Rule("planetscale_token", rb"\b(pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_\-.=]{32,})"),
    Rule("easypost_api_key", rb"\b(EZ[AT]K[A-Za-z0-9]{54})\b"),
    Rule("jfrog_token", rb"\b(AKCp[A-Za-z0-9]{60,}|cmVmdGtuOjAxOj[A-Za-z0-9]{40,})\b"),
    Rule("cloudflare_origin_ca_key", rb"\b(v1\.0-[A-Fa-f0-9]{24}-[A-Fa-f0-9]{140,})\b"),
    Rule(
        "flyio_token",
        rb"\b((?:fo1_|fm1[ar]_|fm2_)[A-Za-z0-9+/_=\-]{30,})",
        checks.named_value,
    ),
    Rule(
        "onepassword_secret_key",
        rb"\b(A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b",
    ),
    Rule("onepassword_service_token", rb"\b(ops_eyJ[A-Za-z0-9+/=_\-]{100,})"),
    Rule(
        "azure_ad_client_secret",
        rb"(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)",
        checks.named_value,
    ),
    Rule(
        "facebook_access_token",
        rb"\b(EAA[A-Za-z0-9]{90,})\b",
        checks.named_value,
    ),
    Rule(
        "msteams_webhook_url",
        rb"(?i:\.webhook\.office\.com|outlook\.office\.com)/webhook(?:b2)?/([A-Za-z0-9@/_\-]{40,})",
    ),
    Rule(
        "sidekiq_secret",
        rb"(?i:BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM)"
        + _ASSIGN
        + rb"([a-fA-F0-9]{8}:[a-fA-F0-9]{8})\b",
    ),
    Rule(
        "laravel_app_key",
        rb"(?i:APP_KEY)" + _ASSIGN + rb"(base64:[A-Za-z0-9+/]{32,}={0,2})",
    ),
    Rule(
        "django_secret_key",
        rb"\b(django-insecure-" + _DJANGO_KEY + rb")",
    ),
    Rule(
        "django_secret_key",
        rb"(?i:django[_.\-]?)?SECRET_KEY"
        + _ASSIGN
        + rb"((?:django-insecure-)?"
        + _DJANGO_KEY
        + rb")",
        checks.named_value,
    ),
    Rule(
        "crypto_private_key",
        rb"\b((?:xprv|tprv|yprv|zprv)[1-9A-HJ-NP-Za-km-z]{100,112})\b",
    ),
    Rule("crypto_private_key", rb"\b([5KLc][1-9A-HJ-NP-Za-km-z]{50,51})\b", checks.bitcoin_wif),
    Rule(
        "crypto_private_key",
        rb"(?i:wallet|eth|ethereum|evm|priv|private|deployer|signer|account|mnemonic|solana)"
        rb"[A-Za-z0-9_.\-]{0,24}(?i:key|secret|pk)[A-Za-z0-9_.\-]{0,12}"
        + _ASSIGN
        + rb"((?:0x)?[a-fA-F0-9]{64})\b",
        checks.named_value,
    ),
    Rule(
        "crypto_seed_phrase",
        rb"(?i:mnemonic|seed[_\-]?phrase|recovery[_\-]?phrase|secret[_\-]?phrase|wallet[_\-]?seed|"
        rb"seed[_\-]?words|seed)[A-Za-z0-9_.\-]{0,16}"
        + _ASSIGN
        + rb"([a-z]{3,8}(?:[ \t]{1,2}[a-z]{3,8}){11,23})\b",
        checks.seed_phrase,
    ),
    Rule("docker_config", rb"\b(eyJhdXRocyI6[A-Za-z0-9+/=]{20,})"),
    Rule(
        "docker_registry_auth",
        rb"\\{0,2}\"auth\\{0,2}\"\s{0,4}:\s{0,4}\\{0,2}\"([A-Za-z0-9+/]{8,}={0,2})\\{0,2}\"",
        checks.basic_auth,
    ),
    Rule(
        "gcp_private_key",
        rb"\\{0,2}\"private_key\\{0,2}\"\s{0,4}:\s{0,4}\\{0,2}\""
        rb"((?:[^\"\\]|\\{1,2}[^\"\\]){8,})\\{0,2}\"",
        checks.named_value,
    ),
    # Kubernetes Secret manifests: the engine parses the document's data/stringData.
    Rule(
        "kubernetes_secret",
        rb"(?m:^[ \t]{0,16}kind:[ \t]{0,4}[\"']?Secret[\"']?[ \t]*$)|"
        rb"\\{0,2}\"kind\\{0,2}\"\s{0,4}:\s{0,4}\\{0,2}\"Secret\\{0,2}\"",
    ),
    # curl's credentials: ``-u user:password`` and ``--user=user:password``.
    Rule(
        "curl_credentials",
        rb"(?:^|[\s'\"])(?:-u|--user)(?:\s{1,4}|=)[\"']?([^\s'\":@]+:[^\s'\"]+)",
        checks.curl_user,
    ),
    # Secrets named by a vendor (``MESSAGEBIRD_API_KEY``, ``twitter_consumer_secret``,
    # ``asana_client_id``): the value's name says what it is.
    Rule(
        "vendor_secret",
        _VENDOR
        + rb"[A-Za-z0-9_.\-]{0,24}"
        + _VENDOR_SECRET_WORD
        + rb"[A-Za-z0-9_.\-]{0,20}"
        + _ASSIGN
        + rb"([A-Za-z0-9_\-+/=.~:]{10,})",
        checks.vendor_value,
    ),
    Rule(
        "telegram_bot_token",
        rb"\b([0-9]{5,16}:AA[A-Za-z0-9_\-]{30,40})(?:[^A-Za-z0-9_\-]|$)",
    ),
    # ``<add key="ClearTextPassword" value="…"/>`` (NuGet, .NET appSettings).
    Rule(
        "config_secret",
        rb"(?:<|&lt;)add\s{1,4}key\s{0,2}=\s{0,2}"
        + _Q
        + rb"(?i:[A-Za-z0-9_.:\-]{0,32}(?:pass(?:word)?|pwd|secret|token|api[_\-]?key|apikey|"
        rb"credential|connectionstring)[A-Za-z0-9_.:\-]{0,32})"
        + _Q
        + rb"\s{1,4}value\s{0,2}=\s{0,2}"
        + _Q
        + rb"([^\"'\\<>\r\n]{1,})"
        + _Q,
        checks.config_value,
    ),
    # ``System.setProperty("X_TOKEN", "…")``, ``os.Setenv("API_KEY", "…")``.
    Rule(
        "generic_secret",
        rb"(?i:setProperty|setenv|putenv|SetEnvironmentVariable|setItem|setHeader)\s{0,2}\(\s{0,2}"
        + _Q
        + rb"[A-Za-z0-9_.\-]{0,24}"
        + _SECRET_NAME
        + _Q
        + rb"\s{0,4},\s{0,4}"
        + _Q
        + rb"([^\r\n\"'`\\\[\]]{6,})"
        + _Q,
        checks.assignment,
    ),
    # ``<apiToken>…</apiToken>``, also HTML-escaped.
    Rule(
        "generic_secret",
        rb"(?:<|&lt;)[A-Za-z0-9_:.\-]{0,24}"
        + _SECRET_NAME
        + rb"(?:>|&gt;)((?:[^<>&\r\n]|&amp;){6,}?)(?:</|&lt;/)",
        checks.assignment,
    ),
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
    # A JWT sent as Basic credentials keeps its payload and signature after the dots.
    Rule(
        "basic_auth",
        rb"(?i:\bbasic)\s+([A-Za-z0-9+/_\-]{8,}={0,2}(?:\.[A-Za-z0-9_\-]+){0,2})",
        checks.basic_auth,
    ),
    Rule(
        "url_password",
        # The whole userinfo is captured; the engine redacts the password, and the user
        # too when the user part is itself a credential (checks.user_is_credential).
        rb"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://([^\s:/@\"'<>\[\]]*:[^\s@/\"'<>\[\]]+)@",
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
