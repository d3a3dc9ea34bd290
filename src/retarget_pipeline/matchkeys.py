"""Normalisation and hashing of emails and phone numbers, per ad platform. Implemented once, shared by the
ingest stage (identity table, ``email_key`` / ``phone_key`` pseudonyms) and the export stage.

Two layers:

* ``canonical_email`` / ``canonical_phone``: the platform-neutral form (trimmed + lowercased email; E.164 phone)
  that ingest HMACs into ``email_key`` / ``phone_key``.
* ``normalize_email`` / ``normalize_phone`` + ``hash_value``: each platform's own rules on top of the canonical
  form. The rules and their sources (see ``schemas/export_formats.md`` and ``tests/export/test_matchkeys.py``):

  ``google_ads`` (Customer Match / enhanced conversions)
      email trimmed + lowercased; for ``gmail.com`` and ``googlemail.com`` all periods of the local part removed.
      Google's docs say nothing about ``+suffixes``, so they are KEPT (removing them would change the hash).
      Phone E.164 with the leading ``+``. SHA-256, lowercase hex.
  ``meta`` (Custom Audiences)
      email trimmed + lowercased (no Gmail rules). Phone digits only, with country code, no ``+`` and no
      leading zeros. SHA-256, lowercase hex.
  ``ttd_uid2`` (UID2)
      email trimmed + lowercased; for ``gmail.com`` only (not googlemail.com): periods removed and a
      ``+suffix`` dropped from the local part. Phone E.164. SHA-256 of the UTF-8 bytes, standard Base64 of the
      32 raw digest bytes (44 characters).

Nothing here logs or puts a raw value into an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import phonenumbers

PLATFORMS: tuple[str, ...] = ("google_ads", "meta", "ttd_uid2")

# Deliberately basic: one '@', a non-empty local part, a dotted domain, no whitespace. Full RFC 5322 validation
# rejects addresses the platforms still match; the platforms themselves only require trim + lowercase.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_GOOGLE_DOT_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_UID2_GMAIL_DOMAINS = frozenset({"gmail.com"})
_E164 = re.compile(r"^\+[1-9]\d{9,14}$")  # '+', then 10-15 digits (E.164 allows 15; UID2 requires >= 10)
_DIGITS_ONLY = re.compile(r"^\d[\d\s().-]{8,}$")  # a digit run with separators, no '+'


@dataclass(frozen=True)
class MatchKey:
    """One platform's hashed match key for one email or phone."""

    key_type: str  # "email" | "phone"
    platform: str  # one of PLATFORMS
    match_key: str  # hex (google_ads, meta) or Base64 (ttd_uid2) SHA-256


def _check_platform(platform: str) -> None:
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}: expected one of {', '.join(PLATFORMS)}")


def canonical_email(raw: str) -> str | None:
    """Trimmed, lowercased email, or None when ``raw`` is not an email address."""
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    return email if _EMAIL.match(email) else None


def canonical_phone(raw: str, default_region: str = "US") -> str | None:
    """E.164 form (``+<country><number>``) of a phone number, or None. Tried in order:

    1. ``phonenumbers`` in ``default_region`` (ISO 3166 alpha-2): national numbers, ``+``/``00``/``011``
       prefixes, any separators; the number must be valid.
    2. Already in E.164 form (``+`` then 10-15 digits, nothing else): kept as given even when ``phonenumbers``
       does not know the range (new or synthetic ranges). UID2 checks phones only by this form
       (``uid2-client-python`` ``is_phone_number_normalized``), so rejecting them loses their keys.
    3. Digits only (separators allowed), no ``+``, not starting with 0, invalid in ``default_region``: read as
       international with the country code written without its ``+`` (``441134960987``), as Google's
       formatter does (``data-manager-python`` ``format_phone_number`` prefixes ``+``); kept only when valid.
    """
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    number = _valid_number(text, default_region.upper())
    if number is not None:
        return number
    if _E164.match(text):
        return text
    if _DIGITS_ONLY.match(text):
        digits = re.sub(r"\D", "", text)
        if not digits.startswith("0"):
            return _valid_number("+" + digits, None)
    return None


def _valid_number(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(platform: str, raw: str) -> str | None:
    """The email as ``platform`` wants it before hashing, or None when it is not an email."""
    _check_platform(platform)
    email = canonical_email(raw)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    if platform == "google_ads" and domain in _GOOGLE_DOT_DOMAINS:
        local = local.replace(".", "")
    elif platform == "ttd_uid2" and domain in _UID2_GMAIL_DOMAINS:
        local = local.partition("+")[0].replace(".", "")
    if not local:
        return None
    return f"{local}@{domain}"


def normalize_phone(platform: str, raw: str, default_region: str = "US") -> str | None:
    """The phone as ``platform`` wants it before hashing (E.164, or digits only for meta), or None."""
    _check_platform(platform)
    e164 = canonical_phone(raw, default_region)
    if e164 is None:
        return None
    # E.164 country codes never start with 0, so dropping the '+' leaves no leading zero.
    return e164[1:] if platform == "meta" else e164


def hash_value(platform: str, normalized: str) -> str:
    """SHA-256 of the UTF-8 normalised value: lowercase hex, or standard Base64 of the digest for ttd_uid2."""
    _check_platform(platform)
    digest = hashlib.sha256(normalized.encode("utf-8"))
    if platform == "ttd_uid2":
        return base64.b64encode(digest.digest()).decode("ascii")
    return digest.hexdigest()


def mailbox(raw: str) -> str | None:
    """The mailbox an address delivers to, for erasure: the canonical email, except that Gmail ignores periods
    and a ``+suffix`` in the local part and ``googlemail.com`` is ``gmail.com`` (Google Account Help "Gmail
    doesn't recognize dots in usernames"; the platforms' own Gmail rules, above, each apply part of this)."""
    email = canonical_email(raw)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    if domain not in _GOOGLE_DOT_DOMAINS:
        return email
    local = local.partition("+")[0].replace(".", "")
    return f"{local}@gmail.com" if local else None


def mailbox_match_keys(raw: str) -> list[MatchKey]:
    """The match keys under which the identity table may hold OTHER spellings of a Gmail mailbox: Google's key
    of ``<local>@gmail.com`` and ``<local>@googlemail.com`` (Google drops periods, keeps a ``+suffix``) and
    UID2's of ``<local>@gmail.com`` (UID2 drops both). Empty for any other domain (its email_key is exact)."""
    box = mailbox(raw)
    if box is None or not box.endswith("@gmail.com"):
        return []
    local = box.rpartition("@")[0]
    return [
        MatchKey("email", "google_ads", hash_value("google_ads", f"{local}@gmail.com")),
        MatchKey("email", "google_ads", hash_value("google_ads", f"{local}@googlemail.com")),
        MatchKey("email", "ttd_uid2", hash_value("ttd_uid2", f"{local}@gmail.com")),
    ]


def match_keys(email: str | None, phone: str | None, default_region: str = "US") -> list[MatchKey]:
    """All platforms' match keys for one person's email and/or phone (invalid or missing values are skipped).
    Order: email keys in PLATFORMS order, then phone keys in PLATFORMS order."""
    keys: list[MatchKey] = []
    if email is not None:
        for platform in PLATFORMS:
            value = normalize_email(platform, email)
            if value is not None:
                keys.append(MatchKey("email", platform, hash_value(platform, value)))
    if phone is not None:
        for platform in PLATFORMS:
            value = normalize_phone(platform, phone, default_region)
            if value is not None:
                keys.append(MatchKey("phone", platform, hash_value(platform, value)))
    return keys
