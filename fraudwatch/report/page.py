"""The report page: one self-contained HTML file (inline CSS, JS and SVG; no network).

Sections: summary, a sortable and paginated alerts table, a map of international
origins, ladders of SIP calls in captures, and one section per alert with its reason,
evidence, timeline, records and (for captures) the ladder of a representative call.
Page scripts record any error into ``<html data-errors>`` so a headless browser can
check the page ran cleanly; they set ``data-ready`` when done.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from typing import Any

from detector.alerts import SEVERITIES, Alert, iso
from fraudwatch.report import ladder as ladders
from fraudwatch.report.build import ReportData
from fraudwatch.report.countrymap import centroids, origins_map_svg
from fraudwatch.report.masking import Masker
from fraudwatch.report.sections import (
    NUMBER_COLUMNS,
    ROW_COLUMNS,
    cited_strings,
    is_cited,
    records_for,
    representative_call,
    timeline,
)

#: records embedded per alert section (paginated in the page)
ROWS_PER_ALERT = 20
#: ladders drawn for alerts (each needs the capture's messages)
MAX_ALERT_LADDERS = 50
#: complete calls drawn per capture in the "SIP calls" section
CALLS_PER_CAPTURE = 3

CSS = """
html{scroll-padding-top:44px}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
 background:#fafafa;font-size:14px}
header{background:#263238;color:#fff;padding:12px 20px}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;color:#cfd8dc}
nav{padding:6px 20px;background:#eceff1;position:sticky;top:0;z-index:2}
nav a{margin-right:14px;color:#1565c0;text-decoration:none}
main{padding:0 20px 40px;max-width:1100px}
h2{border-bottom:2px solid #cfd8dc;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;margin:6px 0;background:#fff}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}
th{background:#eceff1} td.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none} table.sortable th:after{content:" \\2195";
 color:#90a4ae}
.pager{margin:4px 0 10px;font-size:13px} .pager button{margin-right:6px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px}
.critical{background:#c62828}.warning{background:#ef6c00}.info{background:#1565c0}
.alert-section{background:#fff;border:1px solid #ddd;border-left:5px solid #90a4ae;
 padding:8px 14px;margin:16px 0}
.alert-section.sev-critical{border-left-color:#c62828}
.alert-section.sev-warning{border-left-color:#ef6c00}
.alert-section h3{margin:4px 0 6px;font-size:16px} .reason{font-size:15px;margin:6px 0}
td.t,#alerts-table td:first-child{white-space:nowrap} tr.cited td{background:#fff3e0} .muted{color:#607d8b;font-size:12px} .note{background:#fff8e1;border:1px solid #ffe082;padding:4px 8px} td.text{max-width:380px;overflow-wrap:anywhere}
svg text{font-family:system-ui,sans-serif}
svg .title{font-size:12px;font-weight:600;fill:#37474f} svg .legend{font-size:11px;fill:#37474f}
svg .tick{font-size:10px;fill:#607d8b} svg .axis{stroke:#607d8b;stroke-width:1}
svg .baseline{stroke:#2e7d32;stroke-dasharray:5 3;stroke-width:1.2}
svg .marker{stroke-width:1.5;stroke-dasharray:3 2} svg .mlabel{font-size:10px}
svg.ladder .endpoint{font-size:11px;font-weight:600;fill:#263238}
svg.ladder .lifeline{stroke:#b0bec5;stroke-dasharray:4 3}
svg.ladder .arrow{stroke:#333;stroke-width:1.2} svg.ladder .response{stroke:#1565c0}
svg.ladder .msg{font-size:11px;fill:#111} svg.ladder .rel{font-size:10px;fill:#607d8b}
svg.worldmap .sea{fill:#e3f2fd} svg.worldmap .land{fill:#cfd8dc;stroke:#b0bec5}
svg.worldmap .grid{stroke:#bbdefb;stroke-width:.6}
svg.worldmap .origin{fill:#c62828;fill-opacity:.55;stroke:#8e0000}
svg.worldmap .olabel{font-size:11px;fill:#263238}
"""

# Recorded before anything else runs, so that a failing page script is visible to a
# headless check (data-errors on <html>) and not only in a console nobody reads.
ERROR_HOOK = """
(function(){var errs=[];function note(m){errs.push(String(m));
document.documentElement.setAttribute('data-errors',JSON.stringify(errs));}
window.onerror=function(msg,src,line,col){note(msg+' @'+line+':'+col);};
window.addEventListener('unhandledrejection',function(e){note('rejection: '+e.reason);});
var ce=console.error;console.error=function(){note([].join.call(arguments,' '));
return ce.apply(console,arguments);};})();
"""

SCRIPT = """
(function(){
function cellValue(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;
 var n=parseFloat(v);return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();}
function setup(table){
 var tbody=table.tBodies[0];if(!tbody)return;
 var rows=[].slice.call(tbody.rows);var size=parseInt(table.getAttribute('data-page-size')||'0',10);
 var page=0;var nav=null;
 if(size>0&&rows.length>size){nav=document.createElement('div');nav.className='pager';
  table.parentNode.insertBefore(nav,table.nextSibling);}
 function show(){
  if(!nav)return;var pages=Math.ceil(rows.length/size);if(page>=pages)page=pages-1;if(page<0)page=0;
  for(var i=0;i<rows.length;i++){rows[i].style.display=(i>=page*size&&i<(page+1)*size)?'':'none';}
  nav.innerHTML='';
  var prev=document.createElement('button');prev.textContent='\\u2039 prev';prev.disabled=page===0;
  prev.onclick=function(){page--;show();};
  var next=document.createElement('button');next.textContent='next \\u203a';
  next.disabled=page>=pages-1;next.onclick=function(){page++;show();};
  var label=document.createElement('span');
  label.textContent='page '+(page+1)+' of '+pages+' ('+rows.length+' rows)';
  nav.appendChild(prev);nav.appendChild(next);nav.appendChild(label);}
 table.showRow=function(tr){var i=rows.indexOf(tr);if(i>=0&&size>0){page=Math.floor(i/size);show();}};
 if(table.classList.contains('sortable')){
  var ths=table.tHead.rows[0].cells;
  [].forEach.call(ths,function(th,col){var dir=1;th.addEventListener('click',function(){
   rows.sort(function(a,b){var x=cellValue(a.cells[col]),y=cellValue(b.cells[col]);
    if(typeof x!==typeof y){x=String(x);y=String(y);}return x<y?-dir:x>y?dir:0;});
   dir=-dir;rows.forEach(function(r){tbody.appendChild(r);});page=0;show();});});}
 show();}
var tables=document.querySelectorAll('table.paged, table.sortable');
for(var i=0;i<tables.length;i++)setup(tables[i]);
document.documentElement.setAttribute('data-ready','1');
})();
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _fmt(t: float | None) -> str:
    return iso(t) if t is not None else "-"


def anchor(alert: Alert) -> str:
    return f"alert-{alert.id}"


class Page:
    """Renders :class:`ReportData` to HTML text."""

    def __init__(self, data: ReportData) -> None:
        self.data = data
        self.mask = Masker(data.mask, data.store.numbers.ids)
        self.parts: list[str] = []
        self.anchors: dict[int, str] = {}
        seen: Counter = Counter()
        for i, a in enumerate(data.alerts):
            base = anchor(a)
            seen[base] += 1
            self.anchors[i] = base if seen[base] == 1 else f"{base}-{seen[base]}"
        self._known_calls: set[str] | None = None
        #: rendered record rows by (id(row), kind): rows are shared by the views, alive
        #: for the whole render, so their ids are stable keys
        self.row_html: dict[tuple[int, str], str] = {}
        self.ladders_drawn = 0

    # -- helpers -------------------------------------------------------------------------
    def w(self, *text: str) -> None:
        self.parts.extend(text)

    def known_calls(self) -> set[str]:
        if self._known_calls is None:
            self._known_calls = set()
            for path in self.data.captures:
                self._known_calls.update(ladders.scan_capture(path))
        return self._known_calls

    def number(self, value: str | None) -> str:
        return _e(self.mask(value)) if value else '<span class="muted">-</span>'

    # -- page ----------------------------------------------------------------------------
    def render(self) -> str:
        d = self.data
        s = d.summary
        span = f"{_fmt(s.first_time)} .. {_fmt(s.last_time)}"
        self.w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
               f"<title>{_e(d.title)}</title><script>{ERROR_HOOK}</script>",
               f"<style>{CSS}</style></head><body>",
               f"<header><h1>{_e(d.title)}</h1><p>event time {_e(span)} &middot; "
               f"{len(d.alerts):,} alerts &middot; numbers "
               f"{'masked' if d.mask else 'in clear'}</p></header>",
               '<nav><a href="#summary">Summary</a><a href="#alerts">Alerts</a>')
        intl = [a for a in d.alerts if a.kind == "intl_fraud"]
        if intl:
            self.w('<a href="#origins">International origins</a>')
        if d.captures:
            self.w('<a href="#sip-calls">SIP calls</a>')
        self.w('<a href="#alert-sections">Alert details</a></nav><main>')
        self.summary()
        self.alerts_table()
        if intl:
            self.origins(intl)
        if d.captures:
            self.sip_calls()
        self.w('<h2 id="alert-sections">Alert details</h2>')
        if not d.alerts:
            self.w('<p class="muted">No alerts.</p>')
        for i, a in enumerate(d.alerts):
            self.alert_section(i, a)
        self.w(f"</main><script>{SCRIPT}</script></body></html>\n")
        return "".join(self.parts)

    def summary(self) -> None:
        d, s = self.data, self.data.summary
        self.w('<section id="summary"><h2>Summary</h2>')
        for note in d.notes:
            self.w(f'<p class="note">{_e(note)}</p>')
        self.w("<table><tbody>")
        for p in s.inputs:
            self.w(f"<tr><th>input</th><td>{_e(p)}</td><td>{_e(s.formats.get(p))}</td></tr>")
        self.w(f"<tr><th>event time</th><td colspan=2>{_e(_fmt(s.first_time))} .. "
               f"{_e(_fmt(s.last_time))}</td></tr>")
        for k in ("call", "sms", "registration", "feedback"):
            if s.records.get(k):
                self.w(f'<tr><th>{k} records</th><td class="num" colspan=2>'
                       f"{s.records[k]:,}</td></tr>")
        nq = sum(s.quarantined.values())
        self.w(f'<tr><th>quarantined</th><td class="num">{nq:,}</td><td>'
               f"{_e(s.quarantine_path or '')}</td></tr>")
        nm = sum(s.malformed.values())
        if nm:
            self.w(f'<tr><th>malformed (capture)</th><td class="num" colspan=2>{nm:,}</td></tr>')
        if s.late:
            self.w(f'<tr><th>late records</th><td class="num" colspan=2>{s.late:,}</td></tr>')
        self.w(f'<tr><th>replay time</th><td colspan=2>{s.elapsed:.2f} s</td></tr>'
               "</tbody></table>")
        if s.quarantined or s.malformed:
            self.w("<h3>Rejected input by reason</h3><table><thead><tr><th>where</th>"
                   "<th>reason</th><th>count</th></tr></thead><tbody>")
            for reason, n in s.quarantined.most_common():
                self.w(f'<tr><td>records</td><td>{_e(reason)}</td><td class="num">{n:,}</td></tr>')
            for reason, n in s.malformed.most_common():
                self.w(f'<tr><td>capture</td><td>{_e(reason)}</td><td class="num">{n:,}</td></tr>')
            self.w("</tbody></table>")
        if d.quarantine_samples:
            self.w(f'<h3>Quarantined rows (first {len(d.quarantine_samples)})</h3>'
                   '<table class="paged" data-page-size="10"><thead><tr><th>source</th>'
                   "<th>location</th><th>reason</th><th>raw</th></tr></thead><tbody>")
            for q in d.quarantine_samples:
                self.w(f"<tr><td>{_e(q.get('source'))}</td><td>{_e(q.get('location'))}</td>"
                       f"<td>{_e(q.get('reason'))}</td><td class=\"text\">"
                       f"{_e(self.mask.text(str(q.get('raw', ''))[:300]))}</td></tr>")
            self.w("</tbody></table>")
        if s.sip:
            self.w("<h3>SIP messages</h3><table><tbody>")
            for key, n in sorted(s.sip.items()):
                self.w(f'<tr><td>{_e(key)}</td><td class="num">{n:,}</td></tr>')
            self.w("</tbody></table>")
        counts = s.alert_counts()
        self.w("<h3>Alerts by kind and severity</h3><table><thead><tr><th>kind</th>"
               + "".join(f"<th>{sev}</th>" for sev in reversed(SEVERITIES))
               + "<th>total</th></tr></thead><tbody>")
        for kind in sorted({k for k, _ in counts}):
            row = [counts.get((kind, sev), 0) for sev in reversed(SEVERITIES)]
            self.w(f"<tr><td>{_e(kind)}</td>"
                   + "".join(f'<td class="num">{n:,}</td>' for n in row)
                   + f'<td class="num">{sum(row):,}</td></tr>')
        self.w(f'<tr><th>all</th><td colspan=3></td><td class="num">{len(d.alerts):,}</td>'
               "</tr></tbody></table>")
        if s.first_time is not None and s.last_time is not None:
            from fraudwatch.report.plots import overview_svg

            by_kind: dict[str, list[float]] = {}
            for a in d.alerts:
                by_kind.setdefault(a.kind, []).append(a.time)
            self.w('<div class="plot overview">',
                   overview_svg(d.record_times(), by_kind, s.first_time, s.last_time), "</div>")
        self.w("</section>")

    def alerts_table(self) -> None:
        self.w('<section id="alerts"><h2>Alerts</h2>')
        if not self.data.alerts:
            self.w('<p class="muted">No alerts.</p></section>')
            return
        self.w('<table id="alerts-table" class="sortable paged" data-page-size="50"><thead><tr>'
               "<th>time</th><th>kind</th><th>severity</th><th>score</th><th>subject</th>"
               "<th>counterparty</th><th>reason</th></tr></thead><tbody>")
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        for i, a in enumerate(self.data.alerts):
            reason = self.mask.text(a.reason)
            short = reason if len(reason) <= 140 else reason[:137] + "..."
            self.w(f'<tr><td data-v="{a.time:.3f}"><a href="#{self.anchors[i]}">'
                   f"{_e(iso(a.time))}</a></td><td>{_e(a.kind)}</td>"
                   f'<td data-v="{rank.get(a.severity, 0)}"><span class="badge {_e(a.severity)}">'
                   f'{_e(a.severity)}</span></td><td class="num">{a.score:.2f}</td>'
                   f"<td>{self.number(a.subject)}</td><td>{self.number(a.counterparty)}</td>"
                   f"<td>{_e(short)}</td></tr>")
        self.w("</tbody></table></section>")

    def origins(self, alerts: list[Alert]) -> None:
        from detector.numbering import NumberingPlan

        try:
            plan = NumberingPlan.load(self.data.numbering_plan)
            classify = plan.classify
        except Exception:
            classify = None
        by_country: Counter = Counter()
        for a in alerts:
            country = None
            if isinstance(a.evidence, dict):  # the detector's own origin, when it says
                country = a.evidence.get("country") or a.evidence.get("origin")
                if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
                    country = None
            if not country and classify is not None:
                country = classify(a.subject).country
            by_country[str(country or "unknown")] += 1
        names = centroids()
        self.w('<section id="origins"><h2>International origins (intl_fraud alerts)</h2>',
               '<div class="plot">', origins_map_svg(dict(by_country)), "</div>",
               '<table class="sortable"><thead><tr><th>country</th><th>name</th>'
               "<th>alerts</th></tr></thead><tbody>")
        for iso2, n in by_country.most_common():
            self.w(f"<tr><td>{_e(iso2)}</td><td>{_e(names.get(iso2, ('', '', ''))[2])}</td>"
                   f'<td class="num">{n:,}</td></tr>')
        self.w("</tbody></table></section>")

    def sip_calls(self) -> None:
        self.w('<section id="sip-calls"><h2>SIP calls in the captures</h2>')
        for path in self.data.captures:
            ids = ladders.complete_calls(path, CALLS_PER_CAPTURE)
            self.w(f"<h3>{_e(path)}</h3>")
            if not ids:
                self.w('<p class="muted">No INVITE dialog found in this capture.</p>')
            for cid in ids:
                msgs = ladders.call_messages(path, cid)
                if msgs:
                    self.w('<div class="plot ladder-box">',
                           ladders.ladder_svg(msgs, f"Call-ID {self.mask.text(cid)}",
                                              mask=self.mask.text), "</div>")
        self.w("</section>")

    def alert_section(self, i: int, a: Alert) -> None:
        view = self.data.views.get(a.subject)
        if view is None:
            from fraudwatch.report.store import SubjectView
            view = SubjectView()
        m = self.mask
        self.w(f'<section class="alert-section sev-{_e(a.severity)}" id="{self.anchors[i]}" '
               f'data-kind="{_e(a.kind)}"><h3><span class="badge {_e(a.severity)}">'
               f"{_e(a.severity)}</span> {_e(a.kind)} &mdash; {self.number(a.subject)}</h3>",
               f'<p class="reason">{_e(m.text(a.reason))}</p>',
               f"<table><tbody><tr><th>time</th><td>{_e(iso(a.time))}</td><th>score</th>"
               f'<td class="num">{a.score:.2f}</td></tr><tr><th>subject</th>'
               f"<td>{self.number(a.subject)}</td><th>counterparty</th>"
               f"<td>{self.number(a.counterparty)}</td></tr><tr><th>alert id</th>"
               f"<td colspan=3><code>{_e(a.id)}</code></td></tr></tbody></table>")
        self.evidence(a.evidence)
        chart = timeline(a, view)
        for s in chart.series:  # sender numbers name the SMS series
            s.label = m.text(s.label)
        self.w('<div class="plot">', chart.svg(), "</div>")
        self.records(a, view)
        if self.data.captures and self.ladders_drawn < MAX_ALERT_LADDERS:
            cid = representative_call(a, view, self.known_calls())
            if cid:
                for path in self.data.captures:
                    msgs = ladders.call_messages(path, cid)
                    if msgs:
                        self.ladders_drawn += 1
                        self.w("<h4>Ladder of a representative call</h4>"
                               '<div class="plot ladder-box">',
                               ladders.ladder_svg(msgs, f"Call-ID {m.text(cid)}", mask=m.text),
                               "</div>")
                        break
        self.w('<p><a href="#alerts">&uarr; alerts</a></p></section>')

    def evidence(self, evidence: dict) -> None:
        if not evidence:
            return
        self.w("<details open><summary>Evidence</summary><table><tbody>")
        for key, value in evidence.items():
            self.w(f"<tr><th>{_e(key)}</th><td class=\"text\">{_e(self.show(key, value))}"
                   "</td></tr>")
        self.w("</tbody></table></details>")

    def show(self, key: str, value: Any) -> str:
        value = self.mask.value(value)
        if isinstance(value, float) and ("time" in key or key in ("first", "last", "since")) \
                and value > 1e8:
            return iso(value)
        if isinstance(value, list):
            head = ", ".join(str(v) if not isinstance(v, dict | list) else json.dumps(v)
                             for v in value[:20])
            return head + (f" ... ({len(value) - 20} more)" if len(value) > 20 else "")
        if isinstance(value, dict):
            text = json.dumps(value, ensure_ascii=False, default=str)
            return text if len(text) <= 2000 else text[:2000] + "..."
        return str(value)

    def records(self, a: Alert, view) -> None:
        rk, rows, total = records_for(a, view, ROWS_PER_ALERT)
        cited = cited_strings(a.evidence)
        feedback = view.feedback
        if not rows and not feedback:
            self.w('<p class="muted">No records about this subject were read.</p>')
            return
        cols = ROW_COLUMNS[rk]
        if rows:
            note = (' <span class="muted">(highlighted: cited in the evidence)</span>'
                    if cited and any(is_cited(r, cited) for r in rows) else "")
            self.w(f"<h4>{rk} records behind it: {len(rows)} shown of {total:,}{note}</h4>"
                   '<table class="records paged" data-page-size="10"><thead><tr>'
                   + "".join(f"<th>{c}</th>" for c in cols) + "</tr></thead><tbody>")
            m = self.mask
            cache = self.row_html
            for r in rows:
                # the same rows stand behind many alerts (re-raised alerts, shared callers)
                key = (id(r), rk)
                open_tag = '<tr class="cited">' if is_cited(r, cited) else "<tr>"
                cached = cache.get(key)
                if cached is not None:
                    self.w(open_tag, cached)
                    continue
                cells = []
                for c in cols:
                    v = getattr(r, c)
                    if c == "time":
                        cells.append(f'<td class="t">{_e(iso(v))}</td>')
                    elif c in NUMBER_COLUMNS:
                        cells.append(f"<td>{_e(m(v))}</td>")
                    elif c == "duration":
                        cells.append(f'<td class="num">{v:g}</td>')
                    elif c == "text":
                        cells.append(f'<td class="text">{_e(m.text(v or ""))}</td>')
                    elif c == "call_id":
                        cells.append(f"<td><code>{_e(m.text(v))}</code></td>")
                    else:
                        cells.append(f"<td>{_e(v if v is not None else '')}</td>")
                cache[key] = row = "".join(cells) + "</tr>"
                self.w(open_tag, row)
            self.w("</tbody></table>")
        if feedback:
            self.w("<h4>Feedback</h4><table><thead><tr><th>time</th><th>number</th><th>kind</th>"
                   "<th>about</th></tr></thead><tbody>")
            for fb in feedback[:50]:
                self.w(f"<tr><td>{_e(iso(fb.time))}</td><td>{_e(self.mask(fb.number))}</td>"
                       f"<td>{_e(fb.kind)}</td><td>{_e(self.mask(fb.about))}</td></tr>")
            self.w("</tbody></table>")


def render(data: ReportData) -> str:
    """The report page for ``data`` as HTML text."""
    return Page(data).render()

