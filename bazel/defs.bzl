"""Public API of hubvendor's Bazel rules.

    load("@hubvendor//bazel:defs.bzl", "hub_model", "hub_models")
"""

load("//bazel/private:hub_model.bzl", _hub_model = "hub_model")
load("//bazel/private:hub_models.bzl", _HubModelInfo = "HubModelInfo", _hub_models = "hub_models")

hub_model = _hub_model
hub_models = _hub_models
HubModelInfo = _HubModelInfo
