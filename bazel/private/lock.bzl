"""Reading hubvendor.lock in Starlark: the TOML subset `hubvendor lock` writes, validated as lockfile.py does.

Keep in sync with src/hubvendor/lockfile.py (fields, checks) and src/hubvendor/tomlfile.py (the
reader). `parse_lock` never fails (tests check its errors); `hub_lock` and the `hub` extension fail
with its error, which names the lock file and the entry.
"""

load(":handle.bzl", "parse_handle")

LOCK_VERSION = 1
_FIELDS = ("handle", "key", "url", "sha256", "size", "tree_digest")
_STRINGS = ("handle", "key", "url", "sha256", "tree_digest")
_HEX = "0123456789abcdef"
_BARE_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_DIGITS = "0123456789"
_ESCAPES = {"\"": "\"", "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}

# Printable ASCII, code points 32 to 126, for \u00XX escapes (Starlark has no chr).
_PRINTABLE = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
_FETCHED = ("http://", "https://", "kaggle://")

def _string(text):
    """(value, rest, error) for a TOML basic or literal string at the start of `text`."""
    quote = text[0]
    if quote == "'":
        end = text.find("'", 1)
        if end < 0:
            return None, None, "unterminated string"
        return text[1:end], text[end + 1:], None
    out = []
    i = 1
    for _ in range(len(text)):
        if i >= len(text):
            return None, None, "unterminated string"
        char = text[i]
        if char == "\"":
            return "".join(out), text[i + 1:], None
        if char == "\\":
            escape = text[i + 1:i + 2]
            if escape == "u" and len(text) >= i + 6 and not [c for c in text[i + 2:i + 6].lower().elems() if c not in _HEX]:
                code = int(text[i + 2:i + 6], 16)

                # Others (control characters, non-ASCII) cannot occur in a handle Bazel fetches: a marker.
                out.append(_PRINTABLE[code - 32] if code >= 32 and code <= 126 else "\\u" + text[i + 2:i + 6])
                i += 6
                continue
            if escape not in _ESCAPES:
                return None, None, "unsupported escape \\%s in a string" % escape
            out.append(_ESCAPES[escape])
            i += 2
        else:
            out.append(char)
            i += 1
    return None, None, "unterminated string"

def _value(text):
    """(value, rest, error) for a string or integer value."""
    if text[:1] in ("\"", "'"):
        return _string(text)
    end = 0
    for char in text.elems():
        if char not in _DIGITS + "+-_":
            break
        end += 1
    number = text[:end].replace("_", "")
    sign = number[:1] if number[:1] in ("+", "-") else ""
    if not number[len(sign):] or [c for c in number[len(sign):].elems() if c not in _DIGITS]:
        return None, None, "expected a string or an integer, got %r" % text
    value = int(number[len(sign):])
    return -value if sign == "-" else value, text[end:], None

def parse_toml(text):
    """struct(top = dict, models = [dict], error): the TOML subset of hubvendor.lock ([[model]] tables)."""
    top = {}
    models = []
    table = top
    for number, line in enumerate(text.split("\n")):
        line = line.strip()
        where = "line %d" % (number + 1)
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if line.split("#")[0].strip() != "[[model]]":
                return struct(top = None, models = None, error = "%s: only [[model]] tables are expected, got %r" % (where, line))
            table = {}
            models.append(table)
            continue
        name, equals, rest = line.partition("=")
        name = name.strip()
        if not equals or not name or [c for c in name.elems() if c not in _BARE_KEY]:
            return struct(top = None, models = None, error = "%s: expected key = value, got %r" % (where, line))
        value, rest, error = _value(rest.strip())
        if error == None and rest.strip() and not rest.strip().startswith("#"):
            error = "unexpected %r after the value" % rest.strip()
        if error:
            return struct(top = None, models = None, error = "%s: %s" % (where, error))
        if name in table:
            return struct(top = None, models = None, error = "%s: duplicate key %r" % (where, name))
        table[name] = value
    return struct(top = top, models = models, error = None)

def _tree_only(raw):
    """A Kaggle entry locked from kagglehub's cache: no archive (sha256 = "", size = 0), the tree digest pins it.

    Keep in sync with `tree_only` in lockfile._parse_model.
    """
    return raw["sha256"] == "" and raw["size"] == 0 and raw["handle"].lower().startswith("kaggle://")

def _check_model(raw, where):
    """The error for one [[model]] table, or None (the checks of lockfile._parse_model)."""
    for name in sorted(raw):
        if name not in _FIELDS:
            return "%s: unknown key %r; expected %s" % (where, name, ", ".join(_FIELDS))
    for name in _FIELDS:
        if name not in raw:
            return "%s: missing key %r" % (where, name)
    for name in _STRINGS:
        if type(raw[name]) != "string":
            return "%s: %s = %r; expected a string" % (where, name, raw[name])
    if type(raw["size"]) != "int" or raw["size"] < 0:
        return "%s: size = %r; expected a non-negative integer" % (where, raw["size"])
    if not _tree_only(raw) and (len(raw["sha256"]) != 64 or [c for c in raw["sha256"].elems() if c not in _HEX]):
        return "%s: sha256 = %r; expected 64 lowercase hex digits" % (where, raw["sha256"])
    digest = raw["tree_digest"]
    if not digest.startswith("sha256:") or len(digest) != 71 or [c for c in digest[7:].elems() if c not in _HEX]:
        return "%s: tree_digest = %r; expected sha256:<64 hex digits>" % (where, digest)
    return None

def parse_lock(text, where):
    """struct(models, error): the lock's http(s) and Kaggle entries (gs:// and paths are not Bazel's).

    Each model is struct(handle, key, name (the repository name), sha256, size, tree_digest, url); sha256 is "" for a Kaggle entry
    pinned by its tree digest alone (hub_model() then downloads it unpinned and checks the tree).
    `where` (the lock's label) starts every error, followed by the entry:
    `//:hubvendor.lock: model[1] ("https://..."): ...`.
    """
    toml = parse_toml(text)
    if toml.error:
        return struct(models = None, error = "%s: %s" % (where, toml.error))
    for name in sorted(toml.top):
        if name != "version":
            return struct(models = None, error = "%s: unknown key %r; expected 'version' and [[model]] tables" % (where, name))
    if toml.top.get("version") != LOCK_VERSION:
        return struct(models = None, error = "%s: version = %r; expected version = %d (regenerate with `hubvendor lock`)" % (where, toml.top.get("version"), LOCK_VERSION))
    models = []
    seen = {}
    for index, raw in enumerate(toml.models):
        handle = raw.get("handle")
        entry = "%s: model[%d]%s" % (where, index, " (%r)" % handle if type(handle) == "string" else "")
        error = _check_model(raw, entry)
        if error:
            return struct(models = None, error = error)
        if not handle.lower().startswith(_FETCHED):
            continue
        parsed = parse_handle(handle)
        if parsed.error:
            return struct(models = None, error = "%s: %s" % (entry, parsed.error))
        if parsed.key != raw["key"]:
            return struct(models = None, error = "%s: key = %r does not match handle %r (expected %r)" % (entry, raw["key"], handle, parsed.key))
        if parsed.compressed_url == None:
            return struct(models = None, error = "%s: a Kaggle handle without a version; locks pin versions (regenerate it with `hubvendor lock`)" % entry)
        if raw["url"] != parsed.compressed_url:  # keep in sync with lockfile._parse_model
            return struct(models = None, error = "%s: url = %r is not the handle's archive URL %r (the lock was edited: regenerate it with `hubvendor lock`)" % (entry, raw["url"], parsed.compressed_url))
        if parsed.key in seen:
            return struct(models = None, error = "%s: model[%d]: duplicate entry for %r" % (where, index, parsed.key))
        seen[parsed.key] = True
        models.append(_locked_model(handle, parsed.key, parsed.repository_name, raw["sha256"], raw["size"], raw["tree_digest"], raw["url"]))
    return struct(models = models, error = None)

def _locked_model(handle, key, name, sha256, size, tree_digest, url):
    return struct(handle = handle, key = key, name = name, sha256 = sha256, size = size, tree_digest = tree_digest, url = url)

_NAME_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_CHARS = _NAME_START + "0123456789_-."

def rename(models, names, where, declaration):
    """struct(models, error): `models` with the repository names of `names` (handle, any spelling -> name).

    Errors start with `where` (the lock's label) and name the `declaration` to edit (`hub_lock`,
    `hub.from_lock`): a handle the lock does not pin, a name Bazel refuses, two models with one name.
    """
    by_key = {model.key: model for model in models}
    renamed = {}
    for handle, name in names.items():
        parsed = parse_handle(handle)
        key = parsed.key if not parsed.error else handle
        if key not in by_key:
            return struct(models = None, error = "%s: %s(names = ...) renames %r, which the lock does not pin" % (where, declaration, handle))
        if not name or name[0] not in _NAME_START or [c for c in name.elems() if c not in _NAME_CHARS]:
            return struct(models = None, error = "%s: %s(names = ...) gives %r the name %r; a repository name is a letter, then letters, digits, '_', '-' or '.'" % (where, declaration, handle, name))
        renamed[key] = name
    result = []
    taken = {}
    for model in models:
        if model.key in renamed:
            model = _locked_model(model.handle, model.key, renamed[model.key], model.sha256, model.size, model.tree_digest, model.url)
        other = taken.get(model.name)
        if other:
            return struct(models = None, error = "%s: handles %r and %r both map to repository name %r; rename one: %s(..., names = {%r: \"<another name>\"})" % (where, other.handle, model.handle, model.name, declaration, model.handle))
        taken[model.name] = model
        result.append(model)
    return struct(models = result, error = None)
