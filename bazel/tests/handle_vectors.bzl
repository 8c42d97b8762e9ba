"""`handle_vectors`: the repository holding tests/vectors/handles.json as a .bzl constant."""

def _handle_vectors_impl(rctx):
    source = rctx.path(Label("//:WORKSPACE")).dirname.get_child("tests").get_child("vectors").get_child("handles.json")
    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name)
    rctx.file("BUILD.bazel", "")
    rctx.file("vectors.bzl", "VECTORS_JSON = %r\n" % rctx.read(source))

handle_vectors = repository_rule(
    implementation = _handle_vectors_impl,
    doc = "Exposes hubvendor's tests/vectors/handles.json as `VECTORS_JSON` in @<name>//:vectors.bzl.",
    local = True,  # re-read on every fetch: the file is outside any package Bazel watches
)
