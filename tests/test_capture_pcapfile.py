"""pcap/pcapng reading: formats, link layers, IP versions, tunnels, fragments, truncation.

Every synthetic file is also read by tshark: both must see the same SIP datagrams."""

from __future__ import annotations

import struct
from collections import Counter

import pytest

from capture.pcapfile import (
    FRAGMENT_TIMEOUT,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    MAX_FRAGMENT_BUFFERS,
    PacketDecoder,
    read_packets,
)
from tests.capture_support import (
    PCAPS,
    ethernet,
    ipv4,
    ipv6,
    tcp,
    tshark_rows,
    udp,
    udp4_frame,
    write_pcap,
    write_pcapng,
)

SIP = (b"OPTIONS sip:13812345678@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1\r\n"
       b"Call-ID: pc1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
V4 = ipv4("192.0.2.1", "192.0.2.2", 17, udp(5061, 5060, SIP))
V6 = ipv6("2001:db8::1", "2001:db8::2", 17, udp(5061, 5060, SIP))


def ours(path):
    errors = Counter()
    got = [(round(d.time, 6), d.src, d.sport, d.dst, d.dport, d.transport, d.payload)
           for d in read_packets(path, errors)]
    return got, errors


def theirs(path):
    rows = tshark_rows(path, ["frame.time_epoch", "ip.src", "ipv6.src", "udp.srcport",
                              "sip.Method"], extra=("-o", "ip.defragment:TRUE"))
    # tunnels: tshark lists every IP header (innermost last within a version); with
    # IPv4 and IPv6 mixed the innermost is one of the two last ones
    return [(round(float(t), 6), {x.split(",")[-1] for x in (s4, s6) if x}, int(p), m)
            for t, s4, s6, p, m in rows]


def assert_same_as_tshark(path, expected_count=1):
    got, errors = ours(path)
    assert not errors
    assert len(got) == expected_count
    reference = theirs(path)
    assert len(reference) == len(got)
    for (t, s, sp, *_, p), (t2, s2, sp2, m2) in zip(got, reference, strict=True):
        assert (t, sp, p.split(b" ")[0]) == (t2, sp2, m2.encode())
        assert s in s2
    return got


@pytest.mark.parametrize("name,linktype,frame", [
    ("ethernet", LINKTYPE_ETHERNET, ethernet(0x0800, V4)),
    ("ethernet-ipv6", LINKTYPE_ETHERNET, ethernet(0x86DD, V6)),
    ("vlan", LINKTYPE_ETHERNET, ethernet(0x0800, V4, vlans=(100,))),
    ("qinq", LINKTYPE_ETHERNET, ethernet(0x86DD, V6, vlans=(10, 20))),
    ("pppoe", LINKTYPE_ETHERNET,
     ethernet(0x8864, struct.pack("!BBHH", 0x11, 0, 7, len(V4) + 2) + b"\x00\x21" + V4)),
    ("sll", LINKTYPE_LINUX_SLL, struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + V4),
    ("sll2", LINKTYPE_LINUX_SLL2,
     struct.pack("!HHIHBB8s", 0x86DD, 0, 2, 1, 0, 6, b"\x02" * 8) + V6),
    ("raw4", LINKTYPE_RAW, V4), ("raw6", LINKTYPE_RAW, V6),
    ("ipv4", LINKTYPE_IPV4, V4), ("ipv6", LINKTYPE_IPV6, V6),
    ("null", LINKTYPE_NULL, struct.pack("<I", 2) + V4),
    ("loop6", LINKTYPE_LOOP, struct.pack("!I", 30) + V6),
    ("4in4", LINKTYPE_ETHERNET, ethernet(0x0800, ipv4("198.51.100.1", "198.51.100.2", 4, V4))),
    ("6in4", LINKTYPE_ETHERNET, ethernet(0x0800, ipv4("198.51.100.1", "198.51.100.2", 41, V6))),
    ("4in6", LINKTYPE_ETHERNET, ethernet(0x86DD, ipv6("2001:db8:9::1", "2001:db8:9::2", 4, V4))),
    ("v6-extension-headers", LINKTYPE_RAW,
     ipv6("2001:db8::1", "2001:db8::2", 0,   # hop-by-hop, then destination options, then UDP
          bytes([60, 0]) + b"\x01\x04\0\0\0\0" + bytes([17, 0]) + b"\x01\x04\0\0\0\0"
          + udp(5061, 5060, SIP))),
])
def test_link_layers_and_ip_versions_like_tshark(tmp_path, name, linktype, frame):
    path = write_pcap(tmp_path / f"{name}.pcap", linktype, [(1700000000.25, frame)])
    [(_, src, sport, dst, dport, transport, payload)] = assert_same_as_tshark(path)
    assert (sport, dport, transport, payload) == (5061, 5060, "udp", SIP)
    assert dst in ("192.0.2.2", "2001:db8::2")


@pytest.mark.parametrize("order,nano", [("<", False), (">", False), ("<", True), (">", True)])
def test_pcap_byte_orders_and_resolutions(tmp_path, order, nano):
    t = 1700000000.123456 if not nano else 1700000000.123456789
    path = write_pcap(tmp_path / "x.pcap", LINKTYPE_ETHERNET,
                      [(t, udp4_frame(SIP)), (t + 1, udp4_frame(SIP))], order=order, nano=nano)
    got = assert_same_as_tshark(path, 2)
    assert got[1][0] - got[0][0] == pytest.approx(1.0)


def test_pcapng_interfaces_with_their_own_link_types_and_resolutions(tmp_path):
    path = write_pcapng(tmp_path / "multi.pcapng",
                        [(LINKTYPE_ETHERNET, None), (LINKTYPE_RAW, 9), (LINKTYPE_LINUX_SLL2, 0x80 | 20)],
                        [(0, 1700000000.5, ethernet(0x0800, V4)),
                         (1, 1700000001.000000001, V6),
                         (2, 1700000002.25, struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6,
                                                        b"\x02" * 8) + V4)])
    got = assert_same_as_tshark(path, 3)
    assert [g[1] for g in got] == ["192.0.2.1", "2001:db8::1", "192.0.2.1"]


def test_shared_pcapng_and_extensionless_captures_are_read():
    got, errors = ours(PCAPS / "sipnab" / "b2bua-asterisk.pcapng")
    assert not errors and len(got) == 416
    got, errors = ours(PCAPS / "sipnab" / "SIP_CALL_RTP_G711")
    assert not errors and sum(1 for g in got if g[5] == "tcp") > 0


def _fragments4(payload: bytes, size: int, ident: int):
    """IPv4 fragments of a UDP datagram (payload sizes multiple of 8)."""
    data = udp(5061, 5060, payload)
    out = []
    for off in range(0, len(data), size):
        more = 0x2000 if off + size < len(data) else 0
        out.append(ipv4("192.0.2.1", "192.0.2.2", 17, data[off:off + size], ident=ident,
                        flags_offset=more | (off // 8)))
    return out


def test_ipv4_fragments_reassembled_in_any_order(tmp_path):
    big = SIP[:-4] + b"\r\nX-Pad: " + b"p" * 3000 + b"\r\n\r\n"
    frags = _fragments4(big, 1480, ident=77)
    order = [frags[2], frags[0], frags[1]]
    path = write_pcap(tmp_path / "frag.pcap", LINKTYPE_ETHERNET,
                      [(1.0 + i / 10, ethernet(0x0800, f)) for i, f in enumerate(order)])
    got, errors = ours(path)
    assert not errors and [g[6] for g in got] == [big]
    assert len(theirs(path)) == 1     # tshark reassembles it too


def test_ipv6_fragments_like_sngrep_capture_and_tshark():
    path = PCAPS / "sngrep" / "ipv6frag.pcap"
    got, errors = ours(path)
    assert not errors
    sip = [g for g in got if g[6][:3] in (b"INV", b"SIP", b"ACK", b"BYE", b"PRA", b"UPD")]
    assert len(sip) == len(theirs(path))


def test_fragment_buffers_are_bounded_and_time_out():
    errors = Counter()
    dec = PacketDecoder(errors)
    for i in range(MAX_FRAGMENT_BUFFERS + 10):   # first fragments only: never complete
        frag = _fragments4(b"x" * 3000, 1480, ident=i)[0]
        dec.decode(LINKTYPE_RAW, frag, 1.0, "")
    assert len(dec.fragments.buffers) == MAX_FRAGMENT_BUFFERS
    assert errors["fragment_evicted"] == 10
    dec.decode(LINKTYPE_RAW, _fragments4(b"y" * 3000, 1480, ident=60000)[0],
               2.0 + FRAGMENT_TIMEOUT, "")
    assert errors["fragment_timeout"] == MAX_FRAGMENT_BUFFERS
    assert len(dec.fragments.buffers) == 1


def test_tcp_segments_carry_seq_and_flags(tmp_path):
    seg = ipv4("192.0.2.1", "192.0.2.2", 6, tcp(40000, 5060, 123456, SIP))
    path = write_pcap(tmp_path / "tcp.pcap", LINKTYPE_ETHERNET, [(5.0, ethernet(0x0800, seg))])
    [d] = list(read_packets(path))
    assert (d.transport, d.attrs["seq"], d.attrs["flags"], d.payload) == ("tcp", 123456, 0x18,
                                                                          SIP)


def test_truncated_files_and_packets_are_counted_not_raised(tmp_path):
    good = udp4_frame(SIP)
    path = write_pcap(tmp_path / "t.pcap", LINKTYPE_ETHERNET, [(1.0, good), (2.0, good)])
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-10])                    # last record cut short
    got, errors = ours(cut)
    assert len(got) == 1 and errors == Counter({"truncated_file": 1})
    # a packet captured with a small snap length: IP says more than there is
    snapped = write_pcap(tmp_path / "snap.pcap", LINKTYPE_ETHERNET, [(1.0, good[:60])])
    got, errors = ours(snapped)
    assert got == [] and errors == Counter({"truncated_packet": 1})
    for junk, reason in [(b"", "empty_file"), (b"hello world", "not_a_capture"),
                         (data[:20], "truncated_file")]:
        p = tmp_path / "j"
        p.write_bytes(junk)
        assert ours(p) == ([], Counter({reason: 1}))
    assert ours(tmp_path / "missing") == ([], Counter({"unreadable_file": 1}))


def test_netmon2_capture_times_and_addresses_like_tshark():
    """sipnab's c07-sip-r2.cap is a Microsoft Network Monitor 2.x file (PROTOS suite)."""
    path = PCAPS / "sipnab" / "c07-sip-r2.cap"
    assert path.read_bytes()[:4] == b"GMBU"
    got, errors = ours(path)
    rows = tshark_rows(path, ["frame.time_epoch", "ip.src", "udp.srcport"], "udp")
    assert not errors and len(got) == len(rows) == 39
    for (t, src, sport, *_), (t2, src2, sport2) in zip(got, rows, strict=True):
        assert t == pytest.approx(float(t2), abs=1e-6) and (src, sport) == (src2, int(sport2))
