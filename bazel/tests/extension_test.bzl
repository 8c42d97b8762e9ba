"""Starlark tests of bazel/private/hub_extension.bzl through a fake module_ctx (Bazel 4 has no bzlmod)."""

load("//bazel/private:hub_extension.bzl", "collect_models")

_HALF = "https://tfhub.dev/test/half_plus_two/1"
_SHA = "a" * 64
_LOCK = """version = 1

[[model]]
handle = "https://tfhub.dev/test/half_plus_two/1"
key = "https://tfhub.dev/test/half_plus_two/1"
url = "https://tfhub.dev/test/half_plus_two/1?tf-hub-format=compressed"
sha256 = "%s"
size = 4128
tree_digest = "sha256:%s"

[[model]]
handle = "kaggle://keras/bert/keras/bert_base_en/2"
key = "kaggle://keras/bert/keras/bert_base_en/2"
url = "https://www.kaggle.com/api/v1/models/keras/bert/keras/bert_base_en/2/download"
sha256 = "%s"
size = 10
tree_digest = "sha256:%s"
""" % (_SHA, "b" * 64, "c" * 64, "d" * 64)

def _model(handle, sha256 = "", name = "", integrity = "", urls = []):
    return struct(handle = handle, sha256 = sha256, name = name, integrity = integrity, urls = urls)

def _module(name, models = [], locks = [], names = {}):
    return struct(name = name, tags = struct(model = models, from_lock = [struct(lock = lock, names = names) for lock in locks]))

_FILES = {
    "//:hubvendor.lock": _LOCK,
    "@other//:hubvendor.lock": _LOCK.replace(_SHA, "e" * 64),
    "//:malformed.lock": _LOCK.replace("size = 10", "size = x"),
    "//:tree_only.lock": _LOCK.replace("sha256 = \"%s\"\nsize = 10" % ("c" * 64), "sha256 = \"\"\nsize = 0"),
}

def _read(label):
    """module_ctx.read of the fake: Bazel 4 has no lambda or closures, so the files are a constant."""
    return _FILES[label]

def _ctx(modules):
    return struct(modules = modules, read = _read)

def _names(result):
    return sorted(result.repositories) if result.repositories != None else None

# (name, fake module_ctx, expected repository names or None, expected error substring or None, check)
def _cases():
    return [
        ("models from two modules", _ctx([_module("app", [_model(_HALF, _SHA)]), _module("lib", [_model("https://tfhub.dev/a/b/1", _SHA, name = "ab")])]), ["ab", "tfhub_test_half_plus_two_1"], None),
        ("the same pin twice is shared", _ctx([_module("app", [_model(_HALF, _SHA)]), _module("lib", [_model(_HALF + "/", _SHA)])]), ["tfhub_test_half_plus_two_1"], None),
        ("conflicting pins name both modules", _ctx([_module("app", [_model(_HALF, _SHA)]), _module("lib", [_model(_HALF, "f" * 64)])]), None, "in module \"app\" (sha256 \"%s\") and \"https://tfhub.dev/test/half_plus_two/1\" in module \"lib\"" % _SHA),
        ("one name for two models", _ctx([_module("app", [_model(_HALF, _SHA, name = "m")]), _module("lib", [_model("https://tfhub.dev/a/b/1", _SHA, name = "m")])]), None, "declare repository \"m\" differently"),
        ("one model under two names, other pins", _ctx([_module("app", [_model(_HALF, _SHA, name = "x")]), _module("lib", [_model(_HALF, "f" * 64, name = "y")])]), None, "module \"lib\""),
        ("from_lock", _ctx([_module("app", locks = ["//:hubvendor.lock"])]), ["kaggle_keras_bert_keras_bert_base_en_2", "tfhub_test_half_plus_two_1"], None),
        ("from_lock and the same model", _ctx([_module("app", [_model(_HALF, _SHA)], ["//:hubvendor.lock"])]), ["kaggle_keras_bert_keras_bert_base_en_2", "tfhub_test_half_plus_two_1"], None),
        ("two locks disagree", _ctx([_module("app", locks = ["//:hubvendor.lock"]), _module("other", locks = ["@other//:hubvendor.lock"])]), None, "in module \"other\""),
        ("malformed lock names module, file and entry", _ctx([_module("app", locks = ["//:malformed.lock"])]), None, "module \"app\": hub.from_lock(lock = \"//:malformed.lock\"): //:malformed.lock: line 16: expected a string or an integer"),
        ("from_lock renames a locked model", _ctx([_module("app", locks = ["//:hubvendor.lock"], names = {_HALF + "/": "half"})]), ["half", "kaggle_keras_bert_keras_bert_base_en_2"], None),
        ("from_lock rename of a model not in the lock", _ctx([_module("app", locks = ["//:hubvendor.lock"], names = {"https://tfhub.dev/a/b/1": "ab"})]), None, "module \"app\": hub.from_lock(lock = \"//:hubvendor.lock\"): //:hubvendor.lock: hub.from_lock(names = ...) renames \"https://tfhub.dev/a/b/1\", which the lock does not pin"),
        ("bad handle", _ctx([_module("app", [_model("https://tfhub.dev/a/b", _SHA)])]), None, "module \"app\": hub.model(): handle \"https://tfhub.dev/a/b\": a tfhub.dev handle needs"),
    ]

def check_extension():
    """The list of failures of the fake-module_ctx cases, and how many ran."""
    problems = []
    cases = _cases()
    for name, ctx, names, error in cases:
        result = collect_models(ctx)
        if error:
            if not result.error or error not in result.error:
                problems.append("extension %s: error %r does not say %r" % (name, result.error, error))
        elif result.error:
            problems.append("extension %s: unexpected error %r" % (name, result.error))
        elif _names(result) != names:
            problems.append("extension %s: repositories %r, expected %r" % (name, _names(result), names))
    shared = collect_models(_ctx([_module("app", [_model(_HALF, _SHA)], ["//:hubvendor.lock"])]))
    if shared.error or shared.repositories["tfhub_test_half_plus_two_1"].tree_digest != "sha256:" + "b" * 64:
        problems.append("extension: a hub.model() equal to a locked model must keep the lock's tree digest")
    if shared.error or shared.repositories["tfhub_test_half_plus_two_1"].lock != "//:hubvendor.lock":
        problems.append("extension: a locked model must name its lock (hub_model() errors name it)")
    if not shared.reproducible or collect_models(_ctx([_module("app", [_model(_HALF)])])).reproducible:
        problems.append("extension: reproducible must be True exactly when every model is pinned")
    tree_only = collect_models(_ctx([_module("app", locks = ["//:tree_only.lock"])]))
    kaggle = tree_only.repositories["kaggle_keras_bert_keras_bert_base_en_2"] if not tree_only.error else None
    if not kaggle or kaggle.sha256 != "" or kaggle.tree_digest != "sha256:" + "d" * 64 or not tree_only.reproducible:
        problems.append("extension: a Kaggle entry locked from kagglehub's cache must be declared, pinned by its tree digest (got %r)" % (tree_only.error or kaggle))
    return problems, len(cases) + 4
