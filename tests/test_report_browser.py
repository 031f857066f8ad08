"""The report of a simulated replay, opened in a real headless Chromium."""

from __future__ import annotations

import re
import shutil

import pytest

from fraudwatch.report import build_report
from fraudwatch.report.page import ERROR_HOOK
from tests.report_support import (
    CHROMIUM,
    WebDriver,
    console_errors,
    dump_dom,
    page_errors,
    screenshot,
    simulate,
    stand_in_engine,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    sim = simulate(tmp / "sim", days=2, subscribers=1000, seed=11)
    inputs = sorted(sim.glob("*.csv"))
    # the installed detectors, as `fraudwatch report` runs them
    result = build_report(inputs, tmp / "report.html")
    return tmp, result


@pytest.fixture(scope="module")
def busy_report(tmp_path_factory):
    """More alerts than a table page holds (the stand-in detectors are noisy)."""
    tmp = tmp_path_factory.mktemp("busy")
    sim = simulate(tmp / "sim", days=2, subscribers=1000, seed=5)
    result = build_report(sorted(sim.glob("*.csv")), tmp / "report.html",
                          engine=stand_in_engine())
    return tmp, result


def test_chromium_is_installed():
    assert shutil.which("chromium") or CHROMIUM, "Debian chromium is required"


def test_error_checks_catch_a_broken_page(tmp_path):
    """The checks used below do see page errors (so their silence means something)."""
    page = tmp_path / "broken.html"
    page.write_text(f"<!DOCTYPE html><html><head><script>{ERROR_HOOK}</script></head><body>"
                    "<script>console.error('boom'); notDefined();</script></body></html>")
    dom, log = dump_dom(page, tmp_path)
    recorded = page_errors(dom)
    assert recorded[0] == "boom" and "notDefined" in recorded[1]
    logged = console_errors(log)
    assert "boom" in logged and any("notDefined" in m for m in logged)


def test_report_opens_cleanly_with_a_section_and_plot_per_alert(report):
    tmp, result = report
    alerts = result.summary.alerts
    assert len({a.kind for a in alerts}) >= 3, result.summary.alert_counts()
    dom, log = dump_dom(result.path, tmp)
    assert re.search(r'<html[^>]*data-ready="1"', dom), "page scripts did not finish"
    assert page_errors(dom) == []
    assert console_errors(log) == []
    sections = re.findall(r'<section class="alert-section[^>]*id="([^"]+)"(.*?)</section>',
                          dom, re.S)
    assert len(sections) == len(alerts)
    ids = [sid for sid, _ in sections]
    assert len(set(ids)) == len(ids)
    for sid, body in sections:
        assert '<svg' in body and 'class="timeline"' in body, sid
        assert 'class="bars"' in body, sid  # the chart has data drawn
        assert 'class="reason"' in body
    # each alert's row links to its section
    links = re.findall(r'<a href="#(alert-[^"]+)">', dom)
    assert set(ids) <= set(links)
    # the summary shows what was read
    for kind, n in result.summary.records.items():
        assert f"{n:,}" in dom, kind
    # international origins map, when there are intl_fraud alerts
    if any(a.kind == "intl_fraud" for a in alerts):
        assert 'class="worldmap"' in dom and 'class="origin"' in dom
    else:
        assert 'id="origins"' not in dom


def test_alerts_table_paginates_in_the_browser(busy_report):
    tmp, result = busy_report
    alerts = result.summary.alerts
    assert len(alerts) > 50
    dom, log = dump_dom(result.path, tmp)
    assert page_errors(dom) == [] and console_errors(log) == []
    assert re.search(r'<html[^>]*data-ready="1"', dom)
    table = re.search(r'<table id="alerts-table".*?</table>', dom, re.S).group(0)
    assert table.count('style="display: none;"') == len(alerts) - 50
    assert f"page 1 of {-(-len(alerts) // 50)} ({len(alerts)} rows)" in dom
    assert len(re.findall(r'<section class="alert-section', dom)) == len(alerts)


def test_report_screenshot(report):
    tmp, result = report
    png = screenshot(result.path, tmp / "report.png", tmp)
    assert png.stat().st_size > 20_000  # a rendered page, not a blank one


def test_report_is_self_contained(report):
    _, result = report
    html = result.path.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html and "@import" not in html
    assert "http://www.w3.org/2000/svg" in html  # only the SVG namespace


VISIBLE_ROWS = """return [].filter.call(document.querySelectorAll('#alerts-table tbody tr'),
  function (r) { return r.style.display !== 'none'; }).map(function (r) {
  return [r.cells[3].textContent, r.querySelector('a').getAttribute('href')]; });"""


def test_alerts_table_sorts_pages_and_links_in_a_driven_browser(busy_report):
    """Through chromedriver's WebDriver API: clicking headers sorts, the pager pages, an
    alert's link reaches its section, and the browser log stays empty."""
    tmp, result = busy_report
    alerts = result.summary.alerts
    scores = sorted(round(a.score, 2) for a in alerts)
    driver = WebDriver(tmp)
    try:
        driver.get(result.path.resolve().as_uri())
        assert driver.script("return document.documentElement.getAttribute('data-ready')") == "1"
        first_page = driver.script(VISIBLE_ROWS)
        assert len(first_page) == 50
        driver.click("#alerts-table thead th:nth-child(4)")  # score, ascending
        rows = driver.script(VISIBLE_ROWS)
        assert [float(s) for s, _ in rows] == scores[:50]
        driver.click("#alerts-table thead th:nth-child(4)")  # descending
        rows = driver.script(VISIBLE_ROWS)
        assert [float(s) for s, _ in rows] == scores[::-1][:50]
        driver.click(".pager button:nth-of-type(2)")  # next page
        page2 = driver.script(VISIBLE_ROWS)
        assert [float(s) for s, _ in page2] == scores[::-1][50:100]
        target = page2[0][1]
        driver.click(f'#alerts-table a[href="{target}"]')
        assert driver.script("return location.hash") == target
        assert driver.script(f"return !!document.querySelector('{target} svg.timeline')")
        assert driver.script("return document.documentElement.getAttribute('data-errors')") \
            is None
        assert [e for e in driver.browser_log() if e.get("level") != "DEBUG"] == []
    finally:
        driver.close()
