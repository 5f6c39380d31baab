"""The explain page: what it holds, and how it looks in a real browser (headless Chromium).

The browser test needs no Python package: Chromium's own `--screenshot` and `--dump-dom`, its
console log on stderr (`--enable-logging=stderr`), and a small PNG reader (zlib) to count the
pixels of the picture's colour. It skips, saying so, where Chromium is not installed (.ci/run
installs Debian's `chromium` when it can).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import click
import pytest

from pctrules.evaluation.engine import Engine
from pctrules.page import FOLD, PATH_COLOUR, PageCase, folded, render_page
from tests.audit.conftest import run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
CASE = "examples/specialised-bassetlaw.yaml"


def _browser() -> str | None:
    return next((b for b in (shutil.which(n) for n in BROWSERS) if b), None)


def explain_page(cli: click.Group, *args: str) -> str:
    result = run(cli, "explain", *args, "--format", "html")
    assert result.exit_code == 0, result.output
    return result.stdout


# -- what the page holds ----------------------------------------------------------------------


def test_the_page_shows_inputs_titles_pictures_and_no_text_hints(cli: click.Group) -> None:
    page = explain_page(cli, CASE)
    assert '<table class="inputs">' in page
    assert "SSNDS-06 Specialised spinal services (all ages) (service)" in page
    assert '<figure class="decisions"><svg' in page  # how decisions feed each other
    assert page.count('<figure class="path"><svg') >= 3  # the path that decided, per decision
    assert "Not registered with a GP, and usually resident in a PCT&#x27;s statutory area" in page
    assert "--format" not in page and "lists them" not in page  # no text-mode hints
    assert "<script" not in page


def test_why_and_facts_do_not_repeat_each_other(cli: click.Group) -> None:
    page = explain_page(cli, CASE)
    for row in re.findall(r'<tr class="matched">(.*?)</tr>', page, flags=re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        why, facts = cells[-2], cells[-1]
        for item in re.findall(r"<li>(.*?)</li>", facts):
            assert item not in why


def test_long_lists_fold_and_open_in_full() -> None:
    items = [f"fact {i}" for i in range(12)]
    text = folded(items)
    assert text.count("<li>") == 12  # every item is on the page
    assert f"<details><summary>{12 - FOLD + 1} more (show all)</summary>" in text
    assert "… and" not in text
    assert folded(items[:FOLD]).count("<details>") == 0


def test_the_plain_layout_draws_without_graphviz(toy: Engine) -> None:
    case = toy.validate_case({"id": "t1", "date": "2005-08-01", "practice": "X2"}, 1)
    result = toy.evaluate(case, trace=True)
    page = render_page(
        [PageCase("t1", result.as_of, result.decisions, result.warnings, {"practice": "X2"})],
        toy.graph,
        title="toy",
        bundle="toy 1",
        depends={d.name: sorted(d.depends_on) for d in toy.compiled.decisions},
        draw="plain",
    )
    assert '<figure class="path"><svg xmlns="http://www.w3.org/2000/svg"' in page
    assert f'stroke="{PATH_COLOUR}"' in page
    assert "X2" in page and "P4" in page and "part_of" in page
    assert "2005-07-01 → 2005-12-31" in page  # the edge's dates on the picture


# -- in a browser -------------------------------------------------------------------------------


def _chromium(browser: str, page: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="pctrules-chromium-") as profile:
        return subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--hide-scrollbars",
                "--window-size=1200,2400",
                *extra,
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )


def _console(stderr: bytes) -> list[str]:
    """The page's console messages (script errors, failed loads) in Chromium's log."""
    return [line for line in stderr.decode("utf-8", "replace").splitlines() if ":CONSOLE" in line]


def _pixels(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, bytes per pixel, raw pixels) of an 8-bit RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, data, width = 8, b"", 0
    height = depth = colour = 0
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        body = png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            data += body
        at += 12 + length
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(data)
    stride = width * bpp
    out = bytearray(height * stride)
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 255
        out[y * stride : (y + 1) * stride] = line
        previous = line
    return width, height, bpp, bytes(out)


def _coloured(png: bytes, colour: str, tolerance: int = 40) -> int:
    """How many pixels are near `colour` (#rrggbb)."""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    width, height, bpp, pixels = _pixels(png)
    count = 0
    for i in range(0, width * height * bpp, bpp):
        if all(abs(pixels[i + k] - want[k]) <= tolerance for k in range(3)):
            count += 1
    return count


@pytest.fixture(scope="module")
def browser() -> str:
    found = _browser()
    if found is None:
        pytest.skip(
            "headless Chromium is not installed (apt-get install chromium); the page "
            "test needs a real browser"
        )
    return found


@pytest.mark.parametrize("layout", ["auto", "plain"])
def test_the_page_in_a_browser_draws_the_picture_without_script_errors(
    cli: click.Group, toy: Engine, browser: str, tmp_path: Path, layout: str
) -> None:
    if layout == "auto":
        html_text = explain_page(cli, CASE)
    else:
        case = toy.validate_case(
            {"id": "t1", "date": "2005-08-01", "practice": "X2", "service": "S2"}, 1
        )
        result = toy.evaluate(case, trace=True)
        html_text = render_page(
            [
                PageCase(
                    "t1",
                    result.as_of,
                    result.decisions,
                    result.warnings,
                    {"practice": "X2", "service": "S2"},
                )
            ],
            toy.graph,
            title="toy",
            bundle="toy 1",
            depends={d.name: sorted(d.depends_on) for d in toy.compiled.decisions},
            draw="plain",
        )
    page = tmp_path / "page.html"
    page.write_text(html_text, encoding="utf-8")
    shot = tmp_path / "page.png"
    done = _chromium(browser, page, f"--screenshot={shot}")
    assert shot.exists(), done.stderr.decode("utf-8", "replace")[-2000:]
    assert _console(done.stderr) == []
    dom = _chromium(browser, page, "--dump-dom")
    assert _console(dom.stderr) == []
    text = dom.stdout.decode("utf-8", "replace")
    assert '<figure class="path"><svg' in text
    # The picture is drawn: its edges and borders are in the path colour, and they show.
    assert _coloured(shot.read_bytes(), PATH_COLOUR) > 500


def test_the_browser_check_sees_a_script_error(browser: str, tmp_path: Path) -> None:
    """The console check above can fail: a page with an error in a script is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    assert _console(_chromium(browser, page, "--dump-dom").stderr)


def test_the_pixel_check_sees_a_page_without_the_picture(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body><p>no picture</p></body></html>", encoding="utf-8")
    shot = tmp_path / "blank.png"
    _chromium(browser, page, f"--screenshot={shot}")
    assert _coloured(shot.read_bytes(), PATH_COLOUR) == 0
