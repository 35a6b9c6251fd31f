"""Every label and sentence the report shows, in Chinese (zh) and English (en).

``text(key, language, **values)`` formats one entry; a missing key is a bug and raises KeyError.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # report frame
    "report_title": {"zh": "客户分层管理研究报告", "en": "Customer tiering study"},
    "period": {"zh": "研究期间：{start} 至 {end}", "en": "Study period: {start} to {end}"},
    "generated": {"zh": "生成于 {when} · 运行 {run}", "en": "Generated {when} · run {run}"},
    "toc": {"zh": "目录", "en": "Contents"},
    "no_data": {"zh": "本次运行没有该部分所需的数据：{why}", "en": "This run has no data for this part: {why}"},
    # data quality
    "quality_title": {"zh": "数据质量", "en": "Data quality"},
    "quality_intro": {
        "zh": "每一行输入数据要么被保留，要么连同原因被隔离；下表的数字相加等于输入行数。",
        "en": "Every input row is either kept or set aside with its reason; the figures below add up to the rows read.",
    },
    "quality_sentence": {
        "zh": "{input}：读入 {rows_in:,} 行，保留 {rows_kept:,} 行（{kept_share:.1%}），隔离 {rows_quarantined:,} 行。",
        "en": "{input}: {rows_in:,} rows read, {rows_kept:,} kept ({kept_share:.1%}), {rows_quarantined:,} set aside.",
    },
    "col_input": {"zh": "数据", "en": "Input"},
    "col_rows_in": {"zh": "读入行数", "en": "Rows read"},
    "col_rows_kept": {"zh": "保留", "en": "Kept"},
    "col_rows_quarantined": {"zh": "隔离", "en": "Set aside"},
    "col_reason": {"zh": "原因", "en": "Reason"},
    "col_rows": {"zh": "行数", "en": "Rows"},
    "chart_quality": {"zh": "各数据源被隔离的行数（按原因）", "en": "Rows set aside per input, by reason"},
    # inputs
    "input_transactions": {"zh": "交易明细", "en": "Transactions"},
    "input_customers": {"zh": "客户信息", "en": "Customer master"},
    "input_surveys": {"zh": "满意度调查", "en": "Surveys"},
    "input_complaints": {"zh": "投诉记录", "en": "Complaints"},
    # quarantine reasons
    "reason_kept": {"zh": "保留", "en": "kept"},
    "reason_duplicate": {"zh": "完全重复的行", "en": "exact duplicate"},
    "reason_duplicate_customer_id": {"zh": "客户编号重复", "en": "duplicate customer id"},
    "reason_missing_customer_id": {"zh": "缺少客户编号", "en": "missing customer id"},
    "reason_invalid_date": {"zh": "日期无法识别", "en": "unreadable date"},
    "reason_invalid_amount": {"zh": "金额无法识别", "en": "unreadable amount"},
    "reason_before_period_start": {"zh": "早于研究期间", "en": "before the study period"},
    "reason_after_period_end": {"zh": "晚于研究期间（含未来日期）", "en": "after the study period (incl. future dates)"},
    "reason_outlier": {"zh": "极端异常值", "en": "extreme outlier"},
    "reason_rating_out_of_range": {"zh": "评分超出量表范围", "en": "rating outside the scale"},
    "reason_missing_rating": {"zh": "缺少总体满意度", "en": "missing overall satisfaction"},
    "reason_closed_before_opened": {"zh": "解决日期早于投诉日期", "en": "closed before opened"},
}


def text(key: str, language: str, **values: object) -> str:
    template = TEXTS[key][language]
    return template.format(**values) if values else template


def reason_label(reason: str, language: str) -> str:
    entry = TEXTS.get(f"reason_{reason}")
    return entry[language] if entry else reason
