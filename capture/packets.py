"""What every packet source (pcap file, HEP collector, live sniffer) hands to the SIP layer.

A :class:`Datagram` is one transport payload with its addressing and capture time:
a UDP datagram, or a TCP segment's payload (the SIP layer reassembles TCP streams).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Datagram:
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    #: ``udp`` or ``tcp``
    transport: str
    payload: bytes
    #: where it came from (``file#frame``, ``hep:node``), for evidence and error reports
    origin: str = ""
    #: e.g. HEP capture id and node name
    attrs: dict[str, Any] = field(default_factory=dict)
