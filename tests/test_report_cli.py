"""``fraudwatch report`` and ``replay --report`` on hand-built canonical files."""

from __future__ import annotations

import re
from pathlib import Path

from fraudwatch.cli import main
from fraudwatch.report import build_report
from tests.report_support import stand_in_engine

LINE = "02161234567"
VICTIM = "13812345678"


def write_inputs(d: Path) -> list[Path]:
    calls = ["start,caller,callee,duration,disposition,ingress,caller_line,callee_line,"
             "call_id,user_agent,src_ip"]
    t0 = 1_790_000_000
    for i in range(12):
        calls.append(f"{t0 + 120 * i},{LINE},1390000{i:04d},{5 + i},ANSWERED,access,"
                     f"residential,,box-{i},GoIP-8,10.9.8.7")
    calls.append(f"not-a-time,{LINE},13999999999,1,ANSWERED,access,,,bad,,")
    sms = ["time,sender,recipient,text,direction"]
    for i in range(10):
        sms.append(f"{t0 + 60 * i},10690{i},{VICTIM},code {1000 + i},mt")
    (d / "calls.csv").write_text("\n".join(calls) + "\n")
    (d / "sms.csv").write_text("\n".join(sms) + "\n")
    return [d / "calls.csv", d / "sms.csv"]


def test_report_command_writes_summary_and_quarantined_rows(tmp_path, capsys):
    paths = write_inputs(tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", *map(str, paths), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert re.search(r"<th>call records</th><td[^>]*>12</td>", page)
    assert re.search(r"<th>sms records</th><td[^>]*>10</td>", page)
    assert "bad start time" in page  # the rejected row: reason ...
    assert re.search(r"<td>\S*calls.csv</td><td>14</td>", page)  # ... and location
    assert "13999999999" in page  # numbers in clear by default
    assert (tmp_path / "r.quarantine.jsonl").exists()
    assert "report" in capsys.readouterr().out


def test_report_command_masks_numbers(tmp_path):
    paths = write_inputs(tmp_path)
    out = tmp_path / "masked.html"
    assert main(["report", *map(str, paths), "--out", str(out), "--mask"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "13999999999" not in page and "139****9999" in page
    assert "numbers masked" in page


def test_masked_report_never_shows_a_number_in_clear(tmp_path):
    paths = write_inputs(tmp_path)
    result = build_report(paths, tmp_path / "m.html", mask=True, engine=stand_in_engine())
    kinds = {a.kind for a in result.summary.alerts}
    assert kinds == {"voip_box", "sms_bombing"}
    page = result.path.read_text(encoding="utf-8")
    for number in (LINE, VICTIM, "13900000003", "106905"):
        assert number not in page, number
    assert "021****4567" in page and "138****5678" in page
    clear = build_report(paths, tmp_path / "c.html", engine=stand_in_engine())
    clear_page = clear.path.read_text(encoding="utf-8")
    assert LINE in clear_page
    # the calls the voip_box evidence cites are highlighted in its records table
    voip = next(a for a in clear.summary.alerts if a.kind == "voip_box")
    section = re.search(rf'id="alert-{voip.id}".*?</section>', clear_page, re.S).group(0)
    cited = re.findall(r'<tr class="cited">.*?<code>([^<]+)</code>', section)
    assert cited and set(cited) <= set(voip.evidence["call_ids"])


def test_report_command_user_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err and "Traceback" not in err
    assert not (tmp_path / "x.html").exists()
    paths = write_inputs(tmp_path)
    assert main(["report", str(paths[0]), "--out", str(tmp_path)]) == 2  # a directory
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a directory" in err


def test_replay_writes_a_report_too(tmp_path):
    paths = write_inputs(tmp_path)
    out = tmp_path / "replay.html"
    assert main(["replay", *map(str, paths), "--alerts", str(tmp_path / "a.jsonl"),
                 "--json", "--report", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert re.search(r"<th>call records</th><td[^>]*>12</td>", page)
    assert 'id="alerts"' in page
