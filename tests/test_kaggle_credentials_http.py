"""Kaggle credentials go only over https or to this machine, never in the clear to a mirror elsewhere.

A downloader-config rewrite may send Kaggle's API to any URL. ``httpinfo.may_carry_credentials`` is the
rule (https, or plain http to 127.0.0.0/8, ::1 or ``localhost``); end to end, the loopback Kaggle stand-in
(``support.kaggle_api``) is reached once as ``http://127.0.0.1`` (credentials sent) and once through a name
that resolves to 127.0.0.1 here but does not say so (``socket.gethostname()`` or an /etc/hosts alias),
which hubvendor must treat as any other plain-http host: no credentials, and a 401 that says why (skipped
where no such name exists; the last test checks that line on any machine by counting 127.0.0.1 as elsewhere).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from hubvendor import httpinfo
from hubvendor.kaggle import credentials
from support.commands import hubvendor
from support.kaggle_api import KaggleApi

SECRET = "kaggle-secret-" + os.urandom(6).hex()
HANDLE = "kaggle://acme/private/tensorflow2/tiny/3"


def loopback_alias() -> str | None:
    """A host name that is neither ``localhost`` nor an address but resolves to 127.0.0.1 on this machine."""
    names = [socket.gethostname()]
    try:
        for line in Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if fields[:1] == ["127.0.0.1"]:
                names += fields[1:]
    except OSError:
        pass
    for name in names:
        try:
            ipaddress.ip_address(name)
            continue
        except ValueError:
            pass
        if name.lower() == "localhost":
            continue
        try:
            if socket.gethostbyname(name) == "127.0.0.1":
                return name
        except OSError:
            continue
    return None


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://www.kaggle.com/api/v1/models/o/m/f/v/get", True),
    ("https://models.internal:8443/api/v1/models/o/m/f/v/get", True),
    ("HTTPS://www.kaggle.com/x", True),
    ("http://127.0.0.1:8080/api/v1/models/o/m/f/v/get", True),
    ("http://127.200.3.4/x", True),
    ("http://[::1]:8080/x", True),
    ("http://localhost:8080/x", True),
    ("http://LOCALHOST/x", True),
    ("http://models.internal:8080/api/v1/models/o/m/f/v/get", False),
    ("http://www.kaggle.com/api/v1/models/o/m/f/v/get", False),
    ("http://10.0.0.5/x", False),
    ("http://localhost.example.com/x", False),
    ("http://127.0.0.1.nip.io/x", False),
    ("http://[::ffff:10.0.0.5]/x", False),
    ("ftp://127.0.0.1/x", False),
    ("http://[::1/x", False),
])
def test_the_rule_is_https_or_plain_http_to_this_machine(url, allowed):
    assert httpinfo.may_carry_credentials(url) is allowed


@pytest.fixture
def private_model(tmp_path):
    """The stand-in serving one private model that needs ``KAGGLE_USERNAME``/``KAGGLE_KEY``, and an env for the CLI."""
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    (model / "variables" / "variables.index").write_bytes(b"index")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBVENDOR_", "TFHUB_", "KAGGLE"))}
    env.update(KAGGLE_USERNAME="someone", KAGGLE_KEY=SECRET, HOME=str(tmp_path / "home"),
               KAGGLEHUB_CACHE=str(tmp_path / "kagglehub"), NO_PROXY="*", no_proxy="*")
    authorization = credentials._basic("someone", SECRET)
    with KaggleApi(authorization=authorization) as api:
        api.add("acme/private/tensorFlow2/tiny", 3, model)
        yield api, env


def fetch_through(api: KaggleApi, base: str, env: dict[str, str], tmp_path: Path, run: str):
    """``hubvendor fetch HANDLE`` with www.kaggle.com rewritten to ``base``, into a fresh cache."""
    config = tmp_path / f"{run}.cfg"
    config.write_text(f"rewrite www.kaggle.com/(.*) {base}/$1\n")
    api.requests.clear()
    return hubvendor("fetch", HANDLE, env=dict(env, HUBVENDOR_DOWNLOADER_CONFIG=str(config),
                                               TFHUB_CACHE_DIR=str(tmp_path / f"{run}-cache")))


def test_loopback_http_still_gets_the_credentials(private_model, tmp_path):
    api, env = private_model
    result = fetch_through(api, api.url, env, tmp_path, "loopback")
    assert result.returncode == 0, result.stderr
    calls = [sent for _, path, sent in api.requests if path.startswith("/api/")]
    assert calls and all(calls)
    assert SECRET not in result.stdout + result.stderr


def test_plain_http_to_another_host_goes_without_credentials_and_the_401_says_why(private_model, tmp_path):
    """The old code sent ``Authorization`` to whatever host the rewrite named, even over plain http."""
    alias = loopback_alias()
    if alias is None:
        pytest.skip("no host name here resolves to 127.0.0.1 without being localhost (checked the host name and /etc/hosts)")
    api, env = private_model
    base = f"http://{alias}:{api.url.rsplit(':', 1)[1]}"
    result = fetch_through(api, base, env, tmp_path, "alias")
    assert result.returncode != 0
    assert api.requests and not any(sent for _, _, sent in api.requests)  # reached, without the header
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    url = f"{base}/api/v1/models/acme/private/tensorflow2/tiny/3/download"
    assert lines[0].startswith(f"hubvendor: error: {HANDLE}: {url}: HTTP 401 Unauthorized; the credentials were "
                               "withheld because the URL is plain http"), lines[0]
    assert SECRET not in result.stdout + result.stderr
    assert credentials._basic("someone", SECRET).split()[1] not in result.stdout + result.stderr


def test_the_401_names_the_url_and_never_the_secret_wherever_the_rule_withholds(private_model, tmp_path, monkeypatch):
    """In process, with the stand-in's 127.0.0.1 counted as another host: the same line, on any machine."""
    from hubvendor.errors import FetchError
    from hubvendor.kaggle import api as kaggle_api
    from hubvendor.kaggle.ref import ModelRef

    server, env = private_model
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "HOME"):
        monkeypatch.setenv(name, env[name])
    config = tmp_path / "mirror.cfg"
    config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    monkeypatch.setattr(httpinfo, "is_loopback", lambda url: False)
    ref = ModelRef.from_key("kaggle://acme/private/tensorflow2/tiny")
    with pytest.raises(FetchError) as caught:
        kaggle_api.latest_version(ref, name="kaggle://acme/private/tensorflow2/tiny")
    url = f"{server.url}/api/v1/models/acme/private/tensorflow2/tiny/get"
    assert str(caught.value) == (f"kaggle://acme/private/tensorflow2/tiny: {url}: HTTP 401 Unauthorized; "
                                 f"{httpinfo.CREDENTIALS_WITHHELD}")
    assert caught.value.refused_status is None  # withheld: not a refusal of the credentials
    assert server.requests == [("GET", "/api/v1/models/acme/private/tensorflow2/tiny/get", False)]


def test_a_refusal_of_the_credentials_sent_is_carried_on_the_error(private_model, tmp_path, monkeypatch):
    """``fetch`` sets ``refused_status`` where the 401 is raised; ``kaggle.api`` explains it from that field
    (it used to search the message for "HTTP 401" and for the withheld and redirect phrases)."""
    from hubvendor import fetch
    from hubvendor.errors import FetchError
    from hubvendor.kaggle import api as kaggle_api
    from hubvendor.kaggle.ref import ModelRef

    server, env = private_model
    for name in (credentials.TOKEN_VAR, credentials.CONFIG_DIR_VAR):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", env["HOME"])
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "not-the-key")
    config = tmp_path / "mirror.cfg"
    config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
    monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
    monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
    ref = ModelRef.from_key("kaggle://acme/private/tensorflow2/tiny")
    with pytest.raises(FetchError) as raw:
        fetch.open_download(ref.instance_url(), name="kaggle://acme/private/tensorflow2/tiny")
    assert raw.value.refused_status == 401
    with pytest.raises(FetchError) as explained:
        kaggle_api.latest_version(ref, name="kaggle://acme/private/tensorflow2/tiny")
    assert explained.value.refused_status == 401
    assert str(explained.value) == ("kaggle://acme/private/tensorflow2/tiny: Kaggle answered 401 Unauthorized to the "
                                    "credentials from KAGGLE_USERNAME/KAGGLE_KEY; check that they are current "
                                    "(kaggle.com > Settings > API)")
