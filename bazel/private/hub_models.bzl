"""Rules exposing vendored TF Hub models to Bazel targets and their runfiles."""

MANIFEST_FORMAT = "hubvendor-manifest/1"
MANIFEST_SUFFIX = ".hubvendor.json"

HubModelInfo = provider(
    doc = "A TF Hub model vendored into runfiles.",
    fields = {
        "handle": "The canonical handle, as declared in hub_model().",
        "key": "The normalised handle (hubvendor.handle.normalise), the manifest key.",
        "runfiles_path": "Runfiles path of the SavedModel directory (for Rlocation), e.g. tfhub_test_half_plus_two_1/model.",
        "sha256": "SHA-256 of the archive the model came from.",
        "tree_digest": "The extracted tree's digest (sha256:..., as in hubvendor.lock): what tells two copies of a handle apart.",
        "url": "The archive URL the model was fetched from (before downloader-config rewrites).",
        "files": "depset of the model's files.",
    },
)

def _rlocation_path(ctx, file):
    """A file's runfiles path as the runfiles libraries and the runfiles MANIFEST spell it."""
    if file.short_path.startswith("../"):
        return file.short_path[len("../"):]
    return ctx.workspace_name + "/" + file.short_path

def _manifest_entry(model):
    entry = {
        "handle": model.handle,
        "runfiles_path": model.runfiles_path,
        "sha256": model.sha256,
        "url": model.url,
    }
    if model.tree_digest:
        entry["tree_digest"] = model.tree_digest
    return entry

def _write_manifest(ctx, models):
    """Writes <name>.hubvendor.json (the vendored manifest format, runfiles_path instead of path)."""
    manifest = ctx.actions.declare_file(ctx.label.name + MANIFEST_SUFFIX)
    ctx.actions.write(manifest, json.encode_indent({
        "format": MANIFEST_FORMAT,
        "models": {model.key: _manifest_entry(model) for model in models},
    }) + "\n")
    return manifest

def _model_root(ctx):
    """Runfiles path of the model directory: the one holding saved_model.pb(txt), else `model_dir` (Kaggle models)."""
    top = None
    for f in ctx.files.srcs:
        if f.basename in ("saved_model.pb", "saved_model.pbtxt") and (not top or len(f.short_path) < len(top.short_path)):
            top = f
    if top:
        return _rlocation_path(ctx, top).rpartition("/")[0]
    if ctx.attr.model_dir and ctx.files.srcs:
        path = _rlocation_path(ctx, ctx.files.srcs[0])
        marker = "/%s/" % ctx.attr.model_dir
        if marker in path:
            return path[:path.index(marker) + len(marker) - 1]
    fail("hub_model(handle = %r): the model has no saved_model.pb or saved_model.pbtxt" % ctx.attr.handle)

def _hub_model_files_impl(ctx):
    files = depset(ctx.files.srcs)
    model = HubModelInfo(
        handle = ctx.attr.handle,
        key = ctx.attr.key,
        runfiles_path = _model_root(ctx),
        sha256 = ctx.attr.sha256,
        tree_digest = ctx.attr.tree_digest,
        url = ctx.attr.url,
        files = files,
    )
    manifest = _write_manifest(ctx, [model])
    return [
        model,
        DefaultInfo(
            files = depset([manifest], transitive = [files]),
            runfiles = ctx.runfiles(files = [manifest], transitive_files = files),
        ),
    ]

hub_model_files = rule(
    implementation = _hub_model_files_impl,
    doc = "The files of one model in a hub_model() repository (generated there; not for direct use).",
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True),
        "handle": attr.string(mandatory = True),
        "key": attr.string(mandatory = True),
        "model_dir": attr.string(doc = "Top directory of a model that is not a SavedModel (Kaggle models), relative to the repository."),
        "sha256": attr.string(),
        "tree_digest": attr.string(),
        "url": attr.string(),
    },
    provides = [HubModelInfo],
)

def _hub_models_impl(ctx):
    by_key = {}
    for target in ctx.attr.models:
        model = target[HubModelInfo]
        other = by_key.get(model.key)
        if other and other.runfiles_path != model.runfiles_path:
            fail("hub_models(name = %r): handle %r is given twice, as %s and %s" % (ctx.label.name, model.handle, other.runfiles_path, model.runfiles_path))
        by_key[model.key] = model
    models = [by_key[key] for key in sorted(by_key)]
    manifest = _write_manifest(ctx, models)
    runfiles = ctx.runfiles(files = [manifest])
    for target in ctx.attr.models:
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)
    return [DefaultInfo(files = depset([manifest]), runfiles = runfiles)]

hub_models = rule(
    implementation = _hub_models_impl,
    doc = """TF Hub models for a py_binary/py_test's `data`.

Merges the models' files into runfiles and writes `<name>.hubvendor.json`, a vendored manifest
(normalised handle -> runfiles_path). hubvendor's resolver finds it through the runfiles (directory
or RUNFILES_MANIFEST_FILE), so `hub.load("https://tfhub.dev/...")` loads the vendored copy.
""",
    attrs = {
        "models": attr.label_list(
            providers = [HubModelInfo],
            mandatory = True,
            doc = "hub_model() repositories' targets, e.g. @tfhub_google_nnlm_en_dim50_2.",
        ),
    },
)
