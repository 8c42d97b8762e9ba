"""Handle parsing and normalisation; tests/vectors/handles.json is shared with bazel/private/handle.bzl."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hubvendor.bazel import repository_name
from hubvendor.errors import InvalidHandleError
from hubvendor.handle import normalise, parse

VECTORS = json.loads((Path(__file__).parent / "vectors" / "handles.json").read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["handle"][:60] for v in VECTORS])
def test_vector(vector):
    """Each vector as handle.py sees it (tests/test_bazel.py runs the same file through handle.bzl)."""
    handle = vector["handle"]
    if vector["kind"] is None:
        with pytest.raises(InvalidHandleError) as excinfo:
            parse(handle)
        assert vector["error"] in str(excinfo.value)
        assert repr(handle) in str(excinfo.value)
        return
    parsed = parse(handle)
    assert (parsed.kind, parsed.key) == (vector["kind"], vector["key"])
    assert normalise(parsed.key) == parsed.key
    if vector["compressed_url"] is None:
        with pytest.raises(InvalidHandleError, match="without a version cannot be downloaded"):
            parsed.compressed_url()
    else:
        assert parsed.compressed_url() == vector["compressed_url"]
    if vector["repository_name"] is not None:
        assert repository_name(handle) == vector["repository_name"]


def test_vectors_cover_the_cases_python_and_starlark_once_disagreed_on():
    by_handle = {v["handle"]: v for v in VECTORS}
    long_form = "https://www.kaggle.com/models/Google/BERT/Frameworks/TensorFlow2/Variations/en-uncased-l-12/Versions/3"
    assert by_handle[long_form]["key"] == "kaggle://google/bert/tensorflow2/en-uncased-l-12/3"
    assert by_handle["https://@tfhub.dev/test/half_plus_two/1"]["kind"] is None
    assert by_handle["https://example.com/my model.tar.gz"]["kind"] is None
    assert by_handle["http://a..b/x"]["kind"] is None
    assert {v["kind"] for v in VECTORS} == {"http", "kaggle", "gcs", "path", None}


def test_kaggle_handles():
    versionless = parse("kaggle://keras/bert/keras/bert_base_en")
    assert versionless.version is None and versionless.is_archive
    pinned = parse("kaggle://Keras/bert/KERAS/bert_base_en/2")
    assert pinned.version == "2" and pinned.key == "kaggle://keras/bert/keras/bert_base_en/2"
    assert pinned.cache_name == hashlib.sha1(b"kaggle://Keras/bert/KERAS/bert_base_en/2").hexdigest()
    assert parse("https://tfhub.dev/a/b/1").version is None


def test_cache_name_is_tensorflow_hubs_sha1_of_the_handle_as_written():
    handle = "https://tfhub.dev/google/nnlm-en-dim128/1"
    assert parse(handle).cache_name == "32f2b2259e1cc8ca58c876921748361283e73997"
    odd = "https://TFHub.dev/google/nnlm-en-dim128/1/"
    assert parse(odd).cache_name == hashlib.sha1(odd.encode()).hexdigest()


@pytest.mark.parametrize(
    "variant",
    [
        "https://tfhub.dev/google/nnlm-en-dim50/2/",
        "https://TFHUB.dev/google/nnlm-en-dim50/2",
        "https://tfhub.dev:443/google/nnlm-en-dim50/2",
        "https://tfhub.dev/google/nnlm-en-dim50/2?tf-hub-format=compressed",
        "https://tfhub.dev//google/nnlm-en-dim50/2",
    ],
)
def test_normalised_key_ignores_cosmetic_differences(variant):
    assert normalise(variant) == "https://tfhub.dev/google/nnlm-en-dim50/2"


def test_kaggle_short_and_long_forms_share_a_key():
    short = "https://www.kaggle.com/models/google/nnlm/TensorFlow2/en-dim50/1"
    long = "https://kaggle.com/models/google/nnlm/frameworks/tensorFlow2/variations/en-dim50/versions/1"
    assert normalise(short) == normalise(long) == normalise("kaggle://google/nnlm/tensorflow2/en-dim50/1")


def test_compressed_url_matches_tensorflow_hub():
    assert parse("https://tfhub.dev/google/nnlm-en-dim50/2").compressed_url() == (
        "https://tfhub.dev/google/nnlm-en-dim50/2?tf-hub-format=compressed"
    )
    assert parse("https://example.org/m.tar.gz?token=a").compressed_url() == (
        "https://example.org/m.tar.gz?token=a&tf-hub-format=compressed"
    )
    assert parse("https://hub.tensorflow.google.cn/google/nnlm-en-dim50/2").compressed_url() == (
        "https://gcs.tensorflow.google.cn/tfhub-modules/google/nnlm-en-dim50/2.tar.gz"
    )
    assert parse("https://tfhub.dev/a/b/1").uncompressed_url().endswith("?tf-hub-format=uncompressed")


def test_kinds():
    assert parse("gs://bucket/model.tar.gz").is_archive
    assert not parse("gs://bucket/model_dir").is_archive
    assert parse("/models/x").kind == "path"
    assert parse("file:///models/x").key == "/models/x"
    assert parse("https://tfhub.dev/a/b/1").is_archive


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("", "empty"),
        (" https://tfhub.dev/a/b/1", "whitespace"),
        ("https://tfhub.dev/google/nnlm", "numeric version"),
        ("https://tfhub.dev/google/nnlm/latest", "numeric version"),
        ("ftp://example.org/m.tar.gz", "unsupported scheme"),
        ("https:///no-host", "without a host"),
        ("https://www.kaggle.com/models/google", "Kaggle handle looks like"),
        ("gs://", "without a bucket"),
        ("https://tfhub.dev/a/b/1\n", "whitespace"),
        (42, "not a string"),
    ],
)
def test_invalid_handles_say_what_was_expected(bad, says):
    with pytest.raises(InvalidHandleError) as excinfo:
        parse(bad)
    assert says in str(excinfo.value)
    assert repr(bad) in str(excinfo.value)
