"""All charts come from here: one seaborn look, the run's language, a CJK font that renders.

The CJK font (Noto Sans CJK SC) ships inside the ``mplfonts`` package that the project installs;
:func:`use_theme` registers it with matplotlib, so Chinese labels render on a bare machine with no
system fonts. :func:`cjk_font_file` lets tests check which file actually renders the labels.
"""

from __future__ import annotations

import base64
import io as _io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from .i18n import reason_label, text  # noqa: E402

CJK_FAMILY = "Noto Sans CJK SC"
PALETTE = ["#1b4f72", "#2e86c1", "#85c1e9", "#f5b041", "#ca6f1e", "#7b7d7d"]
TIER_COLORS = ["#1b4f72", "#2e86c1", "#85c1e9", "#f5b041", "#ca6f1e"]


def cjk_font_file() -> Path:
    import mplfonts

    path = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall the project (make setup) to get the CJK font")
    return path


def use_theme() -> None:
    """The project's chart look; registers the bundled CJK font once."""
    font_file = str(cjk_font_file())
    if font_file not in {f.fname for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(font_file)
    sns.set_theme(
        style="whitegrid",
        palette=PALETTE,
        font=CJK_FAMILY,
        rc={"axes.unicode_minus": False, "figure.dpi": 100, "savefig.dpi": 110},
    )


def to_data_uri(fig: plt.Figure) -> str:
    """PNG bytes of ``fig`` as a data: URI (the report embeds every image), then close the figure."""
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def quality_chart(table: pd.DataFrame, language: str) -> plt.Figure:
    """Rows set aside per input and reason (horizontal bars): where the data needed cleaning."""
    use_theme()
    aside = table[table["status"] != "kept"].copy()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(aside), 2) + 1.2))
    if aside.empty:
        ax.text(0.5, 0.5, "—", ha="center", va="center")
        ax.set_axis_off()
        return fig
    aside["label"] = [
        f"{text('input_' + i, language)} · {reason_label(r, language)}" for i, r in zip(aside["input"], aside["status"])
    ]
    sns.barplot(data=aside, y="label", x="rows", hue="input", dodge=False, ax=ax, legend=False)
    for patch, rows in zip(ax.patches, aside["rows"]):
        ax.annotate(f"{rows:,}", (patch.get_width(), patch.get_y() + patch.get_height() / 2),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_xlabel(text("col_rows", language))
    ax.set_ylabel("")
    ax.set_title(text("chart_quality", language))
    return fig


def embedded_font_css(page_text: str) -> str:
    """An @font-face rule carrying the CJK font, cut down to the characters ``page_text`` uses.

    The report must read the same on a machine without Chinese fonts; the subset (WOFF, a few
    hundred kB) keeps the file self-contained.
    """
    from fontTools import subset

    characters = {ord(c) for c in page_text if ord(c) > 0x2E7F}  # CJK and full-width punctuation
    if not characters:
        return ""
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    font = subset.load_font(str(cjk_font_file()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=characters)
    subsetter.subset(font)
    buffer = _io.BytesIO()
    subset.save_font(font, buffer, options)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'@font-face {{ font-family: "{CJK_FAMILY}"; font-weight: 100 900; '
        f'src: url(data:font/woff;base64,{data}) format("woff"); }}'
    )
