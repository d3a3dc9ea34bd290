"""Runtime settings from the environment (Airflow passes connections/variables in as env vars too).

Secrets (the pseudonym HMAC keys, S3 credentials) come only from the environment or Airflow connections,
never from files in the repo, and are never logged: :class:`PseudonymKeys` has a redacting ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path

from retarget_pipeline.errors import PermanentError


class ConfigError(PermanentError, ValueError):
    """Bad or missing configuration; the message names the setting (never its secret value)."""


def env_path(name: str, default: str) -> str:
    """A path or s3:// URI setting."""
    return os.environ.get(name) or default


def project_root() -> Path:
    """Root of the checkout (where dags/, jobs/, schemas/ live)."""
    return Path(__file__).resolve().parents[2]


SEGMENTS_CONFIG_ENV = "RETARGET_SEGMENTS_CONFIG"
DESTINATIONS_CONFIG_ENV = "RETARGET_DESTINATIONS_CONFIG"


def config_file(env: str, name: str) -> Path:
    """A deployment's config file: ``$<env>`` when set (config kept outside the checkout, e.g. in the
    deployment's own repository), else ``config/<name>`` of the checkout."""
    return Path(os.environ.get(env) or project_root() / "config" / name)


@dataclass(frozen=True)
class PseudonymKeys:
    """Versioned HMAC keys: ``RETARGET_PSEUDONYM_KEYS='v1:<base64>,v2:<base64>'`` and
    ``RETARGET_PSEUDONYM_KEY_VERSION=v2`` (default: the last listed). New data uses the current version;
    older versions stay listed so existing pseudonyms can still be matched during a rotation."""

    current: str
    keys: dict[str, bytes] = field(repr=False)

    def __repr__(self) -> str:
        return f"PseudonymKeys(current={self.current!r}, versions={sorted(self.keys)!r})"

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PseudonymKeys:
        env = os.environ if environ is None else environ
        raw = env.get("RETARGET_PSEUDONYM_KEYS", "").strip()
        if not raw:
            raise ConfigError(
                "RETARGET_PSEUDONYM_KEYS is not set: give 'v1:<base64 key of >= 32 bytes>' "
                "(e.g. from an Airflow connection or secret store; `make demo` sets a demo key)"
            )
        keys: dict[str, bytes] = {}
        for position, item in enumerate(raw.split(","), start=1):
            version, sep, encoded = item.strip().partition(":")
            if not sep or not version:
                raise ConfigError(f"RETARGET_PSEUDONYM_KEYS entry {position}: expected 'version:base64key'")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigError(f"RETARGET_PSEUDONYM_KEYS entry {position} ({version}): not base64") from exc
            if len(key) < 32:
                raise ConfigError(f"RETARGET_PSEUDONYM_KEYS entry {position} ({version}): key shorter than 32 bytes")
            keys[version] = key
        current = env.get("RETARGET_PSEUDONYM_KEY_VERSION") or list(keys)[-1]
        if current not in keys:
            raise ConfigError(f"RETARGET_PSEUDONYM_KEY_VERSION={current!r} is not among {sorted(keys)}")
        return cls(current=current, keys=keys)
