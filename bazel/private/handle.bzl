"""TF Hub handles in Starlark, mirroring src/hubvendor/handle.py.

`compressed_url` must give byte-for-byte the URL hubvendor and tensorflow_hub download, so that Bazel,
pip builds and the downloader config all see the same URL. `normalise` gives the key vendored
manifests use; the Python reader normalises keys again, so rare forms (percent-escapes in queries)
cannot make a lookup miss.
"""

_FORMAT_QUERY = "tf-hub-format"
_CN_HUB_PREFIX = "https://hub.tensorflow.google.cn/"
_CN_GCS_TEMPLATE = "https://gcs.tensorflow.google.cn/tfhub-modules/%s.tar.gz"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_EXPECTED = "expected https://tfhub.dev/<publisher>/<model>/<version>, a Kaggle model URL or another http(s) archive URL"
_HEX = "0123456789abcdef"
# Printable ASCII, code points 32 to 126 (Starlark has no ord/chr).
_PRINTABLE = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_REPO_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"

def _split_url(handle):
    """Splits an http(s) URL like urllib.parse.urlparse: scheme, netloc, path, query, fragment."""
    if "://" not in handle:
        return None
    scheme, rest = handle.split("://", 1)
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        return None
    fragment = ""
    if "#" in rest:
        rest, fragment = rest.split("#", 1)
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    slash = rest.find("/")
    netloc, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    return struct(scheme = scheme, netloc = netloc, path = path, query = query, fragment = fragment)

def _unquote_plus(text):
    """urllib.parse.unquote(text.replace("+", " ")) for ASCII escapes."""
    text = text.replace("+", " ")
    parts = text.split("%")
    out = [parts[0]]
    for part in parts[1:]:
        code = part[:2].lower()
        if len(code) == 2 and code[0] in _HEX and code[1] in _HEX:
            value = _HEX.index(code[0]) * 16 + _HEX.index(code[1])
            if value < 32 or value > 126:
                return None
            out.append(_PRINTABLE[value - 32] + part[2:])
        else:
            out.append("%" + part)
    return "".join(out)

def _quote_plus(text):
    """urllib.parse.quote_plus(text, safe="") for ASCII text."""
    out = []
    for char in text.elems():
        if char in _UNRESERVED:
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            code = _PRINTABLE.index(char) + 32
            out.append("%" + (_HEX[code // 16] + _HEX[code % 16]).upper())
    return "".join(out)

def _query_without_format(handle, query, keep_blank_values):
    """parse_qsl(query) minus tf-hub-format, re-encoded like urllib.parse.urlencode."""
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
        name, value = _unquote_plus(name), _unquote_plus(value)
        if name == None or value == None:
            fail("handle %r: percent-escapes of non-ASCII or control characters in the query are not supported by hub_model(); pass urls = [...] explicitly" % handle)
        if name != _FORMAT_QUERY:
            pairs.append(_quote_plus(name) + "=" + _quote_plus(value))
    return "&".join(pairs)

def _check_ascii(handle):
    for char in handle.elems():
        if char == " " or char not in _PRINTABLE:
            fail("handle %r: contains whitespace, control or non-ASCII characters; %s" % (handle, _EXPECTED))

def _parse(handle):
    """Validates an http(s) handle and returns its URL parts, failing with a message naming it."""
    if type(handle) != "string" or not handle:
        fail("handle %r: not a non-empty string; %s" % (handle, _EXPECTED))
    _check_ascii(handle)
    parts = _split_url(handle)
    if parts == None:
        fail("handle %r: hub_model() needs an http(s) URL (local paths and gs:// are not fetched by Bazel); %s" % (handle, _EXPECTED))
    if "@" in parts.netloc:
        fail("handle %r: credentials in URLs are not supported; %s" % (handle, _EXPECTED))
    host, port = parts.netloc, ""
    if ":" in parts.netloc:
        host, port = parts.netloc.rsplit(":", 1)
        if port and not port.isdigit():
            fail("handle %r: malformed port %r; %s" % (handle, port, _EXPECTED))
    if not host:
        fail("handle %r: URL without a host; %s" % (handle, _EXPECTED))
    return struct(
        scheme = parts.scheme,
        host = host.lower(),
        port = port,
        path = parts.path,
        query = parts.query,
        fragment = parts.fragment,
    )

def _clean_path(path):
    """Collapses repeated slashes and drops trailing ones, like handle.py."""
    segments = path.split("/")
    return "".join(["/" + s for s in segments if s])

def _kaggle_path(handle, path):
    segments = [s for s in path.split("/") if s]
    long_form = len(segments) == 9 and segments[3] == "frameworks" and segments[5] == "variations" and segments[7] == "versions"
    if long_form:
        segments = [segments[0], segments[1], segments[2], segments[4], segments[6], segments[8]]
    if len(segments) != 6 or segments[0].lower() != "models" or not segments[5].isdigit():
        fail("handle %r: a Kaggle handle looks like https://www.kaggle.com/models/<owner>/<model>/<framework>/<variation>/<version>" % handle)
    _, owner, model, framework, variation, version = segments
    return "/models/%s/%s/%s/%s/%s" % (owner.lower(), model.lower(), framework.lower(), variation, version)

def normalise(handle):
    """The normalised key of an http(s) handle, as hubvendor.handle.normalise computes it."""
    url = _parse(handle)
    netloc = url.host
    if url.port and url.port.lstrip("0") != _DEFAULT_PORTS[url.scheme]:
        netloc = "%s:%s" % (url.host, int(url.port))
    path = _clean_path(url.path)
    if url.host == "tfhub.dev":
        segments = [s for s in path.split("/") if s]
        if len(segments) < 3 or not segments[-1].isdigit():
            fail("handle %r: a tfhub.dev handle needs a publisher, a model and a numeric version; %s" % (handle, _EXPECTED))
    if url.host in ("kaggle.com", "www.kaggle.com"):
        netloc, path = "www.kaggle.com", _kaggle_path(handle, path)
    query = _query_without_format(handle, url.query, keep_blank_values = True)
    return "%s://%s%s%s" % (url.scheme, netloc, path, "?" + query if query else "")

def compressed_url(handle):
    """The archive URL tensorflow_hub downloads for `handle` (Handle.compressed_url in handle.py)."""
    normalise(handle)  # validates, failing with a message naming the handle
    if handle.startswith(_CN_HUB_PREFIX):
        return _CN_GCS_TEMPLATE % handle[len(_CN_HUB_PREFIX):]
    url = _split_url(handle)
    if url == None:
        fail("hub_model handle %r: expected an http(s) URL" % handle)
    query = _query_without_format(handle, url.query, keep_blank_values = False)
    query = (query + "&" if query else "") + _FORMAT_QUERY + "=compressed"
    fragment = "#" + url.fragment if url.fragment else ""
    return "%s://%s%s?%s%s" % (url.scheme, url.netloc, url.path, query, fragment)

def repository_name(handle):
    """A deterministic repository name: tfhub_<publisher>_<model>_<version>, kaggle_..., else <host>_<path>.

    hubvendor.bazel.repository_name computes the same in Python.
    """
    key = normalise(handle)
    rest = key.split("://", 1)[1]
    if rest.startswith("tfhub.dev/"):
        rest = "tfhub/" + rest[len("tfhub.dev/"):]
    elif rest.startswith("www.kaggle.com/models/"):
        rest = "kaggle/" + rest[len("www.kaggle.com/models/"):]
    name = "".join([c if c in _REPO_NAME_CHARS else "_" for c in rest.lower().elems()])
    name = "_".join([part for part in name.split("_") if part])
    return name if name[0].isalpha() else "hub_" + name
