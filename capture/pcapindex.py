"""A compiled index of a classic pcap file: the records, their plain Ethernet/IPv4/UDP
payloads and the start line, Call-ID and CSeq of the SIP messages in them; for INVITEs
the header values :func:`capture.sip.scan_call_fields` reads, and for every message how
much of it the dialog tracker reads (:data:`USE`).

A capture replay in pure Python spends most of its time on a few dozen ``bytes``
operations per packet (record header, frame checks, the scan of
:func:`capture.sip.scan_message`). Here a numba-compiled kernel walks the memory-mapped
file once per chunk of records and fills numpy columns; the replay loop
(:class:`capture.sipcapture.CaptureResult`) then only reads them. numba compiles the
kernels at first use (``cache=True``: once per machine, then loaded from ``__pycache__``);
there is no build step.

The kernels make no decision of their own: a record is *plain* under exactly the checks
of :func:`capture.pcapfile._read_pcap` (everything else: :data:`KIND_FRAME`, for
:class:`~capture.pcapfile.PacketDecoder`), reading stops at the same record with the same
error, and a message is *vouched* for (:data:`KIND_SIP`) only where
:func:`~capture.sip.scan_message` answers, with the same answer; where the kernel is not
sure (:data:`KIND_UDP`) the caller asks scan_message itself.

>>> import struct, tempfile, os, mmap
>>> sip = b"SIP/2.0 200 OK\\r\\nCall-ID: a@b\\r\\nCSeq: 1 BYE\\r\\n\\r\\n"
>>> udp = struct.pack("!HHHH", 5060, 5062, 8 + len(sip), 0) + sip
>>> ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
...                  bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
>>> frame = b"\\x00" * 12 + b"\\x08\\x00" + ip
>>> data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
>>> data += struct.pack("<IIII", 100, 500000, len(frame), len(frame)) + frame
>>> data += struct.pack("<IIII", 101, 0, 99, 99)  # a record cut short
>>> fd, name = tempfile.mkstemp(); n = os.write(fd, data); os.close(fd)
>>> with open(name, "rb") as f:
...     buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
>>> [chunk] = list(PcapIndex(buf).chunks())
>>> chunk.stop, chunk.times, chunk.cols[KIND], chunk.cols[KEY]
('truncated_file', [100.5], [2], [200])
>>> cs, ce, qs, qe = (chunk.cols[c][0] for c in (CALL_ID, CALL_ID_END, CSEQ, CSEQ_END))
>>> buf[cs:ce], buf[qs:qe], address(chunk.cols[SRC][0])
(b'a@b', b'1 BYE', '10.0.0.1')
>>> buf.close(); os.unlink(name)
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

import numba
import numpy as np

from capture.sip import KNOWN_METHODS, MAX_MESSAGE

#: a record's kind: a frame for the general decoder, a plain UDP payload the kernel does
#: not vouch for, a plain UDP payload with a vouched scan
KIND_FRAME, KIND_UDP, KIND_SIP = 0, 1, 2
#: the rows of :attr:`Chunk.cols`: kind; payload (plain) or frame (else) start and end;
#: source and destination IPv4 address (u32) and port; the scan: KEY (a request's index
#: in :data:`METHODS`, a response's status code; -1 for anything not vouched for),
#: Call-ID start and end, CSeq start and end (-1: not read, as scan_message's None);
#: USE: what a dialog tracker reads besides the scan (:data:`USE_NOTHING`,
#: :data:`USE_DATA`, or the row of the message's INVITE fields in :attr:`Chunk.fields`)
(KIND, START, END, SRC, DST, SPORT, DPORT, KEY, CALL_ID, CALL_ID_END, CSEQ,
 CSEQ_END, USE) = range(13)
ROWS = 13
#: USE: the tracker reads neither the message nor its origin (an in-dialog request, a
#: final response whose CSeq cannot name REGISTER); it may read both (REGISTER, a
#: response that may be to one, an INVITE whose fields are not vouched for); USE_TICK:
#: the message moves no dialog (DialogTracker.tick: a response with a Call-ID that is
#: provisional, or final with an ASCII CSeq whose last word is not INVITE or REGISTER)
USE_TICK, USE_NOTHING, USE_DATA = -3, -2, -1
#: the columns of :attr:`Chunk.fields` (spans of an INVITE as scan_call_fields reads it):
#: From, To, User-Agent, P-Asserted-Identity values (0, 0 when absent), an Identity
#: header (0 or 1), the request URI
(FROM, FROM_END, TO, TO_END, UA, UA_END, PAI, PAI_END, IDENTITY, URI,
 URI_END) = range(11)
FIELDS = 11
#: records per chunk: columns of ~100 bytes a record stay small whatever the file size
CHUNK = 1 << 16

#: the methods the scan knows, by KEY (REGISTER's code is what ``want_cseq`` tests)
METHODS: tuple[str, ...] = tuple(sorted(KNOWN_METHODS))
_REGISTER = METHODS.index("REGISTER")
_INVITE = METHODS.index("INVITE")
_METHOD_NAMES = np.zeros((len(METHODS), 16), np.uint8)
_METHOD_LENGTHS = np.array([len(m) for m in METHODS], np.int64)
for _i, _m in enumerate(METHODS):
    _METHOD_NAMES[_i, :len(_m)] = np.frombuffer(_m.encode(), np.uint8)

#: classic pcap magic -> (big-endian, seconds per fraction unit, record header length),
#: as capture.pcapfile._PCAP_MAGICS
_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, 1e-6, 16), b"\xa1\xb2\xc3\xd4": (True, 1e-6, 16),
    b"\x4d\x3c\xb2\xa1": (False, 1e-9, 16), b"\xa1\xb2\x3c\x4d": (True, 1e-9, 16),
    b"\x34\xcd\xb2\xa1": (False, 1e-6, 24), b"\xa1\xb2\xcd\x34": (True, 1e-6, 24),
}
STOP_REASONS = (None, "truncated_file", "bad_record_length")
_MORE = -1  # the kernel's stop code when the chunk is full and records remain


class _Addresses(dict):
    """u32 -> dotted quad, filled on demand (addresses repeat endlessly in signalling)."""

    def __missing__(self, key: int) -> str:
        if len(self) > 65536:
            self.clear()
        s = self[key] = f"{key >> 24}.{(key >> 16) & 255}.{(key >> 8) & 255}.{key & 255}"
        return s


ADDRESSES = _Addresses()


def address(u32: int) -> str:
    """The dotted quad of an IPv4 address as a big-endian u32 (as the index gives it)."""
    return ADDRESSES[u32]


class Chunk(NamedTuple):
    """The index of consecutive records: the first is record ``first`` (1-based, as
    Wireshark numbers frames); ``array[row]`` (see :data:`KIND` ...) and ``times``
    (capture times) have one column per record; ``fields[i]`` are the spans of the
    INVITE whose USE is i; ``stop`` is the error that ended reading after them, or
    None."""

    first: int
    array: np.ndarray
    times: list[float]
    fields: list[list[int]]
    stop: str | None

    @property
    def cols(self) -> list[list[int]]:
        """Every row as a list (a hot loop converts only the rows it reads)."""
        return self.array.tolist()


class PcapIndex:
    """The chunks of a classic pcap in ``buf`` (any buffer: an mmap, bytes).

    ``PcapIndex.header(buf)`` is None for anything but a classic pcap of at least the
    24-byte file header (the caller reads those the general way)."""

    def __init__(self, buf, chunk: int = CHUNK) -> None:
        head = self.header(buf)
        if head is None:
            raise ValueError("not a classic pcap file")
        self.big, self.unit, self.rec_len, self.linktype = head
        self.buf = buf
        self.chunk = chunk

    @staticmethod
    def header(buf) -> tuple[bool, float, int, int] | None:
        """(big-endian, seconds per fraction unit, record header length, link type)."""
        if len(buf) < 24:
            return None
        magic = _MAGICS.get(bytes(buf[:4]))
        if magic is None:
            return None
        big, unit, rec_len = magic
        linktype = struct.unpack_from(">I" if big else "<I", buf, 20)[0] & 0xFFFF
        return big, unit, rec_len, linktype

    def chunks(self) -> Iterator[Chunk]:
        """The index, a chunk at a time. A chunk's ``array`` is overwritten by the next
        one (read it before asking for more). No view of the buffer outlives a kernel
        call: an mmap may be closed whenever the iteration pauses."""
        pos, number = 24, 0
        size = len(self.buf)
        ethernet = self.linktype == 1
        # allocated once: fresh pages for every chunk cost more than the kernel's work
        cols = np.empty((ROWS, self.chunk), np.int64)
        times = np.empty(self.chunk, np.float64)
        fields = np.empty((self.chunk, FIELDS), np.int64)
        while True:
            view = np.frombuffer(self.buf, np.uint8)
            count, invites, pos, stop = index_records(
                view, pos, size, self.big, self.rec_len, self.unit, ethernet, cols, times,
                fields)
            del view  # no export of the buffer outlives the call
            yield Chunk(number + 1, cols[:, :count], times[:count].tolist(),
                        fields[:invites].tolist(),
                        STOP_REASONS[stop] if stop != _MORE else None)
            number += count
            if stop != _MORE:
                return


def warm_up() -> None:
    """Compile the kernels now (or load them from numba's cache) rather than at the first
    capture: for a timed run or a service that should not pause later."""
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for _chunk in PcapIndex(data).chunks():
        pass


# -- kernels -----------------------------------------------------------------------------
_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _u16(buf, i):
    return (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])


@numba.njit(**_JIT)
def _u32(buf, i, big):
    if big:
        return (np.int64(buf[i]) << 24) | (np.int64(buf[i + 1]) << 16) \
            | (np.int64(buf[i + 2]) << 8) | np.int64(buf[i + 3])
    return (np.int64(buf[i + 3]) << 24) | (np.int64(buf[i + 2]) << 16) \
        | (np.int64(buf[i + 1]) << 8) | np.int64(buf[i])


@numba.njit(**_JIT)
def index_records(buf, pos, size, big, rec_len, unit, ethernet, cols, times, fields):
    """Fill ``cols``/``times`` (and ``fields``, one row per vouched INVITE) from the
    record at ``pos`` on, up to their length; return (records indexed, INVITE rows,
    next position, stop code: index into STOP_REASONS, or -1 if the chunk is full). The
    checks and their order are those of pcapfile._read_pcap."""
    n = 0
    invites = 0
    limit = times.shape[0]
    while pos < size:
        if n == limit:
            return n, invites, pos, _MORE
        if pos + rec_len > size:
            return n, invites, pos, 1
        sec = _u32(buf, pos, big)
        frac = _u32(buf, pos + 4, big)
        caplen = _u32(buf, pos + 8, big)
        pos += rec_len
        if caplen > 0x40000:
            return n, invites, pos, 2
        nxt = pos + caplen
        if nxt > size:
            return n, invites, pos, 1
        times[n] = np.float64(sec) + np.float64(frac) * unit
        kind = KIND_FRAME
        cols[KEY, n] = -1
        if ethernet and caplen >= 42 and buf[pos + 12] == 8 and buf[pos + 13] == 0 \
                and buf[pos + 14] == 0x45 and buf[pos + 23] == 17 \
                and (_u16(buf, pos + 20) & 0x3FFF) == 0:
            total = _u16(buf, pos + 16)
            ulen = _u16(buf, pos + 38)
            if 28 <= total <= caplen - 14 and 8 <= ulen <= total - 20:
                kind = KIND_UDP
                start = pos + 42
                end = pos + 34 + ulen
                cols[START, n] = start
                cols[END, n] = end
                cols[SRC, n] = _u32(buf, pos + 26, True)
                cols[DST, n] = _u32(buf, pos + 30, True)
                cols[SPORT, n] = _u16(buf, pos + 34)
                cols[DPORT, n] = _u16(buf, pos + 36)
                out = cols[:, n]
                if scan_sip(buf, start, end, out):
                    kind = KIND_SIP
                    out[USE] = _use(buf, out)
                    if out[USE] == USE_DATA and out[KEY] == _INVITE \
                            and scan_fields(buf, start, end, fields[invites]):
                        out[USE] = invites
                        invites += 1
                else:
                    out[KEY] = -1
        if kind == KIND_FRAME:
            cols[START, n] = pos
            cols[END, n] = nxt
        cols[KIND, n] = kind
        n += 1
        pos = nxt
    return n, invites, pos, 0


@numba.njit(**_JIT)
def _use(buf, out):
    """USE_DATA where DialogTracker.feed_parts may read the message or its origin: an
    INVITE or REGISTER, or a final response whose CSeq value contains ``REGISTER`` (its
    last word is the method the tracker goes by); USE_TICK where feed_parts only does
    tick's work; USE_NOTHING otherwise."""
    key = out[KEY]
    if key < 100:
        return USE_DATA if key == _INVITE or key == _REGISTER else USE_NOTHING
    no_call_id = out[CALL_ID] == out[CALL_ID_END]  # counted by feed_parts
    if key < 200:
        return USE_NOTHING if no_call_id else USE_TICK
    start, end = out[CSEQ], out[CSEQ_END]
    ascii_ = True
    for i in range(start, end):
        if buf[i] >= 0x80:
            ascii_ = False
        if i + 8 <= end and buf[i] == 0x52 and buf[i + 1] == 0x45 and buf[i + 2] == 0x47 \
                and buf[i + 3] == 0x49 and buf[i + 4] == 0x53 and buf[i + 5] == 0x54 \
                and buf[i + 6] == 0x45 and buf[i + 7] == 0x52:
            return USE_DATA
    if no_call_id or not ascii_:
        return USE_NOTHING  # str.split() knows more spacing than ASCII's
    # cseq.split()[-1] (or "") as feed_parts reads it: the last word between spacing
    while end > start and _ascii_space(buf[end - 1]):
        end -= 1
    word = end
    while word > start and not _ascii_space(buf[word - 1]):
        word -= 1
    if end - word == 6 and buf[word] == 0x49 and buf[word + 1] == 0x4E \
            and buf[word + 2] == 0x56 and buf[word + 3] == 0x49 and buf[word + 4] == 0x54 \
            and buf[word + 5] == 0x45:
        return USE_NOTHING  # INVITE: the call's state moves
    return USE_TICK


@numba.njit(**_JIT)
def _ascii_space(c):
    """str.isspace() of an ASCII character."""
    return 9 <= c <= 13 or 0x1C <= c <= 0x20


@numba.njit(**_JIT)
def _find(buf, start, stop, a, b):
    """First i in [start, stop - 1) with buf[i] == a and buf[i + 1] == b, else -1."""
    i = start
    while i + 1 < stop:
        if buf[i] == a and buf[i + 1] == b:
            return i
        i += 1
    return -1


@numba.njit(**_JIT)
def _crlfcrlf(buf, start, stop):
    i = start
    while i + 3 < stop:
        if buf[i] == 13 and buf[i + 1] == 10 and buf[i + 2] == 13 and buf[i + 3] == 10:
            return i
        i += 1
    return -1


@numba.njit(**_JIT)
def _spacing(c):
    """Whether scan_message's translation table makes c a line feed."""
    return c == 10 or c == 13 or c == 9 or c == 11 or c == 12 or 0x1C <= c <= 0x20 \
        or c >= 0x80


@numba.njit(**_JIT)
def _has_crlf(buf, start, stop):
    for i in range(start, stop):
        if buf[i] == 13 or buf[i] == 10:
            return True
    return False


@numba.njit(**_JIT)
def _value(buf, value, q, out, row):
    """The span of a header value from ``value`` (after the colon) to the CRLF ending it,
    stripped of spaces and tabs, into out[row], out[row + 1]; False where scan_message
    gives up (a fold, a bare CR/LF). The message ends at q; its block's CRLFCRLF comes
    before, so the CRLF is found and followed by two more bytes."""
    eol = _find(buf, value, q, 13, 10)
    if eol < 0 or eol + 2 >= q:
        return False  # not reached when the block's CRLFCRLF follows: a safety net
    if buf[eol + 2] == 32 or buf[eol + 2] == 9:
        return False  # folded
    if _has_crlf(buf, value, eol):
        return False
    start, end = value, eol
    while start < end and (buf[start] == 32 or buf[start] == 9):
        start += 1
    while end > start and (buf[end - 1] == 32 or buf[end - 1] == 9):
        end -= 1
    out[row] = start
    out[row + 1] = end
    return True


@numba.njit(**_JIT)
def _is_call_id(buf, i):
    """Whether the translated block has ``call-id`` at i: letters in either case, the
    dash as is (the table maps only A-Z to letters)."""
    return (buf[i] | 0x20) == 0x63 and (buf[i + 1] | 0x20) == 0x61 \
        and (buf[i + 2] | 0x20) == 0x6C and (buf[i + 3] | 0x20) == 0x6C \
        and buf[i + 4] == 0x2D and (buf[i + 5] | 0x20) == 0x69 \
        and (buf[i + 6] | 0x20) == 0x64


@numba.njit(**_JIT)
def _is_cseq(buf, i):
    return (buf[i] | 0x20) == 0x63 and (buf[i + 1] | 0x20) == 0x73 \
        and (buf[i + 2] | 0x20) == 0x65 and (buf[i + 3] | 0x20) == 0x71


@numba.njit(**_JIT)
def scan_sip(buf, p, q, out):
    """scan_message(buf[p:q]) (all_cseq False) where it answers: KEY, CALL_ID(_END) and
    CSEQ(_END) as absolute offsets into out; False where it would not answer or the
    kernel is not sure. The steps follow scan_message's; its searches bounded by the
    CRLFCRLF are one pass here (a match found before the CRLFCRLF cannot reach past
    it: none of the words contains a CR)."""
    if q - p > MAX_MESSAGE:
        return False
    # eol = data.find(b"\r\n"); end = data.find(b"\r\n\r\n", eol); end <= eol: None
    eol = _find(buf, p, q, 13, 10)
    if eol < 0:
        return False
    # one pass from eol to the CRLFCRLF: the first "call-id", "cseq" and "\ni" of the
    # translated block (scan_message's scan.find calls)
    end = -1
    call_id = cseq = ni = -1
    i = eol
    while i + 3 < q:
        c = buf[i]
        if c == 13 and buf[i + 1] == 10 and buf[i + 2] == 13 and buf[i + 3] == 10:
            end = i
            break
        if ni < 0 and (buf[i + 1] | 0x20) == 0x69 and _spacing(c):
            ni = i
        if (c | 0x20) == 0x63:
            if call_id < 0 and i + 7 <= q and _is_call_id(buf, i):
                call_id = i
            elif cseq < 0 and _is_cseq(buf, i):
                cseq = i
        i += 1
    if end <= eol:
        return False
    # a bare CR/LF in the start line, or a folded start line
    if _has_crlf(buf, p, eol) or buf[eol + 2] == 32 or buf[eol + 2] == 9:
        return False
    n = eol - p
    if n >= 8 and buf[p] == 0x53 and buf[p + 1] == 0x49 and buf[p + 2] == 0x50 \
            and buf[p + 3] == 0x2F and buf[p + 4] == 0x32 and buf[p + 5] == 0x2E \
            and buf[p + 6] == 0x30 and buf[p + 7] == 0x20:
        # "SIP/2.0 " + three digits 100-699 (+ a space and anything)
        if n < 11:
            return False
        d0, d1, d2 = buf[p + 8], buf[p + 9], buf[p + 10]
        if not (0x31 <= d0 <= 0x36 and 0x30 <= d1 <= 0x39 and 0x30 <= d2 <= 0x39):
            return False
        if n > 11 and buf[p + 11] != 32:
            return False
        status = (np.int64(d0) - 0x30) * 100 + (np.int64(d1) - 0x30) * 10 \
            + np.int64(d2) - 0x30
        out[KEY] = status
        want_cseq = status >= 200
    elif n >= 8 and buf[eol - 8] == 0x20 and buf[eol - 7] == 0x53 and buf[eol - 6] == 0x49 \
            and buf[eol - 5] == 0x50 and buf[eol - 4] == 0x2F and buf[eol - 3] == 0x32 \
            and buf[eol - 2] == 0x2E and buf[eol - 1] == 0x30:
        # "METHOD uri SIP/2.0": a known method, the URI without spaces, with a colon,
        # not starting with "<"
        head = eol - 8
        space = _space(buf, p, head)
        if space < 0 or space + 1 >= head or buf[space + 1] == 0x3C:
            return False
        colon = False
        for i in range(space + 1, head):
            if buf[i] == 32:
                return False
            if buf[i] == 0x3A:
                colon = True
        if not colon:
            return False
        method = -1
        length = space - p
        for k in range(_METHOD_NAMES.shape[0]):
            if _METHOD_LENGTHS[k] != length:
                continue
            same = True
            for j in range(length):
                if buf[p + j] != _METHOD_NAMES[k, j]:
                    same = False
                    break
            if same:
                method = k
                break
        if method < 0:
            return False
        out[KEY] = method
        want_cseq = method == _REGISTER
    else:
        return False
    # the Call-ID: the first "call-id" must start a line and end at its colon, with no
    # "\ni" (a compact form could hide there) before it; no "call-id" and no "\ni": ""
    if call_id < 0:
        if ni >= 0:
            return False
        out[CALL_ID] = out[CALL_ID_END] = 0
    else:
        if buf[call_id - 2] != 13 or buf[call_id - 1] != 10 or buf[call_id + 7] != 0x3A \
                or 0 <= ni and ni + 2 <= call_id:
            return False
        if not _value(buf, call_id + 8, q, out, CALL_ID):
            return False
    out[CSEQ] = out[CSEQ_END] = -1
    if want_cseq:
        if cseq < 0:
            out[CSEQ] = out[CSEQ_END] = 0  # "", as scan_message gives an absent CSeq
        else:
            if buf[cseq - 2] != 13 or buf[cseq - 1] != 10 or buf[cseq + 4] != 0x3A:
                return False
            if not _value(buf, cseq + 5, q, out, CSEQ):
                return False
    return True


@numba.njit(**_JIT)
def _space(buf, start, stop):
    for i in range(start, stop):
        if buf[i] == 32:
            return i
    return -1


def _key(name: bytes) -> np.ndarray:
    return np.frombuffer(name, np.uint8).copy()


#: scan_call_fields' search keys: LF (any byte the table makes LF) + the name
_K_FROM, _K_TO = _key(b"\nfrom"), _key(b"\nto")
_K_UA, _K_PAI = _key(b"\nuser-agent"), _key(b"\np-asserted-identity")
_K_IDENTITY = _key(b"\nidentity")


@numba.njit(**_JIT)
def _match(buf, i, stop, key):
    """Whether the translated block has key at i (buf[i] already LF to the table), the
    match ending by stop."""
    m = key.shape[0]
    if i + m > stop:
        return False
    for j in range(1, m):
        k = key[j]
        b = buf[i + j]
        if 0x61 <= k <= 0x7A:
            if (b | 0x20) != k:
                return False
        elif b != k:
            return False
    return True


@numba.njit(**_JIT)
def _header(buf, at, compact, m, q, out, col):
    """sip._scan_header for a name of m bytes (with its LF) first found at ``at`` (-1:
    nowhere) and its compact form first found at ``compact`` (-1: nowhere or none): the
    value's span into out[col], out[col + 1] (0, 0 when absent); False where it gives
    up. The first compact match is at or before ``at`` (the name starts with it), and
    never at at - 1 (buf[at] is spacing), so "one before at" is compact < at."""
    if at < 0:
        if compact >= 0:
            return False
        out[col] = out[col + 1] = 0
        return True
    start = at + m
    if buf[at - 1] != 13 or buf[at] != 10 or buf[start] != 0x3A:
        return False
    if 0 <= compact < at:
        return False
    return _value(buf, start + 1, q, out, col)


@numba.njit(**_JIT)
def scan_fields(buf, p, q, out):
    """The spans scan_call_fields reads of a request scan_sip vouched for (see
    :data:`FROM` ...), False where it gives up; what it then does with the values is
    :func:`capture.sip.call_fields`, in Python. Its searches (the first match of each
    key in the header block) are one pass here."""
    eol = _find(buf, p, q, 13, 10)
    end = _crlfcrlf(buf, eol, q)
    f = from_ = t = to = ua = pai = identity = y = -1
    i = eol
    while i + 2 <= end:
        c = buf[i + 1] | 0x20
        if (c == 0x66 or c == 0x74 or c == 0x75 or c == 0x70 or c == 0x69 or c == 0x79) \
                and _spacing(buf[i]):
            if c == 0x66:
                if f < 0:
                    f = i
                if from_ < 0 and _match(buf, i, end, _K_FROM):
                    from_ = i
            elif c == 0x74:
                if t < 0:
                    t = i
                if to < 0 and _match(buf, i, end, _K_TO):
                    to = i
            elif c == 0x75:
                if ua < 0 and _match(buf, i, end, _K_UA):
                    ua = i
            elif c == 0x70:
                if pai < 0 and _match(buf, i, end, _K_PAI):
                    pai = i
            elif c == 0x69:
                if identity < 0 and _match(buf, i, end, _K_IDENTITY):
                    identity = i
            elif y < 0:
                y = i
        i += 1
    if not _header(buf, from_, f, 5, q, out, FROM) \
            or not _header(buf, to, t, 3, q, out, TO) \
            or not _header(buf, ua, -1, 11, q, out, UA) \
            or not _header(buf, pai, -1, 20, q, out, PAI):
        return False
    if pai >= 0 and out[PAI] == out[PAI_END]:
        return False  # an empty first one: the user may be on a later line
    if identity >= 0:
        if buf[identity - 1] != 13 or buf[identity] != 10 or buf[identity + 9] != 0x3A:
            return False  # Identity-Info, or spacing: the parser knows
        out[IDENTITY] = 1
    elif y >= 0:
        return False  # maybe a compact y
    else:
        out[IDENTITY] = 0
    # data[:eol].partition(b" ")[2][:-8]: scan_sip saw a space before " SIP/2.0"
    out[URI] = _space(buf, p, eol) + 1
    out[URI_END] = eol - 8
    return True
