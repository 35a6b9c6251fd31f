"""The manager report opened in a real headless Chromium: loads cleanly, images decode, links resolve."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "reports" / "browser-test"  # git-ignored, kept for review
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail("Chromium not found: install Debian's chromium (.ci/run does) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def open_report(browser, path: Path, *, width: int = 1200):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


def check_page(page, problems):
    assert problems == []
    images = page.evaluate(
        """async () => Promise.all([...document.images].map(async img => {
              try { await img.decode(); } catch (e) { return {src: img.src.slice(0, 40), ok: false}; }
              return {src: img.src.slice(0, 40), ok: img.naturalWidth > 0 && img.src.startsWith('data:image/')};
           }))"""
    )
    assert images, "the report has no images"
    assert all(i["ok"] for i in images), [i for i in images if not i["ok"]]
    broken = page.evaluate(
        """() => [...document.querySelectorAll('a[href^="#"]')]
                 .map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id))"""
    )
    assert broken == []
    assert page.evaluate("() => document.querySelectorAll('script').length") == 0  # no code in the report


@pytest.mark.parametrize("name", ["index.html", "index.en.html"])
def test_report_loads_without_errors_and_every_image_decodes(browser, sample_report, name):
    path = sample_report.parent / name
    page, problems = open_report(browser, path)
    check_page(page, problems)
    lang = page.evaluate("() => document.documentElement.lang")
    assert lang == ("zh-CN" if name == "index.html" else "en")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{Path(name).stem}.png"), full_page=True)


def test_report_reads_on_a_phone(browser, sample_report):
    page, problems = open_report(browser, sample_report, width=390)
    check_page(page, problems)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, "the page scrolls sideways on a phone"


def test_a_hostile_title_is_shown_as_text_not_run(browser, sample_report, out_root, tmp_path):
    """Everything from params reaches the page escaped: a title holding markup stays text."""
    from analysis.frame.study import open_study
    from analysis.report.build import render_report

    hostile = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
    study = open_study(ROOT / "params/sample.yaml", out_root)
    study = replace(study, params=study.params.model_copy(update={"title": hostile}))
    path = tmp_path / "index.html"
    path.write_text(render_report(study), encoding="utf-8")
    page, problems = open_report(browser, path)
    check_page(page, problems)
    assert page.evaluate("() => document.querySelector('header h1').textContent") == hostile
    assert page.evaluate("() => document.title") == hostile
    assert page.evaluate("() => document.querySelectorAll('img[onerror]').length") == 0


@pytest.mark.parametrize(("name", "header", "sentence"), [
    ("index.html", "预测价值占比区间", "处在层级边界上"),
    ("index.en.html", "Predicted value % (interval)", "sit on a tier boundary"),
])
def test_the_tier_overview_shows_value_shares_with_intervals(browser, sample_report, name, header, sentence):
    page, problems = open_report(browser, sample_report.parent / name)
    assert problems == []
    section = page.locator("#tiers")
    headers = section.locator("th").all_inner_texts()
    assert header in headers and ("边界客户" if name == "index.html" else "Borderline") in headers
    assert sentence in section.inner_text()
    first_interval = section.locator("tbody tr").first.locator("td").nth(headers.index(header)).inner_text()
    low, high = (float(v) for v in first_interval.rstrip("%").split("–"))
    assert 0 < low <= high < 100


@pytest.mark.parametrize(("name", "heading"), [("index.html", "历史趋势"), ("index.en.html", "Trends")])
def test_the_trends_section_renders_its_chart(browser, sample_report, name, heading):
    """The sample's two quarters (previous, then this one) give a Trends section with its small multiples."""
    page, problems = open_report(browser, sample_report.parent / name)
    check_page(page, problems)
    trends = page.evaluate(
        """async () => {
              const section = document.getElementById('trends');
              if (!section) return null;
              const img = section.querySelector('img');
              await img.decode();
              return {heading: section.querySelector('h2').textContent, width: img.naturalWidth,
                      shown: img.getBoundingClientRect().width,
                      linked: !!document.querySelector('a[href="#trends"]')};
           }"""
    )
    assert trends is not None, "no Trends section"
    assert trends["heading"] == heading and trends["width"] > 600 and trends["shown"] > 300
    assert trends["linked"], "the table of contents does not link the Trends section"


@pytest.mark.parametrize(("name", "words", "header"), [
    ("index.html", ["谁该服务谁", "增聘", "交接名单"], "建议客户经理"),
    ("index.en.html", ["Who should serve whom", "Hire", "Handover list"], "Recommended manager"),
])
def test_the_managers_section_shows_the_assignment_and_the_plan(browser, sample_report, name, words, header):
    """The sample's seniors are short of hours: the section states who should serve whom, the plan
    (options table with the recommended one starred), each manager's load and the handover list."""
    page, problems = open_report(browser, sample_report.parent / name)
    check_page(page, problems)
    section = page.locator("#managers")
    body = section.inner_text()
    assert all(w in body for w in words) and "★" in body
    headers = section.locator("th").all_inner_texts()
    assert header in headers
    codes = page.evaluate(
        """(header) => {
              const table = [...document.querySelectorAll('#managers table')]
                  .find(t => [...t.querySelectorAll('th')].some(th => th.textContent === header));
              return [...table.querySelectorAll('tbody tr')].map(tr => tr.querySelector('td').textContent);
           }""", header)
    assert codes and all(code.startswith("C-") for code in codes)  # salted codes, as in the watch list
