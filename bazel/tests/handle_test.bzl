"""Starlark unit tests under Bazel 4: bazel/private/handle.bzl over every vector of
tests/vectors/handles.json (as tests/test_handle.py runs handle.py), the lock reader and the `hub`
extension's logic."""

load("@handle_vectors//:vectors.bzl", "VECTORS_JSON")
load("//bazel/private:handle.bzl", "parse_handle")
load(":extension_test.bzl", "check_extension")
load(":lock_test.bzl", "CASES", "check_case")

_FETCHED_BY_BAZEL = ("http", "kaggle")

def check_vector(vector):
    """The disagreements between handle.bzl and one vector, as a list of strings."""
    handle = vector["handle"]
    got = parse_handle(handle)
    kind = vector["kind"]
    if kind in _FETCHED_BY_BAZEL:
        if got.error:
            return ["%r: rejected (%s), expected %s" % (handle, got.error, kind)]
        problems = []
        for field in ("kind", "key", "compressed_url", "repository_name"):
            if getattr(got, field) != vector[field]:
                problems.append("%r: %s is %r, expected %r" % (handle, field, getattr(got, field), vector[field]))
        return problems
    if not got.error:
        return ["%r: accepted as %s, but Bazel must not fetch it (kind %s)" % (handle, got.key, kind)]
    if kind == None and vector["error"] not in got.error:
        return ["%r: error %r does not say %r" % (handle, got.error, vector["error"])]
    return []

def _handle_vectors_test_impl(ctx):
    vectors = json.decode(VECTORS_JSON)["vectors"]
    problems = []
    for vector in vectors:
        problems += check_vector(vector)
    for case in CASES:
        problems += check_case(case)
    extension_problems, extension_cases = check_extension()
    problems += extension_problems
    report = "\n".join(problems) if problems else "handle.bzl passes all %d vectors; lock.bzl all %d cases; hub_extension.bzl all %d cases" % (len(vectors), len(CASES), extension_cases)
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        content = "#!/bin/sh\ncat <<'HUBVENDOR_REPORT'\n%s\nHUBVENDOR_REPORT\nexit %d\n" % (report, 1 if problems else 0),
        is_executable = True,
    )
    return [DefaultInfo(executable = script)]

handle_vectors_test = rule(
    implementation = _handle_vectors_test_impl,
    doc = "Fails, listing each disagreement, unless handle.bzl gives every vector's kind, key, URL and name.",
    test = True,
)
