"""Hub handles in Starlark: TF Hub and other http(s) archive URLs, Kaggle Models.

Keep in sync with src/hubvendor/handle.py (and `repository_name` with src/hubvendor/bazel.py): both
pass every vector of tests/vectors/handles.json (bazel/tests/handle_test.bzl runs them under Bazel).
`parse_handle` never fails (it returns `error`), so tests can check rejections; `normalise`,
`compressed_url` and `repository_name` fail with that error, naming the handle.
"""

_FORMAT_QUERY = "tf-hub-format"
_CN_HUB_PREFIX = "https://hub.tensorflow.google.cn/"
_CN_GCS_TEMPLATE = "https://gcs.tensorflow.google.cn/tfhub-modules/%s.tar.gz"
_KAGGLE_API = "https://www.kaggle.com/api/v1/models/"
_KAGGLE_HOSTS = ("kaggle.com", "www.kaggle.com")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_KAGGLE_FORMS = ("kaggle://<owner>/<model>/<framework>/<variation>[/<version>], " +
                 "https://www.kaggle.com/models/<owner>/<model>/<framework>/<variation>[/<version>] or " +
                 "https://www.kaggle.com/models/<owner>/<model>/frameworks/<framework>/variations/<variation>[/versions/<version>]")
_EXPECTED = ("expected https://tfhub.dev/<publisher>/<model>/<version>, a Kaggle model (kaggle://...), " +
             "another http(s) archive URL, a gs:// path or a local path")
_HEX = "0123456789abcdef"
_DIGITS = "0123456789"

# Printable ASCII, code points 32 to 126 (Starlark has no ord/chr).
_PRINTABLE = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_KAGGLE_SEGMENT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_REPO_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_IPV6_CHARS = "0123456789abcdefABCDEF:."

def _error(handle, message):
    return struct(error = "handle %r: %s" % (handle, message), kind = None, key = None, compressed_url = None, repository_name = None)

def _is_digits(text):
    return bool(text) and not [c for c in text.elems() if c not in _DIGITS]

_CONTROL = "".join(["\000", "\001", "\002", "\003", "\004", "\005", "\006", "\007", "\010", "\011", "\012", "\013", "\014", "\015", "\016", "\017", "\020", "\021", "\022", "\023", "\024", "\025", "\026", "\027", "\030", "\031", "\032", "\033", "\034", "\035", "\036", "\037", "\177"])

def _split_url(rest):
    """urllib.parse.urlsplit of what follows `scheme://`: netloc, path, query, fragment."""
    fragment = ""
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    slash = rest.find("/")
    netloc, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    return struct(netloc = netloc, path = path, query = query, fragment = fragment)

def _host_and_port(netloc):
    """(host, port string, error) like urlsplit's hostname/port, host lowercased, IPv6 in brackets."""
    if ("[" in netloc) != ("]" in netloc):
        return None, None, "malformed URL (Invalid IPv6 URL)"
    if "[" in netloc:
        inside, _, after = netloc.partition("[")[2].partition("]")
        if not inside or ":" not in inside or [c for c in inside.elems() if c not in _IPV6_CHARS]:
            return None, None, "malformed URL (%r is not a valid IPv6 address)" % inside
        port = after.partition(":")[2]
        return "[%s]" % inside.lower(), port, None
    host, _, port = netloc.partition(":")
    return host.lower(), port, None

def _cleaned_path(path):
    """Repeated slashes collapsed, trailing ones dropped."""
    return "".join(["/" + s for s in path.split("/") if s])

def _utf8_valid(values):
    """Python's strict UTF-8 decoding rules over a list of byte values."""
    i = 0
    for _ in range(len(values)):
        if i >= len(values):
            break
        lead = values[i]
        if lead < 0x80:
            i += 1
            continue
        if lead >= 0xc2 and lead <= 0xdf:
            need, low, high = 1, 0x80, 0xbf
        elif lead == 0xe0:
            need, low, high = 2, 0xa0, 0xbf
        elif lead == 0xed:
            need, low, high = 2, 0x80, 0x9f
        elif lead >= 0xe1 and lead <= 0xef:
            need, low, high = 2, 0x80, 0xbf
        elif lead == 0xf0:
            need, low, high = 3, 0x90, 0xbf
        elif lead >= 0xf1 and lead <= 0xf3:
            need, low, high = 3, 0x80, 0xbf
        elif lead == 0xf4:
            need, low, high = 3, 0x80, 0x8f
        else:
            return False
        if i + need >= len(values):
            return False
        if values[i + 1] < low or values[i + 1] > high:
            return False
        for k in range(2, need + 1):
            if values[i + k] < 0x80 or values[i + k] > 0xbf:
                return False
        i += need + 1
    return True

def _requote_plus(text):
    """urllib.parse.quote_plus(urllib.parse.unquote_plus(text)) for ASCII text, or None if not UTF-8."""
    tokens = []  # (text to emit, byte value)
    chars = text.replace("+", " ")
    i = 0
    for _ in range(len(chars)):
        if i >= len(chars):
            break
        char = chars[i]
        code = chars[i + 1:i + 3].lower()
        if char == "%" and len(code) == 2 and code[0] in _HEX and code[1] in _HEX:
            value = _HEX.index(code[0]) * 16 + _HEX.index(code[1])
            if value >= 32 and value <= 126:
                char = _PRINTABLE[value - 32]
                tokens.append((_quote_char(char), value))
            else:
                tokens.append(("%" + code.upper(), value))
            i += 3
        else:
            tokens.append((_quote_char(char), _PRINTABLE.index(char) + 32))
            i += 1
    if not _utf8_valid([value for _, value in tokens]):
        return None
    return "".join([out for out, _ in tokens])

def _quote_char(char):
    if char in _UNRESERVED:
        return char
    if char == " ":
        return "+"
    code = _PRINTABLE.index(char) + 32
    return "%" + (_HEX[code // 16] + _HEX[code % 16]).upper()

def _query_without_format(query, keep_blank_values):
    """urlencode(parse_qsl(query) minus tf-hub-format), or None if an escape is not UTF-8."""
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        if "=" not in item:
            if not keep_blank_values:
                continue
            item += "="
        name, value = item.split("=", 1)
        if not value and not keep_blank_values:
            continue
        name, value = _requote_plus(name), _requote_plus(value)
        if name == None or value == None:
            return None
        if name != _FORMAT_QUERY:
            pairs.append(name + "=" + value)
    return "&".join(pairs)

def _kaggle_web_segments(path):
    """owner, model, framework, variation[, version] of a kaggle.com/models/... path, or None."""
    segments = path.split("/")[1:]
    if segments and segments[0].lower() == "models":
        keywords = [segments[i].lower() for i in (3, 5, 7) if i < len(segments)]
        if len(segments) in (7, 9) and keywords == ["frameworks", "variations", "versions"][:len(keywords)]:
            return segments[1:3] + [segments[i] for i in (4, 6, 8) if i < len(segments)]
        if len(segments) in (5, 6):
            return segments[1:]
    return None

def _kaggle(handle, segments):
    if segments and segments[-1] == "":
        segments = segments[:-1]
    if segments == None or len(segments) not in (4, 5):
        return _error(handle, "a Kaggle handle looks like " + _KAGGLE_FORMS)
    for s in segments:
        if not s or not s.strip(".") or [c for c in s.elems() if c not in _KAGGLE_SEGMENT_CHARS]:
            return _error(handle, "a Kaggle handle looks like " + _KAGGLE_FORMS)
    if len(segments) == 5 and not _is_digits(segments[4]):
        return _error(handle, "a Kaggle model version is a number, got %r" % segments[4])
    rest = "/".join([s.lower() for s in segments[:3]] + segments[3:])
    return struct(
        error = None,
        kind = "kaggle",
        key = "kaggle://" + rest,
        compressed_url = _KAGGLE_API + rest + "/download" if len(segments) == 5 else None,
        repository_name = _repository_name("kaggle/" + rest),
    )

def _http(handle, scheme, rest):
    for char in handle.elems():
        if char == " " or char not in _PRINTABLE:
            return _error(handle, "URLs with spaces or non-ASCII characters cannot be requested (percent-encode them, write hosts in xn-- form); " + _EXPECTED)
    url = _split_url(rest)
    host, port, error = _host_and_port(url.netloc.rpartition("@")[2])
    if error:
        return _error(handle, error + "; " + _EXPECTED)
    if port and not _is_digits(port):
        return _error(handle, "malformed URL (Port could not be cast to integer value as %r); %s" % (port, _EXPECTED))
    if port and int(port) > 65535:
        return _error(handle, "malformed URL (Port out of range 0-65535); " + _EXPECTED)
    if "@" in url.netloc:
        return _error(handle, "credentials in URLs are not supported; " + _EXPECTED)
    if not host:
        return _error(handle, "URL without a host; " + _EXPECTED)
    if not host.startswith("[") and (len(host) > 253 or [label for label in host.split(".") if not label or len(label) > 63]):
        return _error(handle, "host %r is not a valid name (an empty label, a label over 63 characters or over 253 in all); %s" % (host, _EXPECTED))
    path = _cleaned_path(url.path)
    if host in _KAGGLE_HOSTS:
        return _kaggle(handle, _kaggle_web_segments(path))
    if host == "tfhub.dev":
        segments = [s for s in path.split("/") if s]
        if len(segments) < 3 or not _is_digits(segments[-1]):
            return _error(handle, "a tfhub.dev handle needs a publisher, a model and a numeric version; " + _EXPECTED)
    netloc = host if not port or int(port) == _DEFAULT_PORTS[scheme] else "%s:%d" % (host, int(port))
    query = _query_without_format(url.query, keep_blank_values = True)
    if query == None:
        return _error(handle, "the query has percent-escapes that are not UTF-8; " + _EXPECTED)
    key = "%s://%s%s%s" % (scheme, netloc, path, "?" + query if query else "")
    if handle.startswith(_CN_HUB_PREFIX):
        archive = _CN_GCS_TEMPLATE % handle[len(_CN_HUB_PREFIX):]
    else:
        archive_query = _query_without_format(url.query, keep_blank_values = False)
        archive_query = (archive_query + "&" if archive_query else "") + _FORMAT_QUERY + "=compressed"
        archive = "%s://%s%s?%s%s" % (scheme, url.netloc, url.path, archive_query, "#" + url.fragment if url.fragment else "")
    name = key.split("://", 1)[1]
    if name.startswith("tfhub.dev/"):
        name = "tfhub/" + name[len("tfhub.dev/"):]
    return struct(error = None, kind = "http", key = key, compressed_url = archive, repository_name = _repository_name(name))

def _repository_name(text):
    """Lowercase letters, digits and single underscores; `hub_` first unless it starts with a letter."""
    name = "".join([c if c in _REPO_NAME_CHARS else "_" for c in text.lower().elems()])
    name = "_".join([part for part in name.split("_") if part])
    return name if name[:1].isalpha() else "hub_" + name

def parse_handle(handle):
    """struct(error, kind, key, compressed_url, repository_name); `error` is None for a handle Bazel can fetch.

    `compressed_url` is None for a Kaggle handle without a version (it must be locked first).
    """
    if type(handle) != "string":
        return _error(handle, "not a string; " + _EXPECTED)
    if not handle.strip() or handle != handle.strip():
        return _error(handle, "empty or surrounded by whitespace; " + _EXPECTED)
    if [c for c in handle.elems() if c in _CONTROL]:
        return _error(handle, "contains control characters; " + _EXPECTED)
    scheme, sep, rest = handle.partition("://")
    scheme = scheme.lower()
    if sep and scheme in ("http", "https"):
        return _http(handle, scheme, rest)
    if sep and scheme == "kaggle":
        return _kaggle(handle, rest.split("/"))
    if sep and scheme not in ("gs", "file"):
        return _error(handle, "unsupported scheme %r; %s" % (handle.partition("://")[0], _EXPECTED))
    return _error(handle, "Bazel fetches http(s) and kaggle:// handles only; vendor a local path or gs:// model another way (`hubvendor vendor -o DIR`, then HUBVENDOR_PATH)")

def _checked(handle):
    parsed = parse_handle(handle)
    if parsed.error:
        fail(parsed.error)
    return parsed

def normalise(handle):
    """The normalised key of an http(s) or Kaggle handle (hubvendor.handle.normalise)."""
    return _checked(handle).key

def compressed_url(handle):
    """The archive URL hubvendor and tensorflow_hub download for `handle` (Handle.compressed_url)."""
    parsed = _checked(handle)
    if parsed.compressed_url == None:
        fail("handle %r: a Kaggle handle without a version cannot be downloaded; pin it with `hubvendor lock`" % handle)
    return parsed.compressed_url

def repository_name(handle):
    """tfhub_<publisher>_<model>_<version>, kaggle_<owner>_..., else <host>_<path> (hubvendor.bazel.repository_name)."""
    return _checked(handle).repository_name
