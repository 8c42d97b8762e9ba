"""Bzlmod: the `hub` module extension, a thin layer over the hub_model repository rule.

Needs Bazel 6 or later (bzlmod); Bazel 4, e.g. Debian's bazel-bootstrap 4.2.3, uses WORKSPACE and
bazel/repositories.bzl instead. In MODULE.bazel:

    bazel_dep(name = "hubvendor", version = "0.1.0")

    hub = use_extension("@hubvendor//bazel:extensions.bzl", "hub")
    hub.model(
        handle = "https://tfhub.dev/google/nnlm-en-dim50/2",
        sha256 = "...",
    )
    use_repo(hub, "tfhub_google_nnlm_en_dim50_2")
"""

load("//bazel/private:handle.bzl", "repository_name")
load("//bazel/private:hub_model.bzl", "hub_model")

_model = tag_class(
    doc = "A TF Hub model: the same attributes as hub_model(); `name` defaults to the name derived from the handle.",
    attrs = {
        "handle": attr.string(mandatory = True),
        "name": attr.string(),
        "sha256": attr.string(),
        "integrity": attr.string(),
        "urls": attr.string_list(),
    },
)

def _hub_impl(module_ctx):
    declared = {}
    for module in module_ctx.modules:
        for tag in module.tags.model:
            name = tag.name or repository_name(tag.handle)
            pin = struct(handle = tag.handle, sha256 = tag.sha256, integrity = tag.integrity, urls = tag.urls)
            if name in declared:
                if declared[name] != pin:
                    fail("hub.model(handle = %r): repository %r is declared twice with different handles or checksums (%r in module %r)" % (tag.handle, name, declared[name], module.name))
                continue
            declared[name] = pin
            hub_model(name = name, handle = pin.handle, sha256 = pin.sha256, integrity = pin.integrity, urls = pin.urls)

hub = module_extension(
    implementation = _hub_impl,
    doc = "Declares hub_model() repositories from hub.model(...) tags of every module.",
    tag_classes = {"model": _model},
)
