"""Chinese renders in the charts from the font the project installs, checked rather than assumed."""

import base64
import io
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import seaborn as sns
from fontTools.ttLib import TTFont
from matplotlib import font_manager

from analysis.report import charts

LABEL = "高价值客户的收入占比"


def test_chinese_chart_labels_render_with_the_bundled_cjk_font():
    charts.use_theme()
    fig, ax = plt.subplots()
    title = ax.set_title(LABEL)
    ax.set_xlabel("客户经理专业度")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    used = font_manager.findfont(title.get_fontproperties(), fallback_to_default=False)
    assert used == str(charts.cjk_font_file())
    cmap = TTFont(used, fontNumber=0).getBestCmap()
    assert all(ord(c) in cmap for c in LABEL)
    assert charts.to_data_uri(fig).startswith("data:image/png;base64,")


def test_report_font_subset_carries_every_chinese_character_of_the_page():
    page = f"<p>{LABEL}，满意度（NPS）</p>"
    css = charts.embedded_font_css(page)
    data = re.search(r"base64,([A-Za-z0-9+/=]+)", css).group(1)
    font = TTFont(io.BytesIO(base64.b64decode(data)))
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in page if ord(c) > 0x2E7F)
    assert len(base64.b64decode(data)) < 200_000  # a subset, not the 16 MB font
    assert charts.embedded_font_css("plain ascii") == ""


def test_labels_from_the_data_draw_literally_not_as_math():
    """Categories such as "$VIP" or "a_b^c" in an export used to crash matplotlib's mathtext parser."""
    import pandas as pd

    labels = ["$VIP 客户", "net_sales^2", r"C:\temp\orders", "$5 off $10", r"$\frac{a}{$"]
    mix = pd.DataFrame([[0.3, 0.2, 0.2, 0.2, 0.1], [0.1, 0.2, 0.3, 0.2, 0.2]],
                       index=pd.Index([1, 2], name="tier"), columns=pd.Index(labels, name="product_category"))
    fig = charts.mix_chart(mix, "$ share by tier_1", {"1": "高价值", "2": "潜力"})
    fig.canvas.draw()  # mathtext would raise a ParseException on the last label
    ax = fig.axes[0]
    texts = [*ax.get_legend().get_texts(), *ax.get_yticklabels(), ax.title]
    assert set(labels) <= {t.get_text() for t in texts}
    assert not any(t.get_parse_math() for t in texts)
    assert charts.to_data_uri(fig).startswith("data:image/png;base64,")


@pytest.mark.parametrize("log_scale", [False, True])
@pytest.mark.parametrize("case", ["spread", "missing", "one value", "none"])
def test_histograms_counted_by_numpy_draw_seaborns_bars(case, log_scale):
    rng = np.random.default_rng(3)
    values = {
        "spread": rng.lognormal(3.0, 1.5, 5_000),
        "missing": np.append(rng.gamma(2.0, 40.0, 3_000), [np.nan, 0.0, -5.0]),
        "one value": np.full(50, 7.0),
        "none": np.array([np.nan]),
    }[case]

    def drawn(draw) -> tuple:
        fig, ax = plt.subplots()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # seaborn's log of 0 and of a negative value
            draw(ax)
        bars = [(p.get_x(), p.get_width(), p.get_height(), p.get_linewidth()) for p in ax.patches]
        shown = (bars, ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_ylabel())
        plt.close(fig)
        return shown

    charts.use_theme()
    ours = drawn(lambda ax: charts.histogram(ax, values, bins=30, log_scale=log_scale))
    theirs = drawn(lambda ax: sns.histplot(x=values, bins=30, log_scale=log_scale, ax=ax))
    assert ours == theirs
    assert case == "none" or len(ours[0]) == 30
