"""A held-out-style corpus for redaction: secrets and PII that must not survive, look-alikes that must.

Written the way a reviewer would probe the redactor, not from its patterns: each leak names what a person
would call it (the summary counts by that), where it appears (a text field or metadata at some depth) and
the text that must be gone afterwards. Look-alikes must come through unchanged even with the optional
phone and IP rules on. Token-shaped values are generated from a seed, so no credential-shaped literal sits
in the repository for a secret scanner to flag, and every run sees the same values.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass
from typing import Any

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"


def fake(prefix: str, length: int, alphabet: str = ALNUM, *, seed: str = "") -> str:
    """`prefix` and `length` characters drawn from `alphabet`, the same on every run."""
    rng = random.Random(f"{prefix}|{length}|{seed}")
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class Leak:
    category: str
    given: Any  # a string for a text field, a dict or list for metadata
    secrets: tuple[str, ...]  # text that must not survive anywhere in the record
    field: str = "message"


@dataclass(frozen=True)
class LookAlike:
    category: str
    given: Any
    field: str = "message"


def leak(category: str, given: Any, *secrets: str, field: str = "") -> Leak:
    return Leak(category, given, secrets, field or ("message" if isinstance(given, str) else "metadata"))


def alike(category: str, given: Any, field: str = "") -> LookAlike:
    return LookAlike(category, given, field or ("message" if isinstance(given, str) else "metadata"))


def pem(kind: str, seed: str, lines: int = 4, newline: str = "\n") -> tuple[str, str]:
    """A private key block and its first body line (the part that must not survive)."""
    body = [fake("", 64, ALNUM + "+/", seed=f"{seed}{i}") for i in range(lines)]
    block = newline.join([f"-----BEGIN {kind}-----", *body, f"-----END {kind}-----"])
    return block, body[0]


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
JWE = (
    "eyJhbGciOiJSU0EtT0FFUCJ9.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe"
    ".48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ"
)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
RSA_KEY, RSA_LINE = pem("RSA PRIVATE KEY", "rsa")
EC_KEY, EC_LINE = pem("EC PRIVATE KEY", "ec", 2)
SSH_KEY, SSH_LINE = pem("OPENSSH PRIVATE KEY", "ssh")
PKCS8_ESCAPED, PKCS8_LINE = pem("PRIVATE KEY", "pkcs8", 3, newline="\\n")
ENCRYPTED_KEY, ENCRYPTED_LINE = pem("ENCRYPTED PRIVATE KEY", "enc", 3)
PGP_KEY, PGP_LINE = pem("PGP PRIVATE KEY BLOCK", "pgp", 3)
TLS_KEY, TLS_LINE = pem("PRIVATE KEY", "tls", 3)
K8S_KEY = base64.b64encode(pem("RSA PRIVATE KEY", "k8s")[0].encode()).decode()

STRIPE_LIVE = fake("sk_live_", 24, seed="a")
STRIPE_TEST = fake("sk_test_", 24, seed="b")
STRIPE_RESTRICTED = fake("rk_live_", 24, seed="c")
STRIPE_PUBLISHABLE = fake("pk_test_", 24, seed="d")
STRIPE_WEBHOOK = fake("whsec_", 32, seed="e")
SLACK_BOT = "xoxb-" + fake("", 12, string.digits) + "-" + fake("", 13, string.digits) + "-" + fake("", 24)
SLACK_USER = "-".join(["xoxp", fake("", 12, string.digits), fake("", 12, string.digits), fake("", 13, string.digits)])
SLACK_USER += "-" + fake("", 32, HEX)
SLACK_APP = "xapp-1-" + fake("A", 10, string.ascii_uppercase + string.digits) + "-" + fake("", 13, string.digits)
SLACK_APP += "-" + fake("", 64, HEX)
SLACK_HOOK = fake("T", 8, string.ascii_uppercase + string.digits) + "/" + fake("B", 10, string.ascii_uppercase)
SLACK_HOOK += "/" + fake("", 24)
DISCORD_HOOK = fake("", 18, string.digits) + "/" + fake("", 68, URLSAFE)
GITHUB = {prefix: fake(prefix, 36, seed=prefix) for prefix in ("ghp_", "gho_", "ghs_", "ghr_", "ghu_")}
GITHUB_FINE = fake("github_pat_", 22) + "_" + fake("", 59)
GOOGLE_KEY = fake("AIza", 35, URLSAFE)
GOOGLE_SECRET = fake("GOCSPX-", 28, URLSAFE)
NPM = fake("npm_", 36)
GITLAB = fake("glpat-", 20, URLSAFE)
ANTHROPIC = fake("sk-ant-api03-", 95, URLSAFE)
OPENAI = fake("sk-proj-", 120, URLSAFE)
SENDGRID = fake("SG.", 22, URLSAFE) + fake(".", 43, URLSAFE)
HUGGING_FACE = fake("hf_", 34, string.ascii_letters)
PYPI = fake("pypi-AgEIcHlwaS5vcmc", 80, URLSAFE)
TELEGRAM = fake("", 10, string.digits, seed="bot") + ":AA" + fake("", 33, URLSAFE)
VAULT = fake("hvs.", 90, URLSAFE)
SHOPIFY = fake("shpat_", 32, HEX)
DIGITALOCEAN = fake("dop_v1_", 64, HEX)
SQUARE = fake("sq0atp-", 22, URLSAFE)
ATLASSIAN = fake("ATATT3", 180, URLSAFE + "=")
POSTMAN = fake("PMAK-", 24, HEX) + fake("-", 34, HEX)
SENTRY = fake("sntrys_", 80, ALNUM + "+/=_")
DATABRICKS = fake("dapi", 32, HEX)
LINEAR = fake("lin_api_", 40)
NEW_RELIC = fake("NRAK-", 27, string.ascii_uppercase + string.digits)
OPAQUE = fake("", 32, seed="opaque")  # a token with no vendor prefix: only its key name gives it away

LEAKS: list[Leak] = [
    # e-mail addresses
    leak("email", "login failed for jane.doe@example.com", "jane.doe@example.com"),
    leak("email", "notify jane+alerts@mail.eu.example.co.uk now", "jane+alerts@mail.eu.example.co.uk"),
    leak("email", "GET /unsubscribe?email=jane%40example.com&list=7", "jane%40example.com"),
    leak("email", "/signup?e=kim%2Bnews%40example.org", "kim%2Bnews%40example.org"),
    leak("email", '{"email":"Bob.Smith@Example.COM","plan":"pro"}', "Bob.Smith@Example.COM"),
    leak("email", '<a href="mailto:ops-team@corp.example.net">mail us</a>', "ops-team@corp.example.net"),
    leak("email", "From: Jane Doe <jane@example.io>", "jane@example.io"),
    leak("email", {"user": {"contact": {"email": "kim@example.kr"}}}, "kim@example.kr"),
    leak("email", {"to": ["a.b@example.com", "c_d@example.de"]}, "a.b@example.com", "c_d@example.de"),
    leak("email", "user josé@ejemplo.es signed up", "josé@ejemplo.es"),
    leak("email", "https://shop.example.com/reset?email=lee%40example.com&t=1", "lee%40example.com", field="page_url"),
    leak("email", "carol@example.org", "carol@example.org", field="user_id"),
    leak(
        "email",
        'ERROR: duplicate key value violates unique constraint "users_email_key"\n'
        "DETAIL: Key (email)=(dup@example.com) already exists.",
        "dup@example.com",
        field="stack_trace",
    ),
    leak("email", "reply-to: Support <support@help.example.travel>.", "support@help.example.travel"),
    # payment cards
    leak("card", "paid with 4111111111111111 ok", "4111111111111111"),
    leak("card", "card 4111 1111 1111 1111 declined", "4111 1111 1111 1111"),
    leak("card", "pan=5555-5555-5555-4444;", "5555-5555-5555-4444"),
    leak("card", "card number 4111.1111.1111.1111 on file", "4111.1111.1111.1111"),
    leak("card", "amex 378282246310005 charged", "378282246310005"),
    leak("card", "amex 3782 822463 10005 charged", "3782 822463 10005"),
    leak("card", "diners 36227206271667", "36227206271667"),
    leak("card", "diners 3622 720627 1667", "3622 720627 1667"),
    leak("card", "Diners Club 3056 9309 0259 04 expired", "3056 9309 0259 04"),
    leak("card", "discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
    leak("card", "jcb=3530111333300000", "3530111333300000"),
    leak("card", "mastercard 2223003122003222", "2223003122003222"),
    leak("card", "unionpay 6212345678901234569", "6212345678901234569"),
    leak("card", {"payment": {"card": 4000056655665556, "amount": 1999}}, "4000056655665556"),
    leak("card", {"billing": {"cc_number": "5105 1051 0510 5100"}}, "5105 1051 0510 5100"),
    leak("card", "card:4242424242424242", "4242424242424242"),
    leak("card", '{"pan": "4012888888881881"}', "4012888888881881"),
    leak("card", "Visa 4012888888881881 3-D Secure failed", "4012888888881881"),
    leak("card", {"card_id": "4000002500003155"}, "4000002500003155"),
    # JWTs
    leak("jwt", f"session {JWT} expired", JWT),
    leak("jwt", f"enc {JWE}.", JWE),
    leak("jwt", f"/callback#id_token={JWT}&state=xyz", JWT, field="page_url"),
    leak("jwt", {"claims": {"raw": JWT}}, JWT),
    # Authorization headers and bearer credentials
    leak("bearer", "Authorization: Bearer abc123.def-456_ghi", "abc123.def-456_ghi"),
    leak("bearer", "authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    leak("bearer", "Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "YWxhZGRpbjpvcGVuc2VzYW1l"),
    leak(
        "bearer",
        "curl -H 'Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b'",
        "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
    ),
    leak("bearer", "retrying with bearer mF_9.B5f-4.1JqM now", "mF_9.B5f-4.1JqM"),
    leak("bearer", "upstream sent Basic Ym9iOnMzY3IzdC1wYXNz to /login", "Ym9iOnMzY3IzdC1wYXNz"),
    leak("bearer", "headers={'Authorization': 'Bearer tok_9f8e7d6c5b', 'Accept': '*/*'}", "tok_9f8e7d6c5b"),
    leak("bearer", {"headers": {"authorization": "Bearer 4f2c9a7e1b"}}, "4f2c9a7e1b"),
    leak(
        "bearer",
        [{"key": "http.request.header.authorization", "value": "Basic QWxhZGRpbjpvcGVu"}],
        "QWxhZGRpbjpvcGVu",
    ),
    # AWS
    leak("aws", "using AKIAIOSFODNN7EXAMPLE today", "AKIAIOSFODNN7EXAMPLE"),
    leak("aws", "sts ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    leak("aws", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET} set", AWS_SECRET),
    leak("aws", f'{{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET),
    leak("aws", f"[default]\naws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET),
    # key=value, headers, config and connection strings
    leak("secret pair", "login password=hunter2 ok", "hunter2"),
    leak("secret pair", "password: hunter2", "hunter2"),
    leak("secret pair", "pwd=letmein&next=/", "letmein"),
    leak("secret pair", "login user=bob pass=hunter2", "hunter2"),
    leak("secret pair", "{'user': 'bob', 'pw': 'pw-value-9'}", "pw-value-9"),
    leak("secret pair", '{"password": "correct horse battery staple", "user": "bob"}', "correct horse battery staple"),
    leak("secret pair", "/cb?access_token=ya-opaque-123&page=2", "ya-opaque-123", field="page_url"),
    leak("secret pair", "client_id=app&client_secret=s3cr3t-value&grant_type=x", "s3cr3t-value"),
    leak("secret pair", "X-Api-Key: abc123def456", "abc123def456"),
    leak("secret pair", "SECRET_KEY = 'django-insecure-9x!k2'", "django-insecure-9x!k2"),
    leak("secret pair", '{"password"=>"hunter2"}', "hunter2"),
    leak("secret pair", '{"password": "hunter', "hunter"),
    leak("secret pair", "DB_PASS=Tr0ub4dor&3 started", "Tr0ub4dor"),
    leak("secret pair", "SMTP_PW=mailpass42", "mailpass42"),
    leak("secret pair", "export DATABASE_PASSWORD='p@ss w0rd'", "p@ss w0rd"),
    leak("secret pair", f"//npm.internal.example.com/:_authToken={OPAQUE}", OPAQUE),
    leak("secret pair", f'"refresh_token": "{OPAQUE}"', OPAQUE),
    leak("secret pair", "ENCRYPTION_KEY=8f14e45fceea167a5a36dedd4bea2543", "8f14e45fceea167a5a36dedd4bea2543"),
    leak(
        "secret pair",
        "DefaultEndpointsProtocol=https;AccountName=logs;AccountKey=bXlzZWNyZXRrZXk0Mg==;EndpointSuffix=core.windows.net",
        "bXlzZWNyZXRrZXk0Mg==",
    ),
    leak("secret pair", "Endpoint=sb://bus.example.net/;SharedAccessKey=c2VjcmV0c2FzMTIz", "c2VjcmV0c2FzMTIz"),
    leak("secret pair", "<Credentials><Password>hunter2</Password></Credentials>", "hunter2"),
    leak("secret pair", "<api_key>abc123xyz</api_key>", "abc123xyz"),
    leak("secret pair", "jdbc:mysql://db:3306/app?user=app&password=jdbcpass1", "jdbcpass1"),
    leak("secret pair", "Server=db;Database=app;User Id=sa;Password=Hunter2!;", "Hunter2!"),
    leak("secret pair", "passphrase: correct-horse", "correct-horse"),
    leak("secret pair", "PGPASSWORD=pgpass77 psql -h db", "pgpass77"),
    leak("secret pair", "x-auth-token: 0c7e4d1a9b", "0c7e4d1a9b"),
    leak("secret pair", "cvv=123 exp=12/29", "cvv=123"),
    leak(
        "secret pair",
        "GET https://bucket.s3.amazonaws.com/k?X-Amz-Credential=x&X-Amz-Signature=" + fake("", 64, HEX),
        fake("", 64, HEX),
    ),
    # cookies
    leak("cookie", "Cookie: sessionid=abc123xyz; csrftoken=q9w8e7", "abc123xyz", "q9w8e7"),
    leak("cookie", "Set-Cookie: id=a3fWa; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly", "a3fWa"),
    leak("cookie", "headers={'Cookie': 'sid=s%3Aabc.def; theme=dark'}", "s%3Aabc.def"),
    leak("cookie", '{"cookie": "remember_me=1f2e3d4c"}', "1f2e3d4c"),
    # command lines
    leak("command line", "exec: app --password hunter2 --verbose", "hunter2"),
    leak("command line", "exec: app --password=hunter2", "hunter2"),
    leak("command line", "deploy --api-key 'k3y with spaces'", "k3y with spaces"),
    leak("command line", "mysql -u root -phunter2 shop", "hunter2"),
    leak("command line", "sshpass -p hunter2 ssh admin@10.0.0.5", "hunter2"),
    leak("command line", "redis-cli -h cache -p 6379 -a r3dispass PING", "r3dispass"),
    leak("command line", "curl -s -u admin:curlpass9 https://api.example.com/health", "curlpass9"),
    leak("command line", "mongosh --host db -u admin -p m0ngopass", "m0ngopass"),
    leak("command line", {"argv": ["app", "--password", "hunter2"]}, "hunter2"),
    leak("command line", {"cmd": ["sshpass", "-p", "sshpw42", "ssh", "host"]}, "sshpw42"),
    leak("command line", {"args": ["/usr/bin/mysql", "-u", "root", "-pmyp4ss"]}, "myp4ss"),
    leak("command line", {"args": ["curl", "-u", "admin:argvpass", "https://x.example"]}, "argvpass"),
    leak("command line", {"process": {"args": ["worker", "--api-token", OPAQUE]}}, OPAQUE),
    # credentials in URLs
    leak("url credentials", "connect postgres://app:pgsecret@db:5432/logs", "pgsecret"),
    leak("url credentials", "redis://:redispw@cache:6379/0", "redispw"),
    leak("url credentials", "mongodb+srv://svc:m0ng0pw@cluster0.example.net/db", "m0ng0pw"),
    leak("url credentials", "amqp://guest:rabbitpw@mq:5672/", "rabbitpw"),
    leak("url credentials", {"dsn": "https://user:basicpw@internal.example.com/api"}, "basicpw"),
    # values under sensitive key names, at any depth
    leak("key name", {"password": "hunter2", "user": "bob"}, "hunter2"),
    leak("key name", {"env": {"DB_PASS": "envpass1"}}, "envpass1"),
    leak("key name", {"env": {"db_passwd": "envpass2", "PATH": "/usr/bin"}}, "envpass2"),
    leak("key name", {"config": {"smtp": {"Password": "smtppass"}}}, "smtppass"),
    leak("key name", {"settings": {"SECRET_KEY": "djangosecret"}}, "djangosecret"),
    leak("key name", {"STRIPE_KEY": "plainstripe1"}, "plainstripe1"),
    leak("key name", {"crypto": {"encryptionKey": "aeskeyvalue"}}, "aeskeyvalue"),
    leak("key name", {"signing_key": "hmackey99"}, "hmackey99"),
    leak("key name", {"headers": {"x-api-key": "hdrkey77"}}, "hdrkey77"),
    leak("key name", {"headers": {"Cookie": "sid=cookieval"}}, "cookieval"),
    leak("key name", {"response": {"set-cookie": ["a=one1", "b=two2"]}}, "one1", "two2"),
    leak("key name", {"db": {"credentials": {"user": "bob", "pass": "credpass"}}}, "credpass"),
    leak("key name", {"auth": {"user": "bob", "pass": "authpass"}}, "authpass"),
    leak("key name", {"login": {"user": "bob", "pass": "plainpass"}}, "plainpass"),
    leak("key name", {"applicant": {"ssn": "536221234"}}, "536221234"),
    leak("key name", {"user_ssn": 536221234}, "536221234"),
    leak("key name", {"citizen": {"rrn": "9001011234568"}}, "9001011234568"),
    leak("key name", {"DB_PW": "pwvalue1"}, "pwvalue1"),
    leak("key name", [{"name": "db.password", "value": "otelpass"}], "otelpass"),
    leak("key name", {"session_token": OPAQUE}, OPAQUE),
    leak("key name", {"api_keys": ["k1value", "k2value"]}, "k1value", "k2value"),
    # private keys, wherever they appear
    leak("private key", f"loaded key\n{RSA_KEY}\nfrom disk", RSA_LINE),
    leak("private key", EC_KEY, EC_LINE),
    leak("private key", f"id_ed25519 contents: {SSH_KEY}", SSH_LINE),
    leak("private key", f'{{"type": "service_account", "private_key": "{PKCS8_ESCAPED}\\n"}}', PKCS8_LINE),
    leak("private key", {"config": {"tls": {"pem": TLS_KEY}}}, TLS_LINE),
    leak("private key", ENCRYPTED_KEY, ENCRYPTED_LINE),
    leak("private key", f"gpg export: {PGP_KEY}", PGP_LINE),
    leak("private key", {"data": {"tls.key": K8S_KEY}}, K8S_KEY),
    leak("private key", f"{RSA_KEY[:200]}", RSA_LINE[:40]),  # a truncated log line: no END marker
    # vendor tokens
    leak("stripe", f"Stripe.api_key = {STRIPE_LIVE}", STRIPE_LIVE),
    leak("stripe", {"stripe": {"client": STRIPE_TEST}}, STRIPE_TEST),
    leak("stripe", f"using restricted key {STRIPE_RESTRICTED}", STRIPE_RESTRICTED),
    leak("stripe", f"checkout init pk={STRIPE_PUBLISHABLE}", STRIPE_PUBLISHABLE),
    leak("stripe", f"webhook secret {STRIPE_WEBHOOK} loaded", STRIPE_WEBHOOK),
    leak("slack", f"slack client token={SLACK_BOT}", SLACK_BOT),
    leak("slack", {"slack": {"user": SLACK_USER}}, SLACK_USER),
    leak("slack", f"socket mode with {SLACK_APP}", SLACK_APP),
    leak("slack", f"POST https://hooks.slack.com/services/{SLACK_HOOK} 200", SLACK_HOOK),
    leak("slack", {"alerts": {"target": f"https://hooks.slack.com/services/{SLACK_HOOK}"}}, SLACK_HOOK),
    leak("webhook", f"discord notify https://discord.com/api/webhooks/{DISCORD_HOOK}", DISCORD_HOOK),
    leak("github", f"git clone https://{GITHUB['ghp_']}@github.com/org/repo", GITHUB["ghp_"]),
    leak("github", f"oauth token {GITHUB['gho_']}", GITHUB["gho_"]),
    leak("github", {"ci": {"GITHUB_TOKEN": GITHUB["ghs_"]}}, GITHUB["ghs_"]),
    leak("github", f"refresh {GITHUB['ghr_']} rotated", GITHUB["ghr_"]),
    leak("github", f"user-to-server {GITHUB['ghu_']}", GITHUB["ghu_"]),
    leak("github", f"GH_TOKEN={GITHUB_FINE}", GITHUB_FINE),
    leak("api token", f"maps?key={GOOGLE_KEY}&q=x", GOOGLE_KEY, field="page_url"),
    leak("api token", {"oauth": {"google": GOOGLE_SECRET}}, GOOGLE_SECRET),
    leak("api token", f"npm publish with {NPM}", NPM),
    leak("api token", f"gitlab {GITLAB} used", GITLAB),
    leak("api token", f"anthropic client {ANTHROPIC}", ANTHROPIC),
    leak("api token", f"OPENAI={OPENAI}", OPENAI),
    leak("api token", f"sendgrid {SENDGRID} rejected", SENDGRID),
    leak("api token", f"hub login {HUGGING_FACE}", HUGGING_FACE),
    leak("api token", f"twine upload -p {PYPI}", PYPI),
    leak("api token", f"https://api.telegram.org/bot{TELEGRAM}/sendMessage", TELEGRAM),
    leak("api token", f"vault token {VAULT}", VAULT),
    leak("api token", f"square client {SQUARE}", SQUARE),
    leak("api token", f"X-Shopify-Access-Token {SHOPIFY}", SHOPIFY),
    leak("api token", {"do": {"client": DIGITALOCEAN}}, DIGITALOCEAN),
    leak("api token", {"jira": {"api": ATLASSIAN}}, ATLASSIAN),
    leak("api token", f"newman --postman-api-key {POSTMAN}", POSTMAN),
    leak("api token", f"sentry-cli using {SENTRY}", SENTRY),
    leak("api token", f"databricks host=x {DATABRICKS}", DATABRICKS),
    leak("api token", f"linear {LINEAR}", LINEAR),
    leak("api token", f"newrelic {NEW_RELIC}", NEW_RELIC),
    # bank accounts and national identifiers
    leak("iban", "refund to DE89 3704 0044 0532 0130 00 today", "DE89 3704 0044 0532 0130 00"),
    leak("iban", "iban=GB82WEST12345698765432", "GB82WEST12345698765432"),
    leak("iban", "IBAN: FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    leak("iban", "payout NL91ABNA0417164300 queued", "NL91ABNA0417164300"),
    leak("iban", {"bank": {"account": "CH93 0076 2011 6238 5295 7"}}, "CH93 0076 2011 6238 5295 7"),
    leak("iban", {"payee": "ES9121000418450200051332"}, "ES9121000418450200051332"),
    leak("iban", "konto NO9386011117947", "NO9386011117947"),
    leak("iban", "sepa debit (IT60X0542811101000000123456)", "IT60X0542811101000000123456"),
    leak("us ssn", "SSN 123-45-6789 on file", "123-45-6789"),
    leak("us ssn", "applicant ssn=219-09-9999", "219-09-9999"),
    leak("us ssn", {"applicant": {"tax": "078-05-1120"}}, "078-05-1120"),
    leak("us ssn", "SSN: 536 22 1234", "536 22 1234"),
    leak("us ssn", "ssn# 536221234 verified", "536221234"),
    leak("kr rrn", "주민등록번호 900101-1234568 확인", "900101-1234568"),
    leak("kr rrn", "resident 850315-2123450 verified", "850315-2123450"),
    leak("kr rrn", {"customer": {"id_number": "780923-1122336"}}, "780923-1122336"),
    leak("kr rrn", "외국인 950707-5234562", "950707-5234562"),
    leak("kr rrn", "주민번호: 210315-3123456", "210315-3123456"),
    leak("kr rrn", "주민등록번호 9001011234568", "9001011234568"),
    leak("kr rrn", "rrn=011130-4123457", "011130-4123457"),
]

LOOK_ALIKES: list[LookAlike] = [
    # identifiers
    alike("uuid", "order 123e4567-e89b-12d3-a456-426614174000 ok"),
    alike("uuid", {"event": "01a24716-897a-781e-9e39-8f1012bd4ace"}),
    alike("uuid", "COM object {3F2504E0-4F89-11D3-9A0C-0305E82C3301} registered"),
    alike("trace id", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    alike("trace id", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
    alike("trace id", {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}}),
    alike("hash", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    alike("hash", "deployed commit 9fceb02d0ae598e95dc970b74767f19372d61af8"),
    alike("hash", "etag d41d8cd98f00b204e9800998ecf8427e"),
    alike("hash", 'integrity="sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="'),
    # times and versions
    alike("timestamp", "at 2026-12-07T16:48:31.123456+09:00 / 2026-12-07 16:48:31,123"),
    alike("timestamp", "Date: Mon, 07 Dec 2026 16:48:31 GMT"),
    alike("timestamp", "ts 1700000000 ms 1700000000123 us 1700000000123456 ns 1700000000123456789"),
    alike("timestamp", "Dec  7 16:48:31 host sshd[4242]: session opened"),
    alike("iso date", "window 2026-12-07/2026-12-08, week 2026-W49, day 20261207"),
    alike("duration", "took 1534ms (p99 2.5s, 0.000123s), timeout PT1H30M, uptime 3d 04:05:06"),
    alike("version", "v1.2.3 and 10.4.12 and 1.2.3-beta.4+build.567"),
    alike("version", "python 3.11.7, node v20.11.1, v1.2.3.4"),
    alike("version", {"release": "web-frontend 5.3.1", "deps": ["react@18.2.0"]}),
    # ids that are not cards, phones or national numbers
    alike("order id", "order-4242424242424242 shipped"),
    alike("order id", "ord_4242424242424242 created"),
    alike("order id", "INV#4242424242424242 paid"),
    alike("order id", "order_id=4242424242424242 status=paid"),
    alike("order id", {"order_id": 4242424242424242}),
    alike("order id", {"order": {"order_id": "4000056655665556"}}),
    alike("order id", "order 4111111111111112 and 2024050112345678"),
    alike("order id", "job 2026-1207-0042 queued"),
    alike("order id", "PO-2026-000123 approved, ticket JIRA-4521"),
    alike("order id", "주문번호 261207-3000042 결제 완료"),
    alike("order id", "4242424242424242", field="user_id"),
    alike("order id", "sess_5d9d1818e811892f902b", field="session_id"),
    alike("order id", {"customer": "cus_NffrFeUfNV2Hib", "intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa"}),
    alike("order id", {"sku": "SKU-5555555555554444", "qty": 2}),
    alike("phone-like", "ISBN 978-3-16-148410-0, ZIP 94107-1234"),
    alike("phone-like", "ports 8000-8080, pid 12345, build 20261207.1234"),
    alike("phone-like", "error 0x80070005 at 123-456-7890-abc"),
    alike("phone-like", "MAC 00:1a:2b:3c:4d:5e at 12:30:45"),
    alike("number", "amount=4111.11 EUR, x=0.30000000000000004, pi 3.14159"),
    alike("number", {"bytes": 4111111111111, "count": 1234567890123}),
    # addresses that are not someone's
    alike("address", "listening on 0.0.0.0:8080 and [::]:8443"),
    alike("address", "netmask 255.255.255.0, broadcast 255.255.255.255"),
    alike("address", "std::vector<int> Foo::Bar::baz"),
    # paths, URLs and encodings
    alike("path", "GET /api/v1/users/123/orders?page=2&sort=desc", field="endpoint"),
    alike("path", "/var/log/app/2026/12/07/app-0001.log rotated"),
    alike("path", r"C:\Users\build\AppData\Local\Temp\x.tmp"),
    alike("path", "s3://bucket/raw/2026/12/07/object-0001.gz"),
    alike("base64", "payload aGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IHBheWxvYWQ="),
    alike(
        "base64",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    ),
    alike("base64", "next=eyJwYWdlIjoyLCJzaXplIjo1MH0"),
    alike(
        "base64",
        "cert LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJJakFOQmdrcWhraUc5dzBCQVFFRkFBT0NBUThBTUlJQkNnS0NBUUVB",
    ),
    alike(
        "base64", "-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END CERTIFICATE-----"
    ),
    alike(
        "base64", "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----"
    ),
    # at-signs that are not addresses
    alike("at sign", "icon@2x.png react@18.2.0 com.example.Foo@1b6d3586 @decorator user@localhost"),
    alike("at sign", "git clone git@github.com:org/repo.git"),
    # key names that describe secrets rather than hold them
    alike("key name", "tokens=1532 input_tokens=12 password_reset=true token_count=3 pwd_changed_at=now"),
    alike("key name", {"usage": {"input_tokens": 1532, "output_tokens": 87, "cache_read_input_tokens": 0}}),
    alike("key name", {"request": {"max_tokens": 1024, "model": "claude"}}),
    alike("key name", {"token_type": "Bearer", "expires_in": 3600}),
    alike("key name", {"password_length": 12, "password_changed_at": "2026-12-01T00:00:00Z"}),
    alike("key name", {"cache_key": "user:123:profile", "idempotency_key": "b7c1e2d3-retry-1"}),
    alike("key name", {"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxKc", "sort_key": "2026-12-07#42"}),
    alike("key name", {"secret_name": "prod/db", "secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:prod"}),
    alike("key name", {"partition_key": "tenant-42", "routing_key": "orders.created"}),
    alike("key name", "read arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"),
    alike("key name", [{"key": "http.route", "value": "/api/v1/orders"}]),
    alike("key name", {"author": "Jane", "tokenizer": "cl100k_base", "secretary": "Bob", "passenger": "Kim"}),
    alike("key name", {"nextPageToken": "CiAKGjBlOWI0", "page_token": "p2", "continuation_token": "c7"}),
    alike("key name", "GET /v1/items?next_page_token=CiAKGjBl&limit=50"),
    alike("path", "env PWD=/home/app OLDPWD=/tmp HOME=/root"),
    alike("path", {"env": {"PWD": "/app", "OLDPWD": "/"}, "GOOGLE_APPLICATION_CREDENTIALS": "/var/secrets/sa.json"}),
    alike("path", {"ssh_key": "~/.ssh/id_ed25519", "tls_key_file": "/etc/ssl/private/key.pem"}),
    alike("at sign", "cloning ssh://git@github.com/org/repo.git"),
    alike("prose", "tests pass=12 fail=0; Basic authentication required; basic auth disabled"),
    alike("key name", "cache_key=user:123 partition_key=p7 idempotency-key: abc-123"),
    alike("placeholder", "password: *** token=[FILTERED] secret=${DB_SECRET} api_key=<your-api-key>"),
    alike("placeholder", '{"password": null, "token": "", "auth_enabled": true}'),
    # prose
    alike("prose", "token expired, password reset requested, secret rotation done, api key missing"),
    alike("prose", "Bearer authentication required; cookie jar empty; Authorization header absent"),
    alike("prose", "flag --password is deprecated, use --password-stdin"),
    alike("prose", "mysql -p prompts for a password; ssh -p 2222 host; docker run -p 8080:80 img"),
]

# Optional rules, switched on: phone numbers and IP addresses.
OPT_IN_LEAKS: list[Leak] = [
    leak("phone", "call +1 (415) 555-0132 now", "555-0132"),
    leak("phone", "연락처 010-1234-5678", "010-1234-5678"),
    leak("phone", "UK office +44 20 7946 0958", "7946 0958"),
    leak("phone", "support 415-555-0199", "415-555-0199"),
    leak("phone", "Tokyo (03) 1234-5678", "1234-5678"),
    leak("ipv4", "client 203.0.113.7 connected", "203.0.113.7"),
    leak("ipv4", "upstream 10.0.0.12:8080 failed", "10.0.0.12"),
    leak("ipv4", {"http": {"x_forwarded_for": "198.51.100.23, 10.0.0.1"}}, "198.51.100.23"),
    leak("ipv6", "peer 2001:db8::1 dropped", "2001:db8::1"),
    leak("ipv6", "from fe80::1ff:fe23:4567:890a%eth0", "fe80::1ff:fe23:4567:890a"),
]
