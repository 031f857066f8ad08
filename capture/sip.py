"""SIP message parsing (RFC 3261 syntax, lenient where real devices are, strict where it
matters): start line, headers with compact forms, folded lines and comma lists, body.

Parsing is split in two: :func:`parse_message` does the cheap part every message needs
(start line, header lines into a dict, body cut by Content-Length); URIs, tags, SDP and
the like are parsed only when a property asks (most messages never need them). A capture
replay goes further: :func:`scan_message` (start line, Call-ID, CSeq) and
:func:`scan_call_fields` (what a new call records) find only those with a few ``bytes``
searches and answer only when they can vouch for giving what :func:`parse_message` gives;
otherwise the caller parses in full.

>>> m = parse_message(b"INVITE sip:13812345678@10.0.0.2 SIP/2.0\\r\\n"
...     b"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\\r\\n"
...     b'f: "Ann" <sip:+85512345678@gw.example>;tag=a1\\r\\n'
...     b"t: <tel:13812345678>\\r\\ni: abc@10.0.0.1\\r\\nCSeq: 1 INVITE\\r\\n"
...     b"P-Asserted-Identity: <sip:+85599999999@gw.example>, <tel:+85599999999>\\r\\n"
...     b"l: 0\\r\\n\\r\\n")
>>> m.is_request, m.method, m.call_id, m.cseq_num, m.cseq_method
(True, 'INVITE', 'abc@10.0.0.1', 1, 'INVITE')
>>> m.from_user, m.from_tag, m.to_user, m.to_tag, m.pai_user, m.request_user
('+85512345678', 'a1', '13812345678', '', '+85599999999', '13812345678')
>>> m.headers["p-asserted-identity"]
['<sip:+85599999999@gw.example>', '<tel:+85599999999>']
>>> parse_message(b"SIP/2.0 486 Busy Here\\r\\nCall-ID: x\\r\\n\\r\\n").status
486
>>> parse_message(b"GET / HTTP/1.1\\r\\n\\r\\n")
Traceback (most recent call last):
...
capture.sip.SipParseError: not_sip
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote

#: compact header forms (RFC 3261 section 7.3.3 and later RFCs) to their long names
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
    "x": "session-expires", "a": "accept-contact", "j": "reject-contact",
    "d": "request-disposition", "y": "identity", "n": "identity-info",
}

#: headers whose value is a comma-separated list (RFC 3261 section 7.3.1); others,
#: e.g. Date or the authorization headers, contain commas that do not separate values
LIST_HEADERS = frozenset({
    "via", "contact", "route", "record-route", "p-asserted-identity",
    "p-preferred-identity", "allow", "supported", "require", "proxy-require",
    "unsupported", "accept", "accept-encoding", "accept-language", "content-encoding",
    "in-reply-to", "alert-info", "call-info", "error-info", "warning", "allow-events",
    "path", "service-route", "history-info", "diversion", "reason", "security-client",
    "security-server", "security-verify", "accept-contact", "reject-contact",
    "request-disposition", "p-associated-uri", "privacy",
})

#: the largest message accepted (over TCP a message can be big, but not this big)
MAX_MESSAGE = 65535 * 4

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_STATUS_LINE = re.compile(r"SIP/2\.0[ \t]+(\d{3})(?:[ \t]+(.*))?\Z", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")

_NAME_CACHE: dict[str, str] = {}
_FOLD = re.compile(r"\r\n[ \t]+")


class SipParseError(ValueError):
    """A message rejected by the parser; ``reason`` is a short, countable word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class SipMessage:
    """One SIP request or response."""

    is_request: bool
    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    #: canonical lower-case long names -> values in message order (comma lists split)
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    # -- header access -----------------------------------------------------------------
    def header(self, name: str) -> str:
        """The first value of a header (any case, compact form allowed), or ""."""
        values = self.headers.get(name)  # already canonical: the usual, internal case
        if values is None:
            n = name.lower()
            values = self.headers.get(COMPACT.get(n, n))
        return values[0] if values else ""

    @property
    def label(self) -> str:
        """What a ladder diagram shows: the method, or ``status reason``."""
        return self.method if self.is_request else f"{self.status} {self.reason}".strip()

    @property
    def call_id(self) -> str:
        values = self.headers.get("call-id")
        return values[0] if values else ""

    @property
    def cseq_num(self) -> int | None:
        num, _ = _cseq(self.header("cseq"))
        return num

    @property
    def cseq_method(self) -> str:
        _, method = _cseq(self.header("cseq"))
        return method

    @property
    def from_uri(self) -> str:
        return name_addr(self.header("from"))[1]

    @property
    def from_user(self) -> str:
        return uri_user(self.from_uri)

    @property
    def from_tag(self) -> str:
        return header_params(name_addr(self.header("from"))[2]).get("tag", "")

    @property
    def to_uri(self) -> str:
        return name_addr(self.header("to"))[1]

    @property
    def to_user(self) -> str:
        return uri_user(self.to_uri)

    @property
    def to_tag(self) -> str:
        return header_params(name_addr(self.header("to"))[2]).get("tag", "")

    @property
    def request_user(self) -> str:
        return uri_user(self.uri) if self.is_request else ""

    @property
    def pai_user(self) -> str:
        """The user of the first P-Asserted-Identity (the network-asserted caller)."""
        for value in self.headers.get("p-asserted-identity", ()):
            user = uri_user(name_addr(value)[1])
            if user:
                return user
        return ""

    @property
    def identity_present(self) -> bool:
        """Whether a STIR/SHAKEN ``Identity`` header (RFC 8224) is present."""
        return bool(self.headers.get("identity"))

    @property
    def user_agent(self) -> str:
        return self.header("user-agent")

    @property
    def server(self) -> str:
        return self.header("server")

    @property
    def contact_uri(self) -> str:
        value = self.header("contact")
        if value.strip() == "*":
            return "*"
        return name_addr(value)[1]

    @property
    def expires(self) -> int | None:
        """The first Contact's ``expires`` parameter, else the Expires header (seconds)."""
        contact = self.header("contact")
        if contact:
            value = header_params(name_addr(contact)[2]).get("expires")
            if value is not None and value.isdigit():
                return int(value)
        value = self.header("expires").strip()
        return int(value) if value.isdigit() else None

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length").strip()
        return int(value) if value.isdigit() else None

    @property
    def sdp_connection(self) -> str:
        """The address of the SDP session (or first media) ``c=`` line, or ""."""
        for line in self._sdp_lines():
            if line.startswith("c="):
                parts = line[2:].split()
                if len(parts) >= 3:
                    return parts[2].split("/")[0]
        return ""

    @property
    def sdp_media_ports(self) -> list[tuple[str, int]]:
        """(media, port) for every SDP ``m=`` line."""
        out = []
        for line in self._sdp_lines():
            if line.startswith("m="):
                parts = line[2:].split()
                if len(parts) >= 2:
                    port = parts[1].split("/")[0]
                    if port.isdigit():
                        out.append((parts[0], int(port)))
        return out

    def _sdp_lines(self) -> list[str]:
        if not self.body or b"\nm=" not in self.body and b"\nc=" not in self.body:
            return []
        return self.body.decode("utf-8", "replace").splitlines()


# -- entry points ----------------------------------------------------------------------
def looks_like_sip(payload: bytes) -> bool:
    """Whether a payload starts like a SIP message (by content, on any port).

    >>> looks_like_sip(b"OPTIONS sip:a@b SIP/2.0\\r\\n"), looks_like_sip(b"SIP/2.0 200 OK\\r\\n")
    (True, True)
    >>> looks_like_sip(b"GET / HTTP/1.1\\r\\n"), looks_like_sip(b"\\x80\\x08rtp")
    (False, False)
    """
    if payload[:8] == b"SIP/2.0 ":
        return True
    eol = payload.find(b"\n")
    if eol >= 9 and payload[eol - 9:eol] == b" SIP/2.0\r":
        return True  # the usual request line, checked without copies
    if payload[:8].upper() == b"SIP/2.0 ":
        return True
    line = payload[:eol] if eol >= 0 else payload
    return line.rstrip(b"\r \t")[-7:].upper() == b"SIP/2.0" and b" " in line


def parse_message(data: bytes) -> SipMessage:
    """Parse one SIP message; raise :class:`SipParseError` (with a reason) if it is not one.

    Leading CRLFs (keep-alives) are skipped; the body is cut at Content-Length when the
    header is present and smaller than what is there.
    """
    if not data:
        raise SipParseError("empty")
    if len(data) > MAX_MESSAGE:
        raise SipParseError("too_large")
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
        if not data:
            raise SipParseError("keepalive")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head, body = data[:end], data[end + 4:]
    else:
        end = data.find(b"\n\n")
        if end >= 0:
            head, body = data[:end], data[end + 2:]
        else:
            head, body = data, b""
    text = head.decode("utf-8", "surrogateescape")
    crlf = text.count("\r\n")
    if crlf != text.count("\n") or crlf != text.count("\r"):
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    if "\n " in text or "\n\t" in text:
        text = _FOLD.sub(" ", text)  # unfold continuation lines
    lines = text.split("\r\n")
    message = _start_line(lines[0].strip(" \t"))
    if len(lines) > 1:
        del lines[0]
        message.headers = _headers(lines)
    if body:
        cl = message.headers.get("content-length")
        if cl:
            value = cl[0]
            if value.isdigit() and int(value) < len(body):
                body = body[:int(value)]
        message.body = body
    return message


#: methods seen every day: a set lookup instead of the token regex on the hot path
KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO",
    "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH",
})


def _start_line(line: str) -> SipMessage:
    # fast paths for well-formed lines; anything unusual goes through the careful checks
    if line.startswith("SIP/2.0 "):
        code = line[8:11]
        # len(line) >= 11 first: "SIP/2.0 20" must be rejected, not raise IndexError
        if len(line) >= 11 and code.isdigit() and (len(line) == 11 or line[11] == " ") \
                and code[0] in "123456":
            return SipMessage(False, status=int(code), reason=line[12:].strip())
    elif line.endswith(" SIP/2.0"):
        method, _, uri = line[:-8].partition(" ")
        if method in KNOWN_METHODS and uri and " " not in uri and ":" in uri \
                and uri[0] != "<":
            return SipMessage(True, method=method, uri=uri)
    return _start_line_careful(line)


def _start_line_careful(line: str) -> SipMessage:
    if line[:8].upper() == "SIP/2.0 " or line[:8].upper() == "SIP/2.0\t":
        m = _STATUS_LINE.match(line)
        if not m:
            raise SipParseError("bad_status_line")
        status = int(m.group(1))
        if status < 100 or status > 699:
            raise SipParseError("bad_status_code")
        return SipMessage(False, status=status, reason=(m.group(2) or "").strip())
    parts = line.split(" ")
    if len(parts) != 3:
        parts = line.split()
        if len(parts) != 3:
            if line.upper().startswith("SIP/") or line[-8:].upper().startswith("SIP/"):
                raise SipParseError("bad_version")
            raise SipParseError("not_sip" if "SIP/" not in line.upper() else "bad_request_line")
    method, uri, version = parts
    if version != "SIP/2.0":
        if version.upper() == "SIP/2.0":
            pass  # RFC 3261 says case-insensitive
        elif version.upper().startswith("SIP/"):
            raise SipParseError("bad_version")
        else:
            raise SipParseError("not_sip")
    if not _TOKEN.match(method):
        raise SipParseError("bad_method")
    if not _SCHEME.match(uri):
        raise SipParseError("bad_request_uri")
    return SipMessage(True, method=method, uri=uri)


# -- the fast scan -----------------------------------------------------------------------
#: KNOWN_METHODS and status codes by their bytes, for the scan's start line
_METHOD_BYTES = {m.encode(): m for m in KNOWN_METHODS}
_STATUS_BYTES = {str(code).encode(): code for code in range(100, 700)}
#: the scan's copy of the header block: lower case (names are case-insensitive), and LF
#: for every byte that may end a line (CR) or surround a name (tab, VT, FF, FS..US, space,
#: and bytes >= 0x80: U+0085, U+00A0... strip like whitespace once decoded), so that any
#: line whose name could strip to the compact ``i`` shows as LF + ``i``
_SCAN_TABLE = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\t\x0b\x0c\x1c\x1d\x1e\x1f " + bytes(range(0x80, 0x100)),
    b"abcdefghijklmnopqrstuvwxyz" + b"\n" * (9 + 0x80))
#: what a scan returns: is_request, method, status, Call-ID, CSeq (or None, see below)
Scan = tuple[bool, str, int, str, "str | None"]


def scan_message(data: bytes, all_cseq: bool = False) -> Scan | None:
    """The start line, Call-ID and CSeq of a plain message, without parsing the rest; None
    whenever the scan cannot vouch that :func:`parse_message` would give the same.

    Most packets of a dialog (provisional responses, ACK, BYE, their 200s) matter only by
    these, and splitting every header line into a dict is most of the cost of a capture
    replay. The scan returns ``(is_request, method, status, call_id, cseq)`` equal to
    ``msg.is_request, msg.method, msg.status, msg.call_id, msg.header("cseq")`` of ``msg
    = parse_message(data)``; ``cseq`` only for what a dialog tracker reads it of (final
    responses and REGISTER requests) unless ``all_cseq``, else None. A handful of
    ``bytes`` calls find them: per call, not per byte scanned, is what costs here (and
    ``re`` is several times slower than ``bytes.find``).

    It gives up (None: the caller parses in full, so rejections keep the parser's
    reasons) on anything unusual: no CRLFCRLF, a start line the parser's fast path would
    not take (or with spacing around it), a bare CR/LF or a fold in the start line or a
    value, the letters ``call-id``/``cseq`` first seen anywhere but right at the start of
    a header line and before its colon (any long-form line has them, so the first is the
    first header), or, before the Call-ID, a line starting with spacing or ``i`` or any
    spacing followed by ``i`` (a compact ``i:`` could hide there). A scan that answers
    implies ``looks_like_sip(data)`` and that the HEP hook passes the payload over.

    >>> scan_message(b"SIP/2.0 180 Ringing\\r\\nCall-ID: a@b\\r\\nCSeq: 1 INVITE\\r\\n\\r\\n")
    (False, '', 180, 'a@b', None)
    >>> scan_message(b"BYE sip:x@y SIP/2.0\\r\\ncall-ID:a@b \\r\\nCSeq: 2 BYE\\r\\n\\r\\n", True)
    (True, 'BYE', 0, 'a@b', '2 BYE')
    >>> scan_message(b"BYE sip:x@y SIP/2.0\\r\\ni: a@b\\r\\nCSeq: 2 BYE\\r\\n\\r\\n") is None
    True
    """
    eol = data.find(b"\r\n")
    end = data.find(b"\r\n\r\n", eol)  # the header block is data[:end]
    if end <= eol or len(data) > MAX_MESSAGE:
        return None  # no CRLF, no CRLFCRLF, or a start line alone: the parser's cases
    # Searched in data bounded by end, no copy. Every CRLF of the block is followed by
    # a byte (at worst the CR of the CRLFCRLF), and a value's CRLF is found by an
    # unbounded search: the CRLFCRLF's own CRLF stops it at the block's end.
    line = data[:eol]
    if 13 in line or 10 in line or data[eol + 2] in (32, 9):
        return None  # a bare CR/LF or a folded start line
    # the conditions of _start_line's fast path, on bytes and without spacing around
    if line[:8] == b"SIP/2.0 ":
        status = _STATUS_BYTES.get(line[8:11])
        if status is None or len(line) > 11 and line[11] != 32:
            return None
        is_request, method = False, ""
        want_cseq = all_cseq or status >= 200
    elif line[-8:] == b" SIP/2.0":
        name, _, uri = line[:-8].partition(b" ")
        method = _METHOD_BYTES.get(name)  # type: ignore[assignment]
        if method is None or not uri or 32 in uri or 58 not in uri or uri[0] == 60:
            return None
        is_request, status = True, 0
        want_cseq = all_cseq or method == "REGISTER"
    else:
        return None
    scan = data.translate(_SCAN_TABLE)
    at = scan.find(b"call-id", eol, end)
    if at < 0:
        if scan.find(b"\ni", eol, end) >= 0:
            return None
        call_id = ""
    else:
        # at + 7 <= end: data[at + 7] exists
        if data[at - 2:at] != b"\r\n" or data[at + 7] != 58 \
                or scan.find(b"\ni", eol, at) >= 0:
            return None
        stop = data.find(b"\r\n", at + 8)
        if data[stop + 2] in (32, 9):
            return None  # folded
        value = data[at + 8:stop]
        if 13 in value or 10 in value:
            return None
        value = value.strip(b" \t")
        try:
            call_id = value.decode()  # the fast path of the codec
        except UnicodeDecodeError:
            call_id = value.decode("utf-8", "surrogateescape")  # as parse_message does
    cseq = None
    if want_cseq:
        at = scan.find(b"cseq", eol, end)  # CSeq has no compact form
        if at < 0:
            cseq = ""
        else:
            if data[at - 2:at] != b"\r\n" or data[at + 4] != 58:
                return None
            stop = data.find(b"\r\n", at + 5)
            if data[stop + 2] in (32, 9):
                return None
            value = data[at + 5:stop]
            if 13 in value or 10 in value:
                return None
            cseq = value.strip(b" \t").decode("utf-8", "surrogateescape")
    return is_request, method, status, call_id, cseq


class CallFields(NamedTuple):
    """What a dialog tracker reads of an INVITE that starts a call: the same attributes
    as a :class:`SipMessage` has, with the same values."""

    call_id: str
    pai_user: str
    from_user: str
    to_user: str
    request_user: str
    user_agent: str
    identity_present: bool


def scan_call_fields(data: bytes, call_id: str | None = None) -> CallFields | None:
    """:class:`CallFields` of a request by the same kind of scan as :func:`scan_message`
    (and on top of it), or None whenever the scan cannot vouch for them; parsing an
    INVITE with its SDP in full costs several times more.

    Each header (From/f, To/t, P-Asserted-Identity, User-Agent, Identity/y) is the first
    line that starts (after a CRLF, no spacing) with its name and a colon, provided no
    line or spacing-separated word starting with the name or its compact letter comes
    before it (once CR and spacing are LF, every line of that header looks like that).
    P-Asserted-Identity must give its user from its first line, Identity-Info and any
    other line starting with ``identity``/``y`` send the message to the parser. A caller
    that has the request's :func:`scan_message` answer passes its ``call_id`` (the scan
    is not repeated then).

    >>> f = scan_call_fields(b"INVITE sip:%2B1@b SIP/2.0\\r\\nFrom: <sip:2@a>;tag=1\\r\\n"
    ...                      b"To: <tel:3>\\r\\nCall-ID: x\\r\\n\\r\\n")
    >>> f.call_id, f.pai_user, f.from_user, f.to_user, f.request_user, f.identity_present
    ('x', '', '2', '3', '+1', False)
    """
    if call_id is None:
        scanned = scan_message(data)
        if scanned is None or not scanned[0]:
            return None
        call_id = scanned[3]
    end = data.find(b"\r\n\r\n")
    eol = data.find(b"\r\n", 0, end)
    scan = data.translate(_SCAN_TABLE)
    from_value = _scan_header(data, scan, eol, end, b"\nfrom", b"\nf")
    to_value = _scan_header(data, scan, eol, end, b"\nto", b"\nt")
    user_agent = _scan_header(data, scan, eol, end, b"\nuser-agent", None)
    pai = _scan_header(data, scan, eol, end, b"\np-asserted-identity", None)
    if from_value is None or to_value is None or user_agent is None or pai is None:
        return None
    if not pai and scan.find(b"\np-asserted-identity", eol, end) >= 0:
        return None  # an empty first one: the user may be on a later line
    at = scan.find(b"\nidentity", eol, end)
    if at >= 0:
        if data[at - 1:at + 1] != b"\r\n" or data[at + 9] != 58:
            return None  # Identity-Info, or spacing: the parser knows
        identity = True
    elif scan.find(b"\ny", eol, end) >= 0:
        return None  # maybe a compact y
    else:
        identity = False
    uri = data[:eol].partition(b" ")[2][:-8].decode("utf-8", "surrogateescape")
    return call_fields(call_id, from_value, to_value, user_agent, pai, identity, uri)


def call_fields(call_id: str, from_value: str, to_value: str, user_agent: str, pai: str,
                identity: bool, uri: str) -> CallFields | None:
    """:class:`CallFields` from the header values :func:`scan_call_fields` found (or
    capture.pcapindex's kernel, by the same rules): None if the first
    P-Asserted-Identity line names no user (a later line may)."""
    pai_user = ""
    if pai:
        for value in split_list(pai) if "," in pai else (pai,):
            pai_user = addr_user(value)
            if pai_user:
                break
        else:
            return None  # the user may be on a later P-Asserted-Identity line
    return CallFields(call_id, pai_user, addr_user(from_value), addr_user(to_value),
                      uri_user(uri), user_agent, identity)


def _scan_header(data: bytes, scan: bytes, eol: int, end: int, key: bytes,
                 compact: bytes | None) -> str | None:
    """The first value of one header for :func:`scan_call_fields` ("" if absent), None
    if unsure. ``key`` is LF + the lower-case name, ``compact`` LF + its compact letter;
    the header block is ``data[:end]`` (see scan_message for the bounds)."""
    at = scan.find(key, eol, end)
    if at < 0:
        if compact is not None and scan.find(compact, eol, end) >= 0:
            return None
        return ""
    start = at + len(key)  # <= end: data[start] exists
    if data[at - 1:at + 1] != b"\r\n" or data[start] != 58 \
            or compact is not None and scan.find(compact, eol, at) >= 0:
        return None
    start += 1
    stop = data.find(b"\r\n", start)
    if data[stop + 2] in (32, 9):
        return None  # folded
    value = data[start:stop]
    if 13 in value or 10 in value:
        return None
    return value.strip(b" \t").decode("utf-8", "surrogateescape")


def _headers(lines: list[str]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    cache = _NAME_CACHE
    get = cache.get
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            continue  # not a header line: ignored, as most stacks do
        canon = get(name)
        if canon is None:
            canon = name.strip().lower()
            canon = COMPACT.get(canon, canon)
            if len(cache) < 4096:
                cache[name] = canon
        value = value.strip(" \t")
        if "," in value and canon in LIST_HEADERS:
            values = split_list(value)
            existing = headers.get(canon)
            if existing is None:
                headers[canon] = values
            else:
                existing.extend(values)
        else:
            existing = headers.get(canon)
            if existing is None:
                headers[canon] = [value]
            else:
                existing.append(value)
    return headers


# -- value grammar helpers -------------------------------------------------------------
def split_list(value: str) -> list[str]:
    """Split a comma list, respecting quoted strings and <...> URIs.

    >>> split_list('"a, b" <sip:x@y>;p=1, <sip:z@w>')
    ['"a, b" <sip:x@y>;p=1', '<sip:z@w>']
    """
    out, start, quoted, angle, escaped = [], 0, False, False, False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            piece = value[start:i].strip(" \t")
            if piece:
                out.append(piece)
            start = i + 1
    piece = value[start:].strip(" \t")
    if piece:
        out.append(piece)
    return out


def name_addr(value: str) -> tuple[str, str, str]:
    """(display name, URI, header parameters) of a From/To/Contact/PAI value.

    >>> name_addr('"J \\\\"R\\\\" <x>" <sip:jr@example.com;transport=udp>;tag=98asjd8')
    ('J \\\\"R\\\\" <x>', 'sip:jr@example.com;transport=udp', ';tag=98asjd8')
    >>> name_addr("sip:alice@atlanta.example.com;tag=1928301774")
    ('', 'sip:alice@atlanta.example.com', ';tag=1928301774')
    """
    value = value.strip(" \t")
    display = ""
    rest = value
    if value.startswith('"'):
        i, n = 1, len(value)
        while i < n:
            ch = value[i]
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                break
            i += 1
        display = value[1:i]
        rest = value[i + 1:]
    lt = rest.find("<")
    if lt >= 0:
        gt = rest.find(">", lt)
        if gt < 0:
            return display, rest[lt + 1:].strip(), ""
        if not display:
            display = rest[:lt].strip(" \t")
        return display, rest[lt + 1:gt].strip(), rest[gt + 1:].strip(" \t")
    # addr-spec: parameters after the URI belong to the header, not to the URI
    semi = rest.find(";")
    if semi >= 0:
        return display, rest[:semi].strip(" \t"), rest[semi:].strip(" \t")
    return display, rest.strip(" \t"), ""


def header_params(params: str) -> dict[str, str]:
    """``;name=value`` header parameters (names lower-cased; spaces around = allowed).

    >>> header_params(" ;tag = 98asjd8 ;expires=60;lr")
    {'tag': '98asjd8', 'expires': '60', 'lr': ''}
    """
    out = {}
    if not params:
        return out
    for part in params.split(";"):
        name, _, value = part.partition("=")
        name = name.strip(" \t").lower()
        if name:
            out[name] = value.strip(" \t").strip('"')
    return out


def uri_user(uri: str) -> str:
    """The user part of a sip:/sips: URI, or the number of a tel: URI, unescaped.

    >>> uri_user("sip:%2B8613812345678@ims.example;user=phone")
    '+8613812345678'
    >>> uri_user("tel:+1-201-555-0123;phone-context=x"), uri_user("sip:example.com")
    ('+1-201-555-0123', '')
    >>> uri_user("sips:user%40example.com@example.net")
    'user@example.com'
    """
    if not uri:
        return ""
    colon = uri.find(":")
    if colon < 0:
        return ""
    scheme = uri[:colon].lower()
    rest = uri[colon + 1:]
    if scheme == "tel":
        user = rest.split(";", 1)[0]
    elif scheme in ("sip", "sips"):
        at = rest.rfind("@")
        if at < 0:
            return ""
        user = rest[:at]
        # user-info may carry a password (user:password@host) and user parameters
        user = user.split(":", 1)[0]
    else:
        return ""
    if "%" in user:
        user = unquote(user, errors="replace")
    return user.strip()



def addr_user(value: str) -> str:
    """``uri_user(name_addr(value)[1])``: the user of a From/To/PAI/Contact value, with a
    shortcut for the usual ``<sip:user@host>...`` (no display name).

    >>> addr_user("<sip:%2B8613812345678@ims.example;user=phone>;tag=1")
    '+8613812345678'
    >>> addr_user('"A" <tel:+1-201-555-0123>'), addr_user("<sip:a:pw@b@c>")
    ('+1-201-555-0123', 'a')
    """
    if value[:5] == "<sip:":
        gt = value.find(">", 5)
        at = value.rfind("@", 5, gt) if gt > 0 else -1
        if at >= 0:  # what uri_user does with the URI name_addr gives, in one go
            user = value[5:at]
            if ":" in user:
                user = user.split(":", 1)[0]
            if "%" in user:
                user = unquote(user, errors="replace")
            return user.strip()
    return uri_user(name_addr(value)[1])

def uri_host(uri: str) -> str:
    """The host of a sip:/sips: URI.

    >>> uri_host("sip:alice@[2001:db8::10]:5060;transport=tcp"), uri_host("sip:b.example")
    ('[2001:db8::10]', 'b.example')
    """
    colon = uri.find(":")
    rest = uri[colon + 1:] if colon >= 0 else uri
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    at = rest.rfind("@")
    host = rest[at + 1:] if at >= 0 else rest
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.split(":", 1)[0]


def _cseq(value: str) -> tuple[int | None, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit():
        return None, parts[-1] if parts else ""
    return int(parts[0]), parts[1]
