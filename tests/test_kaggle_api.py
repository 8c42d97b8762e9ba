"""Kaggle handles' URLs, credentials as kagglehub reads them, and the REST calls hubvendor makes.

The REST calls go through ``fetch`` to the loopback Kaggle stand-in (``support.kaggle_api``) by a
downloader-config rewrite of www.kaggle.com, as a user's mirror line would.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import pytest

from hubvendor.errors import ConfigError, FetchError, InvalidHandleError, OfflineError
from hubvendor.kaggle import api, credentials
from hubvendor.kaggle.ref import ModelRef
from support.kaggle_api import KaggleApi

SECRET = "s3cr3t-kaggle-key-7f1c"


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """A home and config dir without Kaggle credentials, and no credential variables."""
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def kaggle(tmp_path, monkeypatch):
    """The Kaggle stand-in serving one model, reached through a downloader-config rewrite."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"pb")
    (model / "variables").mkdir()
    (model / "variables" / "variables.index").write_bytes(b"index")
    with KaggleApi() as server:
        server.add("google/nnlm/tensorFlow2/en-dim50", 1, model)
        server.add("google/nnlm/tensorFlow2/en-dim50", 2, model)
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
        monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
        monkeypatch.delenv("HUBVENDOR_OFFLINE", raising=False)
        yield server


def test_urls_are_kaggles_rest_paths():
    ref = ModelRef.from_key("kaggle://google/nnlm/TensorFlow2/en-dim50/1")
    assert ref.download_url() == "https://www.kaggle.com/api/v1/models/google/nnlm/tensorflow2/en-dim50/1/download"
    assert ref.download_url("saved_model.pb").endswith("/en-dim50/1/download/saved_model.pb")
    assert ref.instance_url() == "https://www.kaggle.com/api/v1/models/google/nnlm/tensorflow2/en-dim50/get"


def test_spellings_give_one_ref_and_versionless_needs_a_lock():
    spellings = [
        "kaggle://google/nnlm/tensorflow2/en-dim50/1",
        "https://www.kaggle.com/models/google/nnlm/TensorFlow2/en-dim50/1",
        "https://kaggle.com/models/google/nnlm/frameworks/tensorFlow2/variations/en-dim50/versions/1",
    ]
    assert len({ModelRef.from_key(s).key for s in spellings}) == 1
    versionless = ModelRef.from_key("kaggle://google/nnlm/tensorflow2/en-dim50")
    assert versionless.version is None
    with pytest.raises(InvalidHandleError, match="no version; run `hubvendor lock`"):
        versionless.download_url()
    with pytest.raises(InvalidHandleError, match="not a Kaggle model"):
        ModelRef.from_key("https://tfhub.dev/google/nnlm-en-dim50/2")


def test_credentials_are_found_in_kagglehubs_order(no_credentials, monkeypatch):
    assert credentials.find() is None
    config = no_credentials / "config"
    config.mkdir(parents=True)
    (config / "kaggle.json").write_text(json.dumps({"username": "file-user", "key": SECRET}))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    found = credentials.find()
    assert found.source == str(config / "kaggle.json")
    assert found.authorization == "Basic " + base64.b64encode(f"file-user:{SECRET}".encode()).decode()
    monkeypatch.setenv("KAGGLE_USERNAME", "env-user")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    assert credentials.find().source == "KAGGLE_USERNAME/KAGGLE_KEY"
    monkeypatch.setenv("KAGGLE_API_TOKEN", SECRET)
    assert credentials.find().source == "KAGGLE_API_TOKEN"
    assert credentials.find().headers == {"Authorization": f"Bearer {SECRET}"}
    assert SECRET not in repr(credentials.find())


def test_broken_kaggle_json_is_one_line_without_its_contents(no_credentials, monkeypatch):
    config = no_credentials / "config"
    config.mkdir(parents=True)
    (config / "kaggle.json").write_text('{"username": "u", "key": "' + SECRET)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    with pytest.raises(ConfigError) as caught:
        credentials.find()
    assert str(caught.value).startswith(str(config / "kaggle.json"))
    assert SECRET not in str(caught.value) and "\n" not in str(caught.value)


def test_latest_version_for_locking(kaggle, no_credentials):
    ref = ModelRef.from_key("kaggle://google/nnlm/tensorflow2/en-dim50")
    assert api.latest_version(ref, name="kaggle://google/nnlm/tensorflow2/en-dim50") == 2
    assert kaggle.requests[0][:2] == ("GET", "/api/v1/models/google/nnlm/tensorflow2/en-dim50/get")


def test_pin_gives_the_versioned_handle_the_lock_records(kaggle, no_credentials):
    assert api.pin("kaggle://google/nnlm/TensorFlow2/en-dim50") == "kaggle://google/nnlm/tensorflow2/en-dim50/2"
    assert api.pin("https://www.kaggle.com/models/google/nnlm/TensorFlow2/en-dim50/1") == (
        "kaggle://google/nnlm/tensorflow2/en-dim50/1")
    assert len(kaggle.requests) == 1  # a versioned handle needs no lookup


def test_download_follows_the_redirect_to_signed_storage(kaggle, no_credentials):
    ref = ModelRef.from_key("kaggle://google/nnlm/tensorflow2/en-dim50/2")
    with api.open_download(ref, name="kaggle://google/nnlm/tensorflow2/en-dim50/2") as download:
        data = b"".join(download)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["saved_model.pb", "variables", "variables/variables.index"]
    assert [path for _, path, _ in kaggle.requests] == [
        "/api/v1/models/google/nnlm/tensorflow2/en-dim50/2/download",
        "/storage/google/nnlm/tensorflow2/en-dim50/2/archive.tar.gz",
    ]


def test_a_403_from_signed_storage_is_not_called_a_credentials_problem(kaggle, no_credentials, monkeypatch):
    """Kaggle's API answered (a redirect), the signed storage URL refused: the line says so, not "credentials"."""
    signatures = iter(range(10**6))
    monkeypatch.setattr(kaggle, "_sign", lambda path, expires: str(next(signatures)))  # no signature ever matches
    monkeypatch.setenv("HUBVENDOR_RETRIES", "0")
    ref = ModelRef.from_key("kaggle://google/nnlm/tensorflow2/en-dim50/2")
    with pytest.raises(FetchError) as caught:
        api.open_download(ref, name="kaggle://google/nnlm/tensorflow2/en-dim50/2")
    message = str(caught.value)
    assert "HTTP 403" in message and "signed storage URL that expired or was revoked" in message, message
    assert "credentials" not in message and "Signature=" not in message and "\n" not in message


def test_offline_switch_stops_api_calls(kaggle, no_credentials, monkeypatch):
    monkeypatch.setenv("HUBVENDOR_OFFLINE", "1")
    with pytest.raises(OfflineError):
        api.latest_version(ModelRef.from_key("kaggle://google/nnlm/tensorflow2/en-dim50"), name="h")
    assert kaggle.requests == []


def test_401_without_credentials_says_none_were_found(tmp_path, monkeypatch, no_credentials):
    with KaggleApi(authorization="Bearer something") as server:
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
        monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
        server.add("acme/private/keras/v1", 1, tmp_path)
        with pytest.raises(FetchError) as caught:
            api.latest_version(ModelRef.from_key("kaggle://acme/private/keras/v1"), name="kaggle://acme/private/keras/v1")
    message = str(caught.value)
    assert message.startswith("kaggle://acme/private/keras/v1: Kaggle answered 401 Unauthorized and no Kaggle credentials")
    assert "KAGGLE_USERNAME" in message and "\n" not in message
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")  # half of a pair is no credential, and the line says which half
    assert credentials.auth_failure("h", 401, credentials.find()).startswith(
        "h: Kaggle answered 401 Unauthorized and KAGGLE_USERNAME is set without KAGGLE_KEY, and no other Kaggle "
        "credentials were found")


def test_401_names_the_credential_source_never_its_value(tmp_path, monkeypatch, no_credentials, capfd):
    """Must-show 5 (hubvendor's REST calls): the key reaches the server only in the header."""
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    good = credentials.find().authorization
    with KaggleApi(authorization=good) as server:
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
        monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
        server.add("acme/private/keras/v1", 4, tmp_path)
        ref = ModelRef.from_key("kaggle://acme/private/keras/v1")
        assert api.latest_version(ref, name="kaggle://acme/private/keras/v1") == 4
        assert server.requests[0][2]  # the header was sent
        monkeypatch.setenv("KAGGLE_KEY", "wrong-" + SECRET)
        with pytest.raises(FetchError) as caught:
            api.latest_version(ref, name="kaggle://acme/private/keras/v1")
    message = str(caught.value)
    assert "401 Unauthorized to the credentials from KAGGLE_USERNAME/KAGGLE_KEY" in message
    out, err = capfd.readouterr()
    assert SECRET not in message + out + err


def test_cache_fill_of_a_private_model_sends_the_credentials(tmp_path, monkeypatch, no_credentials, capfd):
    """``download.ensure`` of a kaggle:// handle goes through ``kaggle.api``: credentials in the header, one
    line naming their source on 401, integrity pins checked, nothing of the secret in the cache."""
    from hubvendor import download
    from hubvendor.cache import Cache
    from hubvendor.errors import IntegrityError

    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    (model / "variables" / "variables.index").write_bytes(b"index")
    cache = Cache(str(tmp_path / "cache"))
    with KaggleApi(authorization=credentials.find().authorization) as server:
        config = tmp_path / "mirror.cfg"
        config.write_text(f"rewrite www.kaggle.com/(.*) {server.url}/$1\n")
        monkeypatch.setenv("HUBVENDOR_DOWNLOADER_CONFIG", str(config))
        server.add("acme/private/keras/v1", 4, model)
        with pytest.raises(IntegrityError):
            download.ensure("kaggle://acme/private/keras/v1/4", cache=cache, expected_sha256="0" * 64)
        entry = download.ensure("kaggle://acme/private/keras/v1/4", cache=cache)
        assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()) == [entry.rsplit("/", 1)[-1]]
        monkeypatch.setenv("KAGGLE_KEY", "wrong-" + SECRET)
        with pytest.raises(FetchError, match="401 Unauthorized to the credentials from KAGGLE_USERNAME/KAGGLE_KEY"):
            download.ensure("kaggle://acme/private/keras/v1/4", cache=Cache(str(tmp_path / "other")))
    assert (tmp_path / "cache").joinpath(entry, "saved_model.pb").read_bytes() == b"pb"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "model" not in p.parts]
    assert written and not [p for p in written if SECRET.encode() in p.read_bytes()]
    out, err = capfd.readouterr()
    assert SECRET not in out + err


def test_a_keras_preset_in_the_cache_is_complete(kaggle, no_credentials, tmp_path, monkeypatch):
    """A Keras Hub preset has no SavedModel graph: hubvendor's recorded tree stats decide, so a second
    resolve (the full walk and the start-up pass) uses the entry instead of downloading again."""
    from hubvendor import runtime
    from hubvendor.cache import Cache

    preset = tmp_path / "preset"
    preset.mkdir()
    for name, data in (("config.json", b"{}"), ("metadata.json", b"{}"), ("model.weights.h5", b"h5" * 100)):
        (preset / name).write_bytes(data)
    kaggle.add("keras/gpt2/keras/gpt2_tiny", 2, preset)
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    handle = "kaggle://keras/gpt2/keras/gpt2_tiny/2"
    entry = runtime.resolve(handle)
    assert sorted(os.listdir(entry)) == ["config.json", "metadata.json", "model.weights.h5"]
    downloads = kaggle.downloads()
    assert runtime.resolve(handle) == entry and runtime.quick(handle) == entry
    assert Cache().lookup(handle) == entry
    assert kaggle.downloads() == downloads
    os.unlink(os.path.join(entry, "model.weights.h5"))  # damage: the recorded stats no longer match
    assert Cache().lookup(handle) is None and runtime.quick(handle) is None
