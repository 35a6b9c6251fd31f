"""Chinese renders in the charts from the font the project installs, checked rather than assumed."""

import base64
import io
import re
import warnings

import matplotlib.pyplot as plt
from fontTools.ttLib import TTFont
from matplotlib import font_manager

from analysis import charts

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
