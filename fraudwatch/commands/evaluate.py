"""``fraudwatch evaluate``: detection quality of an alert log against labels.json."""

from __future__ import annotations

import json
from pathlib import Path

from fraudwatch.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="score alerts against a simulation's labels",
        description="Per kind: labelled scenarios, found, recall, alerted subjects, precision "
                    "(warning/critical alerts), median detection delay and, for harassment, "
                    "the median number of calls before the first alert.")
    p.add_argument("--labels", required=True, metavar="labels.json")
    p.add_argument("--alerts", required=True, metavar="alerts.jsonl")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from fraudwatch.evaluate import evaluate_files, format_table

    for name in ("labels", "alerts"):
        path = Path(getattr(args, name))
        if not path.is_file():
            raise UserError(f"{path}: no such file")
    try:
        result = evaluate_files(args.labels, args.alerts)
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{args.labels}: not a labels file ({type(e).__name__}: {e})") from None
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_table(result))
    return 0
