"""The one redaction of every message, log line and recorded text churnlens writes.

:func:`redact` masks credentials wherever they appear in a text: the user-info part of any URL
(``scheme://user:password@host``, whatever the scheme and whatever characters the password holds,
``@``, ``:``, ``/`` and ``%`` included: everything up to the *last* ``@`` before the host is
credentials) and secret-looking query parameters (``?token=...``, ``access_key=...``,
``password=...``, ``sig=...``). :func:`shorten` cuts a value to a few dozen characters for a
message, and :func:`cap` keeps a whole message within a few KB. The CLI's error printer, the
log handler and the manifest writer apply them centrally, so no module needs to remember to.

Messages never quote file contents: a file that is not what it should be is described by its
kind ("is not a YAML mapping", "is not a PNG, JPEG or SVG file"), never by its lines.
"""

from __future__ import annotations

import re

MASK = "***"
SHORT = 60  # characters of a value shown in a message
MESSAGE_LIMIT = 4000  # characters of a whole message

_URL_TOKEN = re.compile(r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>[^\s'\"<>]*)")
_SECRET_PARAMS = ("password", "passwd", "pwd", "token", "access_token", "refresh_token", "id_token", "secret",
                  "client_secret", "api_key", "apikey", "key", "access_key", "secret_key", "aws_secret_access_key",
                  "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "auth",
                  "authorization", "credential", "credentials", "session_token", "sas")
_QUERY = re.compile(r"(?P<sep>[?&;])(?P<name>" + "|".join(re.escape(p) for p in _SECRET_PARAMS) +
                    r")=(?P<value>[^&#\s'\"<>]*)", re.IGNORECASE)


def _split(rest: str) -> "tuple[str, str] | None":
    """``(userinfo, after)`` of a URL's text after ``scheme://``, or None without user-info.

    The user-info runs to the *last* '@' of the URL when what precedes it is plausibly
    user:password (no '/', or a ':' before the first '/': a password holding '/'), else to an
    '@' before the first '/' (``https://host/?mail=a@b`` keeps its path)."""
    at = rest.rfind("@")
    if at < 0:
        return None
    info = rest[:at]
    slash = min((i for i in (info.find("/"), info.find("?"), info.find("#")) if i >= 0), default=-1)
    if slash >= 0 and not (0 <= info.find(":") < slash):
        first = rest.find("@")
        if not 0 <= first < slash:
            return None
        at, info = first, rest[:first]
    return info, rest[at + 1:]


def _userinfo(m: re.Match) -> str:
    """One URL with its user-info masked (the user name kept, the password or token masked)."""
    split = _split(m.group("rest"))
    if split is None:
        return m.group(0)
    info, after = split
    user, sep, _ = info.partition(":")
    if not sep and not m.group("scheme").lower().startswith(("http", "git", "ws")):
        return m.group(0)  # a user name alone (postgresql://bank@db) is no secret
    masked = f"{user}:{MASK}" if sep else MASK  # a lone token before '@' (https://TOKEN@host) is the secret
    return f"{m.group('scheme')}{masked}@{after}"


def url_password(url: str) -> "str | None":
    """The password of ``url``'s user-info (``user:PASSWORD@host``), or None."""
    m = _URL_TOKEN.search(str(url))
    split = _split(m.group("rest")) if m else None
    if split is None:
        return None
    user, sep, pw = split[0].partition(":")
    return pw if sep else None


def redact(text: object) -> str:
    """``text`` with credentials in URLs and secret query parameters replaced by ``***``.

    >>> redact("postgresql://bank:p@ss:w/rd%40@db.internal:5432/crm")
    'postgresql://bank:***@db.internal:5432/crm'
    >>> redact("https://mlflow.bank/api?token=abc123&x=1")
    'https://mlflow.bank/api?token=***&x=1'
    """
    s = str(text)
    if "://" in s:
        s = _URL_TOKEN.sub(_userinfo, s)
    if "=" in s:
        s = _QUERY.sub(lambda m: f"{m.group('sep')}{m.group('name')}={MASK}", s)
    return s


def shorten(value: object, limit: int = SHORT) -> str:
    """``repr``-like text of ``value`` cut to about ``limit`` characters with an ellipsis
    (a 1 MB cell is shown as its first few dozen characters + "…"), credentials redacted."""
    s = redact(value if isinstance(value, str) else repr(value))
    if len(s) <= limit:
        return repr(s) if isinstance(value, str) else s
    head = s[:limit]
    return (repr(head)[:-1] + "…'") if isinstance(value, str) else head + "…"


def cap(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message`` redacted and at most ``limit`` characters (the cut is said)."""
    s = redact(message)
    if len(s) <= limit:
        return s
    return s[:limit] + f"… [message cut: {len(s) - limit:,} more characters]"


def redact_tree(value):
    """Every string inside ``value`` (dicts, lists, tuples) redacted: for manifests."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_tree(v) for v in value)
    return value
