"""Chinese renders in the charts from the font the project installs, checked rather than assumed."""

import base64
import io
import re
import warnings

import matplotlib.pyplot as plt
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
