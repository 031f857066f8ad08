"""``fraudwatch inspect``: one call's signalling from a capture, as a ladder."""

from __future__ import annotations

import json
import sys

from fraudwatch.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="show one call's SIP messages from a capture as a ladder",
                       description="Print the SIP messages of one call (by Call-ID) in a "
                                   "pcap/pcapng, as tshark dissects them: time, direction, "
                                   "method or status, and the key headers.")
    p.add_argument("capture", metavar="CAPTURE", help="packet capture (pcap, pcapng)")
    p.add_argument("--call-id", required=True, metavar="ID", help="the SIP Call-ID of the call")
    p.add_argument("--full", action="store_true",
                   help="also print tshark's complete dissection of every packet")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument("--width", type=int, default=36, metavar="N",
                   help="ladder column width (default 36)")


def run(args) -> int:
    from fraudwatch.inspect import call_ids, call_ladder, render_ladder

    steps = call_ladder(args.capture, args.call_id, full=args.full)
    if not steps:
        known = call_ids(args.capture, limit=3)
        hint = f" (calls in it include: {', '.join(known)})" if known else " (it has no SIP)"
        raise UserError(f"no SIP message with Call-ID {args.call_id!r} in {args.capture}{hint}")
    if args.json:
        for s in steps:
            print(json.dumps({"frame": s.frame, "time": s.time, "src": s.src, "dst": s.dst,
                              "transport": s.transport, "message": s.label,
                              "headers": s.headers,
                              **({"via": s.via} if s.via else {}),
                              **({"dissection": s.dissection} if s.dissection else {})},
                             ensure_ascii=False))
    else:
        if steps[0].via == "hep":
            print(f"(SIP unwrapped from HEP in {args.capture}: original addresses and times)")
        render_ladder(steps, sys.stdout, width=max(12, args.width))
    return 0
