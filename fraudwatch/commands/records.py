"""``fraudwatch records``: export normalised records without detection."""

from __future__ import annotations

import sys
from pathlib import Path

from capture.quarantine import Quarantine
from fraudwatch.commands.replay import add_input_options
from fraudwatch.errors import UserError
from fraudwatch.export import RecordWriter
from fraudwatch.replay import ReplaySummary, file_format, open_records, parse_mapping, timezone_of


def add_parser(sub) -> None:
    p = sub.add_parser("records", help="export normalised records (e.g. turn captures into CDRs)",
                       description="Read inputs of any supported format and write the "
                                   "normalised records in a canonical format. Records of other "
                                   "kinds than the output's (calls for captures) go to sibling "
                                   "files (OUT-registration.csv, ...).")
    add_input_options(p)
    p.add_argument("--out", required=True, metavar="FILE.csv|.jsonl|.parquet")
    p.add_argument("--quarantine", metavar="FILE", help="where rejected rows go "
                   "(default: OUT.quarantine.jsonl)")


def run(args) -> int:
    out = Path(args.out)
    if out.suffix not in (".csv", ".jsonl", ".parquet"):
        raise UserError(f"{out}: output must end in .csv, .jsonl or .parquet")
    mapping = parse_mapping(args.mapping)
    tz = timezone_of(args.tz)
    qpath = Path(args.quarantine) if args.quarantine else out.with_suffix(".quarantine.jsonl")
    if qpath.exists():
        qpath.unlink()
    quarantine = Quarantine(qpath)
    summary = ReplaySummary()
    formats = [file_format(Path(p), args.kind, mapping) for p in args.paths]
    # Captures hold calls and registrations: OUT gets the calls, as a CDR export should.
    writer = RecordWriter(out, main_kind=args.kind or formats[0].kind or "call")
    try:
        for p, fmt in zip(args.paths, formats, strict=True):
            path = Path(p)
            for record in open_records(path, args.kind, quarantine, tz, mapping, fmt, summary):
                writer.write(record)
    finally:
        writer.close()
        quarantine.close()
    for kind, (path, n) in sorted(writer.outputs.items()):
        print(f"{kind:<13}{n:>10,} -> {path}")
    if quarantine.total:
        print(f"{'quarantined':<13}{quarantine.total:>10,} -> {qpath}", file=sys.stderr)
    return 0
