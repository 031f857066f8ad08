"""Ladder (sequence) diagrams of one SIP call, as inline SVG.

One column per endpoint (``address:port``, in order of first appearance), one arrow per
message, top to bottom in capture order, labelled with the method or status and the
time since the first message.

>>> msgs = [(0.0, "10.0.0.1:5060", "10.0.0.2:5060", "INVITE"),
...         (0.01, "10.0.0.2:5060", "10.0.0.1:5060", "100 Trying"),
...         (0.2, "10.0.0.2:5060", "10.0.0.1:5060", "200 OK"),
...         (0.21, "10.0.0.1:5060", "10.0.0.2:5060", "ACK")]
>>> svg = ladder_svg(msgs, title="call c1")
>>> message_labels(svg)
['INVITE', '100 Trying', '200 OK', 'ACK']

Messages come from :mod:`capture.sipcapture`'s parser when that module is installed
(one pass per capture, cached, rather than ``call_messages`` re-reading the file per
call), else from a small scan of the capture's SIP start lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from html import escape
from pathlib import Path

Message = tuple[float, str, str, str]

#: how many packets the fallback scanner reads from one capture (bounded time)
SCAN_LIMIT = 500_000

_REQUEST = re.compile(rb"^([A-Z]{3,10}) (\S+) SIP/2\.0\r?\n")
_RESPONSE = re.compile(rb"^SIP/2\.0 (\d{3}) ?([^\r\n]*)\r?\n")
_CALL_ID = re.compile(rb"\r?\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_LABEL = re.compile(r'<text class="msg"[^>]*>([^<]*)</text>')


def message_labels(svg: str) -> list[str]:
    """The message labels of a ladder SVG, top to bottom (for tests and checks)."""
    import html
    return [html.unescape(m) for m in _LABEL.findall(svg)]


def ladder_svg(messages: Sequence[Message], title: str = "", width: int = 760,
               mask=None) -> str:
    """The ladder diagram of ``messages`` [(time, src, dst, label)] as one ``<svg>``."""
    mask = mask or (lambda s: s)
    messages = list(messages)
    endpoints: list[str] = []
    for _, src, dst, _ in messages:
        for e in (src, dst):
            if e not in endpoints:
                endpoints.append(e)
    n = max(len(endpoints), 2)
    left, right, top, row = 150, 90, 44, 26  # room for endpoint names centred on columns
    height = top + row * len(messages) + 16
    gap = (width - left - right) / (n - 1)
    col = {e: left + i * gap for i, e in enumerate(endpoints)}
    t0 = messages[0][0] if messages else 0.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ladder" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title, quote=True)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#333"/></marker></defs>',
           f'<text x="4" y="12" class="title">{escape(title)}</text>']
    for e, cx in col.items():
        out.append(f'<text x="{cx:.0f}" y="30" text-anchor="middle" class="endpoint">'
                   f'{escape(e)}</text><line x1="{cx:.0f}" y1="36" x2="{cx:.0f}" '
                   f'y2="{height - 6}" class="lifeline"/>')
    for i, (t, src, dst, label) in enumerate(messages):
        y = top + row * i + 14
        x1, x2 = col[src], col[dst]
        css = "response" if label[:1].isdigit() else "request"
        if x1 == x2:  # to itself: a small loop
            out.append(f'<path d="M{x1:.0f},{y - 6} h30 v10 h-30" class="arrow {css}" '
                       f'fill="none" marker-end="url(#arrow)"/>')
            lx = x1 + 36
        else:
            out.append(f'<line x1="{x1:.0f}" y1="{y}" x2="{x2:.0f}" y2="{y}" '
                       f'class="arrow {css}" marker-end="url(#arrow)"/>')
            lx = (x1 + x2) / 2
        out.append(f'<text class="msg" x="{lx:.0f}" y="{y - 4}" text-anchor="middle">'
                   f'{escape(mask(label))}</text>'
                   f'<text class="rel" x="4" y="{y + 3}">+{t - t0:.3f}s</text>')
    out.append("</svg>")
    return "".join(out)


def _label(payload: bytes) -> tuple[str, str | None] | None:
    m = _REQUEST.match(payload)
    if m:
        label = m.group(1).decode("ascii")
    else:
        m = _RESPONSE.match(payload)
        if not m:
            return None
        label = (m.group(1) + b" " + m.group(2)).decode("utf-8", "replace").strip()
    c = _CALL_ID.search(payload)
    return label, c.group(1).strip().decode("utf-8", "replace") if c else None


@lru_cache(maxsize=8)
def scan_capture(path: str) -> dict[str, list[Message]]:
    """Every SIP message of a capture grouped by Call-ID, in capture order, in one pass:
    with :func:`capture.sipcapture.sip_messages` when installed (the parser the replay
    uses), else with a start-line scan of UDP/TCP payloads (:func:`scan_start_lines`)."""
    try:
        from capture.sipcapture import sip_messages
    except ImportError:
        return scan_start_lines(path)
    calls: dict[str, list[Message]] = {}
    try:
        for n, (d, m) in enumerate(sip_messages(path)):
            if n >= SCAN_LIMIT:
                break
            if m.call_id:
                calls.setdefault(m.call_id, []).append(
                    (float(d.time), f"{d.src}:{d.sport}", f"{d.dst}:{d.dport}", str(m.label)))
    except Exception:  # a capture the parser cannot read: the replay reports it
        return scan_start_lines(path)
    return calls


def scan_start_lines(path: str) -> dict[str, list[Message]]:
    """SIP messages found by their start line in UDP datagrams and TCP segments (scapy),
    grouped by Call-ID. Reads at most :data:`SCAN_LIMIT` packets."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    calls: dict[str, list[Message]] = {}
    try:
        reader = PcapReader(path)
    except Exception:
        return calls
    with reader:
        for n, pkt in enumerate(reader):
            if n >= SCAN_LIMIT:
                break
            ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
            if ip is None:
                continue
            l4 = ip.getlayer(UDP) or ip.getlayer(TCP)
            if l4 is None:
                continue
            payload = bytes(l4.payload)
            if len(payload) < 12:
                continue
            got = _label(payload)
            if got is None or got[1] is None:
                continue
            label, call_id = got
            calls.setdefault(call_id, []).append(
                (float(pkt.time), f"{ip.src}:{l4.sport}", f"{ip.dst}:{l4.dport}", label))
    return calls


def call_messages(path: str | Path, call_id: str) -> list[Message]:
    """The messages of one call in a capture (from the one-pass, cached scan)."""
    return list(scan_capture(str(path)).get(call_id, []))


def complete_calls(path: str | Path, limit: int = 3) -> list[str]:
    """Call-IDs of INVITE dialogs in a capture, complete ones (with a BYE or a final
    response) first, capture order otherwise."""
    calls = scan_capture(str(path))
    invites = [cid for cid, msgs in calls.items() if any(m[3] == "INVITE" for m in msgs)]
    def complete(cid: str) -> int:
        labels = [m[3] for m in calls[cid]]
        return 0 if "BYE" in labels else 1 if any(x[:1] in "23456" for x in labels) else 2
    return sorted(invites, key=complete)[:limit]
