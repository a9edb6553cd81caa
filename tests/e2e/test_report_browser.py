"""The HTML report in headless Chromium: the timeline chart is drawn and the numbers are right.

Needs a ``chromium`` binary (Debian: ``apt-get install -y chromium``); skipped when there is none.
The report is rendered twice: ``--dump-dom`` for what the browser parsed, ``--screenshot`` for
what a person sees — the PNG is decoded here (zlib + PNG filters) and the chart's colours are
looked for in it.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from keyroll.cli.report_formats import ReportFormatChoice
from keyroll.report.build import build_report
from keyroll.report.timeline import MARK_STYLE
from tests.unit.report import report_samples as S

pytestmark = pytest.mark.browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium binary (apt-get install -y chromium)")


def _run(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    try:
        return subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=90,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("chromium did not finish in 90 s")


def _png_pixels(data: bytes, max_rows: int = 10**6) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG into rows of RGB pixels (the first ``max_rows``)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(min(height, max_rows)):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if channels == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def _count(rows: list[bytes], rgb: tuple[int, int, int], tol: int = 10) -> int:
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - rgb[k]) <= tol for k in range(3)):
                n += 1
    return n


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    report = build_report(
        S.runlog(), S.verify_result(), S.audit_result(flagged=True), now=S.NOW, tool_version="0.1.0"
    )
    out = tmp_path / "incident.html"
    out.write_text(ReportFormatChoice.HTML.to_format().format(report), encoding="utf-8")
    return out


def test_dom_has_the_chart_and_the_numbers(report_file: Path, tmp_path: Path) -> None:
    browser = _browser()
    proc = _run(browser, tmp_path, "--dump-dom", report_file.as_uri())
    dom = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0 and "<svg" in dom, proc.stderr[-500:]
    assert 'data-rows="2"' in dom and 'class="window"' in dom
    assert dom.count('class="mark"') >= 10
    for metric, value in (
        ("credentials_done", "2/2"),
        ("projects", "2"),
        ("deployments_redeployed", "3"),
        ("max_outage", "3.2 s"),
        ("open_risks", "2"),
    ):
        assert f'data-metric="{metric}"><div class="n">{value}</div>' in dom, metric
    assert '<text class="row-label"' in dom and ">web</text>" in dom and ">api</text>" in dom


def test_screenshot_shows_the_timeline(report_file: Path, tmp_path: Path) -> None:
    browser = _browser()
    png = tmp_path / "report.png"
    proc = _run(browser, tmp_path, "--window-size=1100,900", f"--screenshot={png}", report_file.as_uri())
    assert proc.returncode == 0 and png.exists(), proc.stderr[-500:]
    width, height, rows = _png_pixels(png.read_bytes(), max_rows=480)
    assert (width, height) == (1100, 900)
    chart = rows[200:480]  # below the summary cards: the timeline
    ready = _count(chart, _hex(MARK_STYLE[next(k for k in MARK_STYLE if k.value == "ready")][0]))
    write = _count(chart, _hex(MARK_STYLE[next(k for k in MARK_STYLE if k.value == "env_write")][0]))
    revoke = _count(chart, _hex(MARK_STYLE[next(k for k in MARK_STYLE if k.value == "revoke")][0]))
    # the cutover window: #dc2626 at 18 % over white or over the grey band
    shaded = _count(chart, (249, 216, 216), tol=6) + _count(chart, (239, 207, 209), tol=6)
    assert ready > 40 and write > 40 and revoke > 20, (ready, write, revoke)
    assert shaded > 500, shaded
    # and the page is not blank elsewhere: the summary cards' text is dark
    assert _count(rows[100:200], (17, 24, 39), tol=30) > 200
