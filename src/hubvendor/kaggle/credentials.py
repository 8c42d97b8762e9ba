"""Kaggle credentials, found where kagglehub finds them; their values never leave the request header.

Order (kagglehub 1.0 / kagglesdk): an access token (``KAGGLE_API_TOKEN``, its value or a file it names,
then ``~/.kaggle/access_token[.txt]``) sent as ``Bearer``; then ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``; then
``$KAGGLE_CONFIG_DIR/kaggle.json`` (default ``~/.kaggle/kaggle.json``), both sent as HTTP Basic.
A :class:`Credential` names its source for messages; its ``repr`` never shows the secret.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field

from .. import smallfile
from ..errors import ConfigError

TOKEN_VAR = "KAGGLE_API_TOKEN"
USERNAME_VAR, KEY_VAR = "KAGGLE_USERNAME", "KAGGLE_KEY"
CONFIG_DIR_VAR = "KAGGLE_CONFIG_DIR"
KNOWN_SOURCES = f"{TOKEN_VAR}, ~/.kaggle/access_token, {USERNAME_VAR}/{KEY_VAR}, ~/.kaggle/kaggle.json"


@dataclass(frozen=True)
class Credential:
    """Where a credential came from, and the ``Authorization`` value it makes (hidden from ``repr``)."""

    source: str
    authorization: str = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}


def find() -> Credential | None:
    """The credential kagglehub would use, or None (public models need none)."""
    return _access_token() or _environment() or _kaggle_json()


def auth_failure(name: str, status: int, credential: Credential | None) -> str:
    """The one line for a 401/403: which credential was tried (its source, never its value) and what to do."""
    answer = "401 Unauthorized" if status == 401 else "403 Forbidden"
    if credential is None:
        half = [var for var in (USERNAME_VAR, KEY_VAR) if os.environ.get(var)]
        found = (f"{half[0]} is set without {KEY_VAR if half[0] == USERNAME_VAR else USERNAME_VAR}, and no other "
                 "Kaggle credentials were found") if len(half) == 1 else "no Kaggle credentials were found"
        return (f"{name}: Kaggle answered {answer} and {found} ({KNOWN_SOURCES}); "
                "set KAGGLE_USERNAME and KAGGLE_KEY (kaggle.com > Settings > API) for private or gated models")
    advice = ("check that they are current (kaggle.com > Settings > API)" if status == 401 else
              "check that this account may download the model and has accepted its terms on its Kaggle page")
    return f"{name}: Kaggle answered {answer} to the credentials from {credential.source}; {advice}"


def _basic(username: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode("ascii")


def _read_token(path: str) -> str | None:
    try:
        return smallfile.read_text(path).strip() or None
    except OSError:
        return None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: Kaggle access token is not UTF-8 text (byte {exc.start})") from None


def _access_token() -> Credential | None:
    value = os.environ.get(TOKEN_VAR)
    if value:
        if os.path.exists(value):
            token = _read_token(value)
            return Credential(f"the file named by {TOKEN_VAR}", f"Bearer {token}") if token else None
        return Credential(TOKEN_VAR, f"Bearer {value}")
    for name in ("access_token", "access_token.txt"):
        path = os.path.join(os.path.expanduser("~"), ".kaggle", name)
        token = _read_token(path)
        if token:
            return Credential(path, f"Bearer {token}")
    return None


def _environment() -> Credential | None:
    username, key = os.environ.get(USERNAME_VAR), os.environ.get(KEY_VAR)
    if username and key:
        return Credential(f"{USERNAME_VAR}/{KEY_VAR}", _basic(username, key))
    return None


def _kaggle_json() -> Credential | None:
    directory = os.environ.get(CONFIG_DIR_VAR) or os.path.join(os.path.expanduser("~"), ".kaggle")
    path = os.path.join(directory, "kaggle.json")
    try:
        text = smallfile.read_text(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read Kaggle credentials ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: Kaggle credentials are not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"{path}: not valid JSON; expected {{\"username\": ..., \"key\": ...}}") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) and data.get(k) for k in ("username", "key")):
        raise ConfigError(f"{path}: expected string keys 'username' and 'key'")
    return Credential(path, _basic(data["username"], data["key"]))
