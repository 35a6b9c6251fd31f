"""All charts come from here: one seaborn look, the run's language, a CJK font that renders.

The CJK font (Noto Sans CJK SC) ships inside the ``mplfonts`` package that the project installs;
:func:`use_theme` registers it with matplotlib, so Chinese labels render on a bare machine with no
system fonts. :func:`cjk_font_file` lets tests check which file actually renders the labels.
"""

from __future__ import annotations

import base64
import io as _io
import os
import sys
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    # Scripts and the report render off-screen; a notebook keeps its inline backend and shows its charts.
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from analysis.i18n import reason_label, render, text  # noqa: E402

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
        # text.parse_math off: a label such as "$VIP" or "a_b^c" from the data is drawn literally.
        rc={"axes.unicode_minus": False, "figure.dpi": 100, "savefig.dpi": 110, "text.parse_math": False},
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

    characters = {ord(c) for c in set(page_text) if ord(c) > 0x2E7F}  # CJK and full-width punctuation
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


# ---------------------------------------------------------------------------------------------
# Scoring (stage 2)


def histogram(ax: plt.Axes, values: pd.Series | np.ndarray, bins: int, *, log_scale: bool = False) -> None:
    """``sns.histplot(x=values, bins=bins, log_scale=log_scale, ax=ax)``, the same bars, counted by numpy.

    seaborn counts a long-form frame of every value (0.2-0.5 s for 840k customers); given the
    counts as the weights of the bins' centres, and the bins' range, it draws the same bars and axes.
    """
    values = np.asarray(values, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):  # seaborn leaves out what has no logarithm too
        space = np.log10(values) if log_scale else values
    space = space[np.isfinite(space)]
    if not space.size:  # nothing to count: as seaborn draws it
        sns.histplot(x=values, bins=bins, log_scale=log_scale, ax=ax)
        return
    counts, edges = np.histogram(space, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    sns.histplot(x=10**centres if log_scale else centres, weights=counts, bins=bins, binrange=(edges[0], edges[-1]),
                 log_scale=log_scale, ax=ax)


def rfm_distributions(customers: pd.DataFrame, language: str) -> plt.Figure:
    """Recency, frequency and monetary value: three histograms, frequency and spend on log scales."""
    use_theme()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    histogram(axes[0], customers["days_since_last"], bins=40)
    axes[0].set_xlabel(text("days_since_last", language))
    histogram(axes[1], customers["frequency"] + 1, bins=30, log_scale=True)
    axes[1].set_xlabel(text("purchases", language))
    histogram(axes[2], customers["revenue"].clip(lower=1), bins=40, log_scale=True)
    axes[2].set_xlabel(text("revenue", language))
    for ax in axes:
        ax.set_ylabel(text("customers", language))
    fig.suptitle(text("chart_rfm", language))
    fig.tight_layout()
    return fig


def segment_chart(segments: pd.DataFrame, language: str) -> plt.Figure:
    """Share of customers and of revenue per RFM segment (:func:`analysis.methods.rfm.segment_summary`),
    each named in ``language`` (its ``label``, rendered here unless already shown in words)."""
    use_theme()
    names = segments["label"].map(lambda name: render(name, language))
    shown = segments.assign(segment=names, customer_share=segments["share"])
    long = shown.melt(id_vars="segment", value_vars=["customer_share", "revenue_share"], var_name="what")
    long["what"] = long["what"].map(lambda k: text(k, language))
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(segments) + 1.5))
    sns.barplot(data=long, y="segment", x="value", hue="what", ax=ax)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel(text("share", language))
    ax.set_ylabel("")
    ax.legend(title="")
    ax.set_title(text("chart_segments", language))
    return fig


def frequency_recency_heatmap(grid: pd.DataFrame, title: str, language: str, *, fmt: str = ".2f") -> plt.Figure:
    """A frequency × recency matrix (rows frequency, columns recency) as lifetimes' standard heatmap."""
    use_theme()
    fig, ax = plt.subplots(figsize=(8, 5))
    sns.heatmap(grid.iloc[::-1], cmap="Blues", ax=ax, cbar_kws={"shrink": 0.8})
    ax.set_xlabel(text("recency_axis", language))
    ax.set_ylabel(text("frequency_axis", language))
    ax.set_title(title)
    return fig


def holdout_chart(table: pd.DataFrame, language: str) -> plt.Figure:
    """Mean holdout purchases, actual vs predicted, by calibration purchases (Fader et al. 2005, fig. 3)."""
    use_theme()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = table["calibration_purchases"].astype(str)
    ax.plot(x, table["actual_mean"], marker="o", label=text("actual", language), color=PALETTE[0])
    ax.plot(x, table["predicted_mean"], marker="s", linestyle="--", label=text("predicted", language), color=PALETTE[3])
    ax.set_xlabel(text("calibration_purchases", language))
    ax.set_ylabel(text("holdout_purchases", language))
    ax.legend()
    ax.set_title(text("chart_holdout", language))
    return fig


def model_comparison_chart(comparison: pd.DataFrame, language: str) -> plt.Figure:
    """Both purchase models on the holdout: one panel per grouping, one line per model.

    ``comparison`` is purchase_model_holdout.parquet in ``language`` (model and grouping as labels,
    :func:`analysis.report.localize.localize`). The first grouping (by calibration purchases, FHL
    2005 Figure 4) shares its buckets between the models: the actual means as one solid line, each
    model's predictions dashed. The second (by decile of each model's prediction) is a calibration
    plot: mean actual against mean predicted per decile, on the diagonal when the model is right
    (symmetric-log axes, as the deciles span several orders of magnitude).
    """
    use_theme()
    groupings = list(dict.fromkeys(comparison["grouping"]))
    models = list(dict.fromkeys(comparison["model"]))
    colors = dict(zip(models, [PALETTE[3], PALETTE[1], PALETTE[4]]))
    fig, axes = plt.subplots(1, max(len(groupings), 1), figsize=(11, 4), squeeze=False)
    for ax, grouping in zip(axes[0], groupings):
        part = comparison[comparison["grouping"] == grouping]
        if grouping == groupings[0]:
            first = part[part["model"] == models[0]]
            ax.plot(first["bucket"].astype(str), first["actual_mean"], marker="o", color=PALETTE[0],
                    label=text("actual", language))
            for model in models:
                rows = part[part["model"] == model]
                ax.plot(rows["bucket"].astype(str), rows["predicted_mean"], marker="s", linestyle="--",
                        color=colors[model], label=f"{text('predicted', language)}: {model}")
            ax.set_xlabel(text("calibration_purchases", language))
            ax.set_ylabel(text("holdout_purchases", language))
        else:
            for model in models:
                rows = part[part["model"] == model]
                ax.plot(rows["predicted_mean"], rows["actual_mean"], marker="s", color=colors[model], label=model)
            top = float(part[["predicted_mean", "actual_mean"]].max().max()) if len(part) else 1.0
            ax.plot([0, top], [0, top], linestyle=":", color="grey", label=text("predicted_equals_actual", language))
            ax.set_xscale("symlog", linthresh=0.1)
            ax.set_yscale("symlog", linthresh=0.1)
            plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")  # math text is off
            ax.xaxis.set_major_formatter(plain)
            ax.yaxis.set_major_formatter(plain)
            ax.set_xlabel(f"{text('predicted', language)} · {text('holdout_purchases', language)}")
            ax.set_ylabel(f"{text('actual', language)} · {text('holdout_purchases', language)}")
        ax.set_title(grouping)
        ax.legend(fontsize=8)
    fig.suptitle(text("chart_model_comparison", language))
    fig.tight_layout()
    return fig


def value_distribution(values: pd.Series, lorenz: pd.DataFrame, language: str) -> plt.Figure:
    """Predicted CLV histogram (log scale) beside its Lorenz curve."""
    use_theme()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    histogram(axes[0], values[values > 0], bins=40, log_scale=True)
    axes[0].set_xlabel(text("clv_axis", language))
    axes[0].set_ylabel(text("customers", language))
    axes[0].set_title(text("chart_clv", language))
    x_col, y_col = lorenz.columns[:2]
    axes[1].plot(1 - lorenz[x_col][::-1].to_numpy(), 1 - lorenz[y_col][::-1].to_numpy(), color=PALETTE[0])
    axes[1].plot([0, 1], [0, 1], linestyle=":", color="grey", label=text("equality", language))
    axes[1].set_xlabel(text("cum_customers", language))
    axes[1].set_ylabel(text("cum_value", language))
    axes[1].legend(loc="lower right")
    axes[1].set_title(text("chart_lorenz", language))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Tiers (stage 3)


def tier_shares(profile: pd.DataFrame, language: str) -> plt.Figure:
    """Per tier: share of customers beside share of revenue and of predicted CLV."""
    use_theme()
    cols = ["customer_share", "revenue_share", "clv_share"]
    long = profile.melt(id_vars="tier_name", value_vars=cols, var_name="what")
    long["what"] = long["what"].map(lambda k: text(k, language))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.barplot(data=long, x="tier_name", y="value", hue="what", ax=ax, palette=PALETTE[:3])
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("")
    ax.set_ylabel(text("share", language))
    ax.legend(title="")
    ax.set_title(text("chart_tiers", language))
    return fig


def migration_heatmap(counts: pd.DataFrame, tier_labels: dict[str, str], language: str) -> plt.Figure:
    """Customers moving from last quarter's tier (rows, then new) to this quarter's (columns, then lost)."""
    use_theme()
    shown = counts.copy()
    special = {"new": text("new", language), "lost": text("lost", language)}
    shown.index = [special.get(str(i), tier_labels.get(str(i), str(i))) for i in shown.index]
    shown.columns = [special.get(str(c), tier_labels.get(str(c), str(c))) for c in shown.columns]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    sns.heatmap(shown.astype(float), annot=True, fmt=".0f", cmap="Blues", cbar=False, ax=ax)
    ax.set_xlabel(text("current_tier", language))
    ax.set_ylabel(text("previous_tier", language))
    ax.set_title(text("chart_migration", language))
    return fig


def agreement_heatmap(table: pd.DataFrame, language: str) -> plt.Figure:
    use_theme()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    sns.heatmap(table.astype(float), annot=True, fmt=".0%", cmap="Blues", vmin=0, vmax=1, cbar=False, ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(text("chart_sensitivity", language))
    return fig


def mix_chart(mix: pd.DataFrame, title: str, tier_labels: dict[str, str] | None = None) -> plt.Figure:
    """Stacked shares: rows tiers (shown by name), columns categories."""
    use_theme()
    shown = mix.rename(index=lambda t: (tier_labels or {}).get(str(t), str(t)))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(shown) + 1.6))
    shown.plot(kind="barh", stacked=True, ax=ax, colormap="tab20", width=0.7)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.invert_yaxis()
    ax.set_ylabel("")
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------------------------
# Satisfaction, loyalty, churn (stage 4)


def interval_chart(table: pd.DataFrame, value: str, low: str, high: str, title: str, ylabel: str) -> plt.Figure:
    """A point per tier with its confidence interval (rows with ``too_few`` drawn hollow)."""
    use_theme()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = table["tier_name"].astype(str).tolist()
    for i, row in enumerate(table.itertuples(index=False)):
        few = bool(getattr(row, "too_few", False))
        v, lo, hi = getattr(row, value), getattr(row, low), getattr(row, high)
        ax.errorbar(i, v, yerr=[[v - lo], [hi - v]], fmt="o", capsize=5, color=PALETTE[0],
                    markerfacecolor="white" if few else PALETTE[0], markersize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def ipa_chart(ipa: pd.DataFrame, labels: dict[str, str], language: str) -> plt.Figure:
    """Importance (x) against performance (y), split at the means into four plain-language quadrants.

    ``ipa`` is the importance–performance table localized (its ``quadrant`` in words, see
    :func:`analysis.report.localize.localize`); ``labels`` names the attributes.
    """
    use_theme()
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(ipa["importance"], ipa["performance"], s=70, color=PALETTE[0])
    for row in ipa.itertuples(index=False):
        ax.annotate(f"{labels.get(row.attribute, row.attribute)}\n({row.quadrant})", (row.importance, row.performance),
                    xytext=(6, 4), textcoords="offset points", fontsize=9)
    ax.axvline(ipa["importance"].mean(), color="grey", linestyle=":")
    ax.axhline(ipa["performance"].mean(), color="grey", linestyle=":")
    ax.set_xlabel(text("importance", language))
    ax.set_ylabel(text("performance", language))
    ax.set_title(text("chart_ipa", language))
    ax.margins(0.25)
    return fig


def cohort_heatmap(cohorts: pd.DataFrame, language: str) -> plt.Figure:
    """Retention share per first-purchase cohort (rows) and periods since (columns)."""
    use_theme()
    cols = list(cohorts.columns)
    cohort_col, period_col, share_col = cols[0], cols[1], [c for c in cols if "retention" in c or "share" in c][0]
    matrix = cohorts.pivot(index=cohort_col, columns=period_col, values=share_col)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.heatmap(matrix, annot=True, fmt=".0%", cmap="Blues", cbar=False, ax=ax, annot_kws={"fontsize": 7})
    ax.set_xlabel(text("periods_since", language))
    ax.set_ylabel(text("cohort", language))
    ax.set_title(text("chart_cohorts", language))
    return fig


def calibration_chart(calibration: pd.DataFrame, language: str) -> plt.Figure:
    use_theme()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.plot(calibration["mean_predicted"], calibration["observed_rate"], marker="o", color=PALETTE[0])
    ax.set_xlabel(text("predicted_rate", language))
    ax.set_ylabel(text("observed_rate", language))
    ax.set_title(text("chart_churn_calibration", language))
    return fig


# ---------------------------------------------------------------------------------------------
# Allocation (stage 5)


def allocation_chart(table: pd.DataFrame, language: str) -> plt.Figure:
    """Budget per tier under the optimum, an equal split and a revenue-proportional split."""
    use_theme()
    cols = {"budget": "optimal", "budget_equal": "equal_split", "budget_revenue": "revenue_split"}
    present = {c: k for c, k in cols.items() if c in table.columns}
    long = table.melt(id_vars="tier_name", value_vars=list(present), var_name="what")
    long["what"] = long["what"].map(lambda c: text(present[c], language))
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.barplot(data=long, x="tier_name", y="value", hue="what", ax=ax, palette=[PALETTE[0], PALETTE[2], PALETTE[3]])
    ax.set_xlabel("")
    ax.set_ylabel(text("budget", language))
    ax.legend(title="")
    ax.set_title(text("chart_allocation", language))
    return fig


# ---------------------------------------------------------------------------------------------
# Trends (the study history)


def trends_chart(quarters: pd.DataFrame, panels: list[tuple[str, str, bool]], title: str) -> plt.Figure:
    """Small multiples: one panel per figure, one line per tier, x the quarter.

    ``quarters`` has a ``quarter`` label column (in order), ``tier_name`` and the figures; ``panels``
    lists (column, panel title, shown as a percentage) in the order drawn.
    """
    use_theme()
    columns = 4 if len(panels) > 4 else len(panels)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.1 * columns, 2.7 * rows + 0.8), squeeze=False)
    order = list(dict.fromkeys(quarters["quarter"]))
    positions = {q: i for i, q in enumerate(order)}
    tiers = list(dict.fromkeys(quarters.sort_values("tier", kind="mergesort")["tier_name"]))
    colors = {name: TIER_COLORS[i % len(TIER_COLORS)] for i, name in enumerate(tiers)}
    for ax, (column, panel_title, percent) in zip(axes.flat, panels):
        for name in tiers:
            rows_of_tier = quarters[quarters["tier_name"] == name]
            ax.plot([positions[q] for q in rows_of_tier["quarter"]], rows_of_tier[column].astype(float),
                    marker="o", markersize=4, linewidth=1.6, color=colors[name], label=name)
        ax.set_xticks(range(len(order)), order, fontsize=8, rotation=30 if len(order) > 4 else 0)
        ax.set_xlim(-0.3, len(order) - 0.7)
        ax.tick_params(axis="y", labelsize=8)
        if percent:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        else:
            ax.yaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
        ax.set_title(panel_title, fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# Account managers (stage 6)


def managers_chart(card: pd.DataFrame, language: str) -> plt.Figure:
    """Retention per manager against the book: raw (observed − the book's mean, grey) and adjusted for the
    portfolio mix with its interval (blue), managers ordered by the adjusted figure; ``who`` labels them."""
    use_theme()
    rows = card.dropna(subset=["retention_adjusted"]).sort_values("retention_adjusted").reset_index(drop=True)
    book = float((card["retention"] * card["customers"]).sum() / card["customers"].sum())
    fig, ax = plt.subplots(figsize=(7, max(3.5, 0.22 * len(rows) + 1)))
    y = range(len(rows))
    ax.scatter(rows["retention"] - book, y, color=PALETTE[5], marker="x", label=text("chart_managers_raw", language))
    ax.errorbar(rows["retention_adjusted"], y,
                xerr=[rows["retention_adjusted"] - rows["retention_low"], rows["retention_high"] - rows["retention_adjusted"]],
                fmt="o", capsize=3, color=PALETTE[0], label=text("chart_managers_adjusted", language))
    ax.axvline(0, color=PALETTE[5], linewidth=0.8)
    ax.set_yticks(list(y), rows["who"].astype(str).tolist(), fontsize=7)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel(text("chart_managers_axis", language))
    ax.set_title(text("chart_managers_title", language))
    ax.legend(loc="lower right", fontsize=8)
    return fig
