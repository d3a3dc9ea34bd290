"""Platform normalisation + hashing, checked against the example values the platforms publish.

Sources:
- UID2 "Normalization and Encoding": https://unifiedid.com/docs/getting-started/gs-normalization-encoding
  (repo IABTechLab/uid2docs, docs/getting-started/gs-normalization-encoding.md): email/phone rules, the
  email table (normalised value, SHA-256 hex, Base64) and the +12345678901 phone example.
- Google Ads API / CM360 enhanced conversions "Normalization and hashing":
  https://developers.google.com/google-ads/api/docs/conversions/upload-online and
  https://developers.google.com/doubleclick-advertisers/guides/conversions_ec (trim, lowercase, E.164, remove
  periods before the domain in gmail.com / googlemail.com; nothing about '+' suffixes). Official example
  https://github.com/googleads/google-ads-python/blob/main/examples/remarketing/add_customer_match_user_list.py
  (inputs "dana@example.com", "+1 800 5550101"; SHA-256 hexdigest).
- Meta: https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences#hash and
  https://www.facebook.com/business/help/2082575038703844 (phone examples "1-234-567-8910", "+44 844 412 4653":
  digits only with country code); facebook-python-business-sdk
  facebook_business/adobjects/serverside/normalize.py (lower+strip; phone: drop spaces/()/-, leading '+'/00).
Hashes marked "sha256sum" were computed with coreutils `printf '%s' VALUE | sha256sum`, not with this code.
"""

from __future__ import annotations

import argparse
import json

import pytest

from retarget_pipeline.export import normalize_cli
from retarget_pipeline.matchkeys import (
    PLATFORMS,
    MatchKey,
    canonical_email,
    canonical_phone,
    hash_value,
    match_keys,
    normalize_email,
    normalize_phone,
)

# UID2 published email table: raw inputs -> (normalised, SHA-256 hex, Base64)
UID2_EMAILS = [
    (
        ["MyEmail@example.com", "MYEMAIL@example.com"],
        "myemail@example.com",
        "16c18d336f0b250f0e2d907452ceb9658a74ecdae8bc94864c23122a72cc27a5",
        "FsGNM28LJQ8OLZB0Us65ZYp07NrovJSGTCMSKnLMJ6U=",
    ),
    (
        ["My.Email@example.com"],
        "my.email@example.com",
        "e22b53bc6f871274f3a62ab37a3caed7214fc14d676215a96a242fcfada1c81f",
        "4itTvG+HEnTzpiqzejyu1yFPwU1nYhWpaiQvz62hyB8=",
    ),
    (
        ["JANESAOIRSE@example.com", "JaneSaoirse@example.com"],
        "janesaoirse@example.com",
        "d6670e7a92007f1b5ff785f1fc81e53aa6d3d7bd06bdf5c473cdc7286c284b6d",
        "1mcOepIAfxtf94Xx/IHlOqbT170GvfXEc83HKGwoS20=",
    ),
    (
        ["jane.saoirse@example.com", "Jane.Saoirse@example.com"],
        "jane.saoirse@example.com",
        "b196432c7b989a2ca91c83799957c515da53e6c13abf20b78fea94f117e90bf8",
        "sZZDLHuYmiypHIN5mVfFFdpT5sE6vyC3j+qU8RfpC/g=",
    ),
    (
        ["JaneSaoirse+Work@example.com"],
        "janesaoirse+work@example.com",
        "28aaee4815230cd3b4ebd88c515226550666e91ac019929e3adac3f66c288180",
        "KKruSBUjDNO069iMUVImVQZm6RrAGZKeOtrD9mwogYA=",
    ),
    (
        ["JANE.SAOIRSE@gmail.com", "Jane.Saoirse@gmail.com", "JaneSaoirse+Work@gmail.com", " JANESaoirse@gmail.com "],
        "janesaoirse@gmail.com",
        "92ee26057ed9dea2535d6c8b141d48373932476599196e00352254896db5888f",
        "ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8=",
    ),
]


@pytest.mark.parametrize(("raws", "normalized", "_hex", "b64"), UID2_EMAILS)
def test_uid2_email_table(raws: list[str], normalized: str, _hex: str, b64: str) -> None:
    for raw in raws:
        assert normalize_email("ttd_uid2", raw) == normalized
        assert hash_value("ttd_uid2", normalized) == b64


def test_uid2_simple_email_and_phone() -> None:
    assert hash_value("ttd_uid2", "user@example.com") == "tMmiiTI7IaAcPpQPFQ65uMVCWH8av9jw4cwf/F5HVRQ="
    assert normalize_phone("ttd_uid2", "1 (234) 567-8901") == "+12345678901"
    assert hash_value("ttd_uid2", "+12345678901") == "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4="
    # Sydney example: "(02) 1234 5678" drops the trunk zero and gains +61.
    assert normalize_phone("ttd_uid2", "(02) 1234 5678", "AU") == "+61212345678"


def test_uid2_gmail_rules_only_for_gmail_com() -> None:
    # The UID2 rule names gmail.com only; googlemail.com and other domains keep dots and '+' tags.
    assert normalize_email("ttd_uid2", "Jane.Doe+home@googlemail.com") == "jane.doe+home@googlemail.com"
    assert normalize_email("ttd_uid2", "janedoe+home@gmail.com") == "janedoe@gmail.com"


@pytest.mark.parametrize(("raws", "normalized", "hex_digest", "_b64"), UID2_EMAILS[:5])
def test_google_and_meta_non_gmail_match_published_hex(
    raws: list[str], normalized: str, hex_digest: str, _b64: str
) -> None:
    # Outside Gmail all three platforms normalise the same way (trim + lowercase), so UID2's published
    # hex digests double as google_ads / meta expectations.
    for platform in ("google_ads", "meta"):
        for raw in raws:
            assert normalize_email(platform, raw) == normalized
        assert hash_value(platform, normalized) == hex_digest


def test_google_gmail_dots_removed_plus_kept() -> None:
    assert normalize_email("google_ads", "Jane.Saoirse@gmail.com") == "janesaoirse@gmail.com"
    assert hash_value("google_ads", "janesaoirse@gmail.com") == (
        "92ee26057ed9dea2535d6c8b141d48373932476599196e00352254896db5888f"  # UID2 table
    )
    assert normalize_email("google_ads", "Jane.Saoirse@GoogleMail.com ") == "janesaoirse@googlemail.com"
    # Google documents no '+' rule: the tag stays.
    assert normalize_email("google_ads", "JaneSaoirse+Work@gmail.com") == "janesaoirse+work@gmail.com"
    assert hash_value("google_ads", "janesaoirse+work@gmail.com") == (
        "6423995fc9e9e8e111f0f709d41b8895f02fbd11bbaafb140b207719747eacaf"  # sha256sum
    )
    # Dots elsewhere than Gmail are kept (example "alex.2@example.com" from google-ads-python).
    assert normalize_email("google_ads", "alex.2@example.com") == "alex.2@example.com"


def test_google_official_example_inputs() -> None:
    assert hash_value("google_ads", normalize_email("google_ads", "dana@example.com") or "") == (
        "07e2f1394b0ea80e2adca010ea8318df697001a005ba7452720edda4b0ce57b3"  # sha256sum
    )
    assert normalize_phone("google_ads", "+1 800 5550101") == "+18005550101"
    assert hash_value("google_ads", "+18005550101") == (
        "61d6c2976b5d92b1ad63073a12fddd26040cd980067d03a93dd1cc50f1a3ac68"  # sha256sum
    )
    assert hash_value("google_ads", "+12345678901") == (
        "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"  # UID2 published hex
    )


def test_meta_email_keeps_gmail_dots_and_phone_is_digits_only() -> None:
    assert normalize_email("meta", " Jane.Saoirse+Work@Gmail.com") == "jane.saoirse+work@gmail.com"
    assert normalize_phone("meta", "1-234-567-8910") == "12345678910"
    assert normalize_phone("meta", "+44 844 412 4653") == "448444124653"
    assert normalize_phone("meta", "0044 844 412 4653", "GB") == "448444124653"
    assert normalize_phone("meta", "(234) 567-8901") == "12345678901"
    assert hash_value("meta", "12345678901") == (
        "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"  # sha256sum
    )
    assert hash_value("meta", "448444124653") == (
        "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383"  # sha256sum
    )


def test_canonical_forms() -> None:
    assert canonical_email("  Jane.Saoirse+Work@Gmail.COM\t") == "jane.saoirse+work@gmail.com"
    for bad in ["", "   ", "no-at-sign", "a@b", "two@@example.com", "sp ace@example.com", "@example.com"]:
        assert canonical_email(bad) is None, bad
    assert canonical_phone("(234) 567-8901") == "+12345678901"
    assert canonical_phone("020 7946 0018", default_region="GB") == "+442079460018"
    for bad in ["", "abc", "12", "+1 000 000 0000"]:
        assert canonical_phone(bad) is None, bad


def test_invalid_values_give_none_for_every_platform() -> None:
    for platform in PLATFORMS:
        assert normalize_email(platform, "not an email") is None
        assert normalize_phone(platform, "555") is None
    # A Gmail address whose local part is only a '+tag' has nothing left after UID2 normalisation.
    assert normalize_email("ttd_uid2", "+tag@gmail.com") is None


def test_unknown_platform_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown platform 'tiktok': expected one of google_ads, meta, ttd_uid2"):
        normalize_email("tiktok", "a@example.com")
    with pytest.raises(ValueError, match="unknown platform"):
        hash_value("", "x")
    with pytest.raises(ValueError, match="unknown platform"):
        normalize_phone("Meta", "+12345678901")


def test_match_keys_one_per_platform_and_value() -> None:
    keys = match_keys(" JANESaoirse@gmail.com ", "1 (234) 567-8901")
    assert keys == [
        MatchKey("email", "google_ads", "92ee26057ed9dea2535d6c8b141d48373932476599196e00352254896db5888f"),
        MatchKey("email", "meta", "92ee26057ed9dea2535d6c8b141d48373932476599196e00352254896db5888f"),
        MatchKey("email", "ttd_uid2", "ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8="),
        MatchKey("phone", "google_ads", "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee"),
        MatchKey("phone", "meta", "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"),
        MatchKey("phone", "ttd_uid2", "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4="),
    ]
    assert match_keys(None, None) == []
    assert match_keys("bad", "bad") == []
    assert [k.key_type for k in match_keys(None, "+12345678901")] == ["phone"] * 3


def _run_cli(argv: list[str]) -> int:
    # Only this sub-command: other stages' CLI modules are written concurrently and may not import yet.
    from retarget_pipeline.errors import UsageError

    parser = argparse.ArgumentParser(prog="retarget")
    normalize_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError:
        return 2


def test_normalize_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run_cli(
        ["normalize", "--platform", "ttd_uid2", "--email", "Jane.Saoirse@gmail.com", "--phone", "+1 234 567 8901"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out == {
        "platform": "ttd_uid2",
        "email": {"normalized": "janesaoirse@gmail.com", "hash": "ku4mBX7Z3qJTXWyLFB1INzkyR2WZGW4ANSJUiW21iI8="},
        "phone": {"normalized": "+12345678901", "hash": "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4="},
    }
    assert _run_cli(["normalize", "--platform", "meta", "--phone", "12"]) == 1
    assert json.loads(capsys.readouterr().out)["phone"]["error"] == "not a valid phone number"
    assert _run_cli(["normalize", "--platform", "meta"]) == 2
