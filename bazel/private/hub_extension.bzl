"""What the bzlmod `hub` extension decides, in plain Starlark that Bazel 4 loads and tests.

bazel/extensions.bzl (Bazel 6+) only wires `module_extension`/`tag_class` to `collect_models`; the
tests in bazel/tests/extension_test.bzl drive it with a fake module_ctx (struct(modules, read)).
"""

load(":handle.bzl", "parse_handle")
load(":lock.bzl", "parse_lock", "rename")

def _declaration(module, tag, parsed):
    return struct(
        handle = tag.handle,
        key = parsed.key,
        name = tag.name or parsed.repository_name,
        sha256 = tag.sha256,
        integrity = tag.integrity,
        urls = list(tag.urls),
        tree_digest = "",
        lock = "",
        module = module.name,
    )

def _module_declarations(module_ctx, module):
    """(declarations, error) of one module: its hub.from_lock() locks, then its hub.model() tags."""
    declarations = []
    for tag in module.tags.from_lock:
        where = str(tag.lock)
        locked = parse_lock(module_ctx.read(tag.lock), where)
        if not locked.error:
            locked = rename(locked.models, tag.names, where, "hub.from_lock")
        if locked.error:
            return None, "module %r: hub.from_lock(lock = %r): %s" % (module.name, where, locked.error)
        for model in locked.models:
            declarations.append(struct(
                handle = model.handle,
                key = model.key,
                name = model.name,
                sha256 = model.sha256,
                integrity = "",
                urls = [],
                tree_digest = model.tree_digest,
                lock = where,
                module = module.name,
            ))
    for tag in module.tags.model:
        parsed = parse_handle(tag.handle)
        if parsed.error:
            return None, "module %r: hub.model(): %s" % (module.name, parsed.error)
        declarations.append(_declaration(module, tag, parsed))
    return declarations, None

def _pin(declaration):
    return (declaration.sha256, declaration.integrity)

def _describe(declaration):
    return "%r in module %r (sha256 %r%s)" % (
        declaration.handle,
        declaration.module,
        declaration.sha256,
        ", integrity %r" % declaration.integrity if declaration.integrity else "",
    )

def collect_models(module_ctx):
    """struct(repositories = {name: declaration}, reproducible, error) from the tags of every module.

    One repository per name; the same name or the same model (normalised handle) declared again with
    other pins is an error naming both modules; an identical declaration is shared (a lock's tree
    digest is kept).
    """
    by_name = {}
    by_key = {}
    for module in module_ctx.modules:
        declarations, error = _module_declarations(module_ctx, module)
        if error:
            return struct(repositories = None, reproducible = False, error = error)
        for declaration in declarations:
            other = by_name.get(declaration.name) or by_key.get(declaration.key)
            if other:
                if other.key != declaration.key or _pin(other) != _pin(declaration):
                    return struct(repositories = None, reproducible = False, error = "hub: %s and %s declare repository %r differently; pin one model once (or give one another name)" % (
                        _describe(other),
                        _describe(declaration),
                        other.name,
                    ))
                if declaration.tree_digest and not other.tree_digest:
                    by_name[other.name] = declaration
                    by_key[other.key] = declaration
                continue
            by_name[declaration.name] = declaration
            by_key[declaration.key] = declaration
    pinned = [d for d in by_name.values() if d.sha256 or d.integrity or d.tree_digest]
    return struct(repositories = by_name, reproducible = len(pinned) == len(by_name), error = None)
