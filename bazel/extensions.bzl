"""Bzlmod: the `hub` module extension (Bazel 6 or later; Bazel 4 uses WORKSPACE and repositories.bzl).

Only the module_extension/tag_class wiring lives here (Bazel 4 cannot load this file); what the
extension decides is bazel/private/hub_extension.bzl, tested under Bazel 4. In MODULE.bazel:

    bazel_dep(name = "hubvendor", version = "0.1.0")

    hub = use_extension("@hubvendor//bazel:extensions.bzl", "hub")
    hub.from_lock(lock = "//:hubvendor.lock")
    hub.model(handle = "https://tfhub.dev/google/nnlm-en-dim50/2", sha256 = "...")
    use_repo(hub, "tfhub_test_half_plus_two_1", "tfhub_google_nnlm_en_dim50_2")
"""

load("//bazel/private:hub_extension.bzl", "collect_models")
load("//bazel/private:hub_model.bzl", "hub_model")

_model = tag_class(
    doc = "A model: the same attributes as hub_model(); `name` defaults to the name derived from the handle.",
    attrs = {
        "handle": attr.string(mandatory = True),
        "name": attr.string(),
        "sha256": attr.string(),
        "integrity": attr.string(),
        "urls": attr.string_list(),
    },
)

_from_lock = tag_class(
    doc = "Every http(s) and kaggle:// model of a hubvendor.lock, named as `hubvendor bazel` names them.",
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = True),
        "names": attr.string_dict(doc = "Handle -> repository name, replacing the derived name (as hub_lock(names = ...))."),
    },
)

def _hub_impl(module_ctx):
    result = collect_models(module_ctx)
    if result.error:
        fail(result.error)
    for name, model in result.repositories.items():
        hub_model(
            name = name,
            handle = model.handle,
            sha256 = model.sha256,
            integrity = model.integrity,
            urls = model.urls,
            tree_digest = model.tree_digest,
            lock = model.lock,
        )
    if hasattr(module_ctx, "extension_metadata"):
        return module_ctx.extension_metadata(reproducible = result.reproducible)
    return None

hub = module_extension(
    implementation = _hub_impl,
    doc = "Declares hub_model() repositories from the hub.from_lock(...) and hub.model(...) tags of every module.",
    tag_classes = {"model": _model, "from_lock": _from_lock},
)
