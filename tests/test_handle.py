"""Handle parsing and normalisation (issue 2: Handles)."""

from __future__ import annotations

import hashlib

import pytest

from hubvendor.errors import InvalidHandleError
from hubvendor.handle import normalise, parse


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
    assert normalise(short) == normalise(long) == "https://www.kaggle.com/models/google/nnlm/tensorflow2/en-dim50/1"


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
