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
    "reason_malformed_row": {"zh": "字段数与表头不符的行", "en": "row with more or fewer fields than the header"},
    "reason_undecodable_row": {"zh": "含无法解码字节的行", "en": "row with bytes that cannot be decoded"},
    "reason_ambiguous_customer_id": {"zh": "客户编号被Excel改写且无法唯一还原", "en": "customer id mangled by Excel, not repairable"},
    "reason_total_row": {"zh": "合计/小计行", "en": "total or subtotal row"},
}


def text(key: str, language: str, **values: object) -> str:
    template = TEXTS[key][language]
    return template.format(**values) if values else template


def reason_label(reason: str, language: str) -> str:
    entry = TEXTS.get(f"reason_{reason}")
    return entry[language] if entry else reason

TEXTS.update({
    # scoring charts
    "chart_rfm": {"zh": "RFM 分布", "en": "RFM distributions"},
    "days_since_last": {"zh": "距上次购买天数", "en": "Days since last purchase"},
    "purchases": {"zh": "购买次数", "en": "Purchases"},
    "revenue": {"zh": "收入", "en": "Revenue"},
    "customers": {"zh": "客户数", "en": "Customers"},
    "share": {"zh": "占比", "en": "Share"},
    "customer_share": {"zh": "客户占比", "en": "Share of customers"},
    "revenue_share": {"zh": "收入占比", "en": "Share of revenue"},
    "clv_share": {"zh": "预测CLV占比", "en": "Share of predicted CLV"},
    "chart_segments": {"zh": "RFM 客户分群：人数与收入占比", "en": "RFM segments: share of customers and of revenue"},
    "chart_p_alive": {"zh": "存活概率 P(alive)：按购买次数与最近购买时间", "en": "P(alive) by frequency and recency"},
    "chart_expected": {"zh": "未来{months}个月预期购买次数：按购买次数与最近购买时间",
                       "en": "Expected purchases in the next {months} months by frequency and recency"},
    "frequency_axis": {"zh": "复购次数（frequency）", "en": "Repeat purchases (frequency)"},
    "recency_axis": {"zh": "最后一次购买时的客户年龄（recency）", "en": "Customer age at last purchase (recency)"},
    "chart_holdout": {"zh": "留出期检验：预测与实际购买次数", "en": "Holdout check: predicted vs actual purchases"},
    "calibration_purchases": {"zh": "校准期复购次数", "en": "Repeat purchases in calibration"},
    "holdout_purchases": {"zh": "留出期平均购买次数", "en": "Mean purchases in the holdout"},
    "actual": {"zh": "实际", "en": "Actual"},
    "predicted": {"zh": "预测", "en": "Predicted"},
    "chart_clv": {"zh": "预测CLV分布", "en": "Distribution of predicted CLV"},
    "chart_lorenz": {"zh": "价值集中度（洛伦兹曲线）", "en": "Concentration of value (Lorenz curve)"},
    "clv_axis": {"zh": "预测CLV（对数刻度）", "en": "Predicted CLV (log scale)"},
    "cum_customers": {"zh": "客户累计占比（按价值从高到低）", "en": "Cumulative share of customers (highest value first)"},
    "cum_value": {"zh": "价值累计占比", "en": "Cumulative share of value"},
    "equality": {"zh": "完全平均", "en": "Perfect equality"},
    # tiers
    "chart_tiers": {"zh": "各层级的客户、收入与CLV占比", "en": "Share of customers, revenue and CLV by tier"},
    "chart_migration": {"zh": "层级迁移（上季度 → 本季度，客户数）", "en": "Tier migration (last quarter → this quarter, customers)"},
    "previous_tier": {"zh": "上季度层级", "en": "Last quarter's tier"},
    "current_tier": {"zh": "本季度层级", "en": "This quarter's tier"},
    "new": {"zh": "新客户", "en": "New"},
    "lost": {"zh": "流失", "en": "Lost"},
    "chart_sensitivity": {"zh": "分层方法之间的一致率", "en": "Agreement between tiering methods"},
    "chart_mix": {"zh": "各层级的{what}构成（收入占比）", "en": "{what} mix of each tier (share of revenue)"},
    # satisfaction and loyalty
    "chart_nps": {"zh": "各层级净推荐值（NPS）及95%置信区间", "en": "NPS by tier with 95% confidence interval"},
    "chart_csat": {"zh": "各层级满意度（均值及置信区间）", "en": "Satisfaction by tier (mean and confidence interval)"},
    "chart_ipa": {"zh": "重要性—表现矩阵", "en": "Importance–performance map"},
    "importance": {"zh": "重要性（占R²的%）", "en": "Importance (% of R²)"},
    "performance": {"zh": "表现（平均评分）", "en": "Performance (mean rating)"},
    "chart_drivers": {"zh": "满意度的驱动因素（相对重要性）", "en": "Drivers of satisfaction (relative importance)"},
    "chart_cohorts": {"zh": "按首购季度的客户留存率", "en": "Retention by first-purchase quarter"},
    "cohort": {"zh": "首购季度", "en": "First-purchase quarter"},
    "periods_since": {"zh": "首购后第几个季度", "en": "Quarters since first purchase"},
    "chart_lifecycle": {"zh": "各层级的生命周期阶段构成", "en": "Lifecycle stages within each tier"},
    "chart_churn_calibration": {"zh": "流失模型校准：预测与实际流失率（验证期）",
                                "en": "Churn model calibration: predicted vs observed (validation window)"},
    "predicted_rate": {"zh": "预测流失概率（十分位均值）", "en": "Predicted churn probability (decile mean)"},
    "observed_rate": {"zh": "实际流失率", "en": "Observed churn rate"},
    "chart_loyalty": {"zh": "各层级忠诚度指数分布", "en": "Loyalty index by tier"},
    "loyalty_index": {"zh": "忠诚度指数（0–100）", "en": "Loyalty index (0–100)"},
    # allocation
    "chart_allocation": {"zh": "预算分配：优化方案与两种简单分法", "en": "Budget split: optimised vs two simple splits"},
    "optimal": {"zh": "优化方案", "en": "Optimised"},
    "equal_split": {"zh": "平均分配", "en": "Equal split"},
    "revenue_split": {"zh": "按收入比例", "en": "Revenue-proportional"},
    "budget": {"zh": "预算", "en": "Budget"},
    "tier": {"zh": "层级", "en": "Tier"},
})

TEXTS.update({
    # section titles
    "sec_summary": {"zh": "执行摘要", "en": "Executive summary"},
    "sec_tiers": {"zh": "客户分层概览", "en": "Tier overview"},
    "sec_profiles": {"zh": "各层级画像", "en": "Tier profiles"},
    "sec_scoring": {"zh": "客户价值评分", "en": "Customer value scoring"},
    "sec_satisfaction": {"zh": "满意度与忠诚度", "en": "Satisfaction and loyalty"},
    "sec_watch": {"zh": "高价值客户流失预警", "en": "Watch list: valuable customers at risk"},
    "sec_recommendations": {"zh": "各层级资源配置建议", "en": "Recommendations per tier"},
    "sec_migration": {"zh": "层级迁移（与上季度相比）", "en": "Migration since last quarter"},
    "sec_method": {"zh": "附录：方法说明", "en": "Appendix: methodology"},
    # executive summary
    "fig_customers": {"zh": "客户数", "en": "Customers"},
    "fig_top_tier_value": {"zh": "{tier}的预测价值占比", "en": "Share of predicted value held by {tier}"},
    "fig_top_tier_size": {"zh": "{tier}的客户占比", "en": "Share of customers in {tier}"},
    "fig_nps": {"zh": "整体NPS", "en": "Overall NPS"},
    "fig_at_risk": {"zh": "高价值风险客户", "en": "Valuable customers at risk"},
    "fig_gain": {"zh": "优化配置较平均分配多保留的价值", "en": "Extra value retained vs an equal split"},
    "sum_top": {
        "zh": "{tier}共{n:,}位客户（占{size:.0%}），贡献了{rev:.0%}的收入和{clv:.0%}的预测客户终身价值。",
        "en": "{tier}: {n:,} customers ({size:.0%}) bring {rev:.0%} of revenue and {clv:.0%} of predicted lifetime value.",
    },
    "sum_migration": {
        "zh": "与上季度相比：{up:,}位客户升级，{down:,}位降级，{new:,}位新客户，{lost:,}位客户流失。",
        "en": "Since last quarter {up:,} customers moved up a tier, {down:,} moved down, {new:,} are new and {lost:,} were lost.",
    },
    "sum_nps": {"zh": "各层级NPS：{items}。", "en": "NPS by tier: {items}."},
    "sum_watch": {
        "zh": "{n}位高价值客户流失风险高，涉及预测价值{value}；最常见的原因是“{reason}”。",
        "en": "{n} valuable customers are at high risk of leaving, holding {value} of predicted value; the most common reason is “{reason}”.",
    },
    "sum_allocation": {
        "zh": "建议预算分配：{items}。与平均分配相比预计多保留价值{gain}。",
        "en": "Recommended budget: {items}. It is expected to retain {gain} more value than an equal split.",
    },
    "sum_drivers": {
        "zh": "对总体满意度影响最大的因素是“{first}”，其次是“{second}”。",
        "en": "What moves overall satisfaction most is “{first}”, then “{second}”.",
    },
    # tiers
    "tiers_method": {"zh": "分层方法：{rule}", "en": "Tiering method: {rule}"},
    "tiers_differ": {
        "zh": "各层级的预测价值差异显著（Kruskal–Wallis检验 p = {p}）。",
        "en": "The tiers differ in predicted value (Kruskal–Wallis test, p = {p}).",
    },
    "col_tier": {"zh": "层级", "en": "Tier"},
    "col_customers": {"zh": "客户数", "en": "Customers"},
    "col_customer_share": {"zh": "客户占比", "en": "Customers %"},
    "col_revenue_share": {"zh": "收入占比", "en": "Revenue %"},
    "col_clv_share": {"zh": "预测价值占比", "en": "Predicted value %"},
    "col_margin_share": {"zh": "毛利占比", "en": "Margin %"},
    "col_p_alive": {"zh": "平均存活概率", "en": "Mean P(alive)"},
    "col_days_since_last": {"zh": "平均距上次购买天数", "en": "Mean days since last purchase"},
    "col_frequency": {"zh": "平均复购次数", "en": "Mean repeat purchases"},
    "profile_mix": {"zh": "各层级按{what}的客户构成", "en": "Customers of each tier by {what}"},
    "what_industry": {"zh": "行业", "en": "industry"},
    "what_region": {"zh": "地区", "en": "region"},
    "what_segment": {"zh": "客户类型", "en": "segment"},
    "what_product_category": {"zh": "产品类别", "en": "product category"},
    "what_channel": {"zh": "销售渠道", "en": "channel"},
    "sensitivity_note": {
        "zh": "不同分层方法之间的一致率（同一客户被分入相同层级的比例）。一致率低说明方法的选择会改变客户获得的服务。",
        "en": "Agreement between tiering methods (share of customers placed in the same tier). Low agreement means the choice of method changes who gets which service.",
    },
    # scoring
    "scoring_models": {
        "zh": "购买行为用BG/NBD模型、客单价用Gamma-Gamma模型估计；留出期检验中预测购买总数与实际相差{err:+.1%}。",
        "en": "Purchasing is modelled with BG/NBD and spend with Gamma-Gamma; in the holdout check the predicted total of purchases differs from the actual by {err:+.1%}.",
    },
    "scoring_fallback": {
        "zh": "数据不足以支持CLV模型，客户价值采用历史价值。原因：{reasons}",
        "en": "The data cannot support the CLV models, so customer value is historic value. Reasons: {reasons}",
    },
    # satisfaction
    "few_answers": {
        "zh": "注：标注“样本少”的层级回答数不足{n}份，其数字仅供参考。",
        "en": "Note: tiers marked “few answers” have fewer than {n} responses; treat their figures as indicative.",
    },
    "too_few": {"zh": "样本少", "en": "few answers"},
    "col_nps": {"zh": "NPS", "en": "NPS"},
    "col_nps_ci": {"zh": "95%置信区间", "en": "95% interval"},
    "col_respondents": {"zh": "回答数", "en": "Responses"},
    "col_response_rate": {"zh": "回答率", "en": "Response rate"},
    "col_csat": {"zh": "平均满意度", "en": "Mean satisfaction"},
    "col_top_box": {"zh": "高分（top-2）占比", "en": "Top-2-box share"},
    "col_attribute": {"zh": "因素", "en": "Attribute"},
    "col_importance": {"zh": "重要性（%）", "en": "Importance (%)"},
    "col_performance": {"zh": "平均评分", "en": "Mean rating"},
    "col_quadrant": {"zh": "建议", "en": "Action"},
    "col_complaints_per_100": {"zh": "每百名客户投诉数", "en": "Complaints per 100 customers"},
    "col_open_complaints": {"zh": "未结投诉", "en": "Open complaints"},
    "col_resolution_days": {"zh": "解决天数中位数", "en": "Median days to resolve"},
    "col_repurchase": {"zh": "复购率", "en": "Repurchase rate"},
    "col_loyalty": {"zh": "忠诚度指数（均值）", "en": "Loyalty index (mean)"},
    "churn_model": {
        "zh": "流失模型在验证期的AUC为{auc:.2f}（仅按距上次购买天数排序为{base:.2f}），风险最高的10%客户的流失率是平均水平的{lift:.1f}倍。",
        "en": "The churn model's validation AUC is {auc:.2f} (ranking by days since last purchase alone: {base:.2f}); the riskiest 10 % churn at {lift:.1f}× the average rate.",
    },
    # watch list
    "watch_intro": {
        "zh": "以下客户属于高价值层级且流失风险高，按“风险价值”（预测价值×流失风险）排序。为保护隐私，客户编号已部分隐藏，不显示姓名和电话。",
        "en": "These customers are in the valuable tiers and at high risk of leaving, sorted by value at risk (predicted value × risk). Ids are partly masked; names and phones are not shown.",
    },
    "col_customer": {"zh": "客户", "en": "Customer"},
    "col_value_at_risk": {"zh": "风险价值", "en": "Value at risk"},
    "col_risk": {"zh": "流失风险", "en": "Churn risk"},
    "col_reasons": {"zh": "原因", "en": "Reasons"},
    "col_clv": {"zh": "预测价值", "en": "Predicted value"},
    "watch_none": {"zh": "本季度没有高价值客户处于高流失风险。", "en": "No valuable customer is at high risk this quarter."},
    # recommendations
    "col_service_model": {"zh": "服务模式", "en": "Service model"},
    "col_manager_level": {"zh": "客户经理级别", "en": "Account manager"},
    "col_cadence": {"zh": "联系频率", "en": "Contact cadence"},
    "col_channels": {"zh": "渠道", "en": "Channels"},
    "col_offers": {"zh": "权益", "en": "Offers"},
    "col_budget": {"zh": "建议预算", "en": "Budget"},
    "col_budget_share": {"zh": "预算占比", "en": "Budget %"},
    "col_budget_per_customer": {"zh": "人均预算", "en": "Budget per customer"},
    "col_marginal": {"zh": "每增加1元预算的边际价值", "en": "Value of one more unit of budget"},
    "col_hours_needed": {"zh": "所需工时/月", "en": "Hours needed / month"},
    "col_hours_allocated": {"zh": "分配工时/月", "en": "Hours allocated / month"},
    "rec_reason": {
        "zh": "{tier}：{n:,}位客户，预测价值占比{clv:.0%}，平均存活概率{alive:.0%}。建议{service}，由{level}负责，{cadence}；预算{budget}（人均{per}）。",
        "en": "{tier}: {n:,} customers, {clv:.0%} of predicted value, mean P(alive) {alive:.0%}. Recommended: {service}, {level}, {cadence}; budget {budget} ({per} per customer).",
    },
    "rec_curve": {
        "zh": "响应曲线假设：某层级的保留价值 = 该层级CLV × 提升率上限 ×（1 − e^(−投入/(k×客户数))）；提升率上限 = {base:.0%} + {risk:.0%} ×（1 − 平均存活概率），k = 人均CLV的{k:.0%}。这些是假设而非估计，可在参数 allocation.response 中修改。",
        "en": "Response curve assumption: retained value of a tier = tier CLV × maximum uplift × (1 − e^(−spend/(k × customers))); maximum uplift = {base:.0%} + {risk:.0%} × (1 − mean P(alive)), k = {k:.0%} of CLV per customer. These are assumptions, not estimates; change them under allocation.response.",
    },
    "rec_compare": {
        "zh": "预计保留价值：优化方案 {opt}，平均分配 {eq}，按收入比例分配 {rev}。",
        "en": "Expected retained value: optimised {opt}, equal split {eq}, revenue-proportional split {rev}.",
    },
    # migration
    "migration_missing": {
        "zh": "参数指定的上一期运行“{run}”没有可比较的结果（先运行它，或检查 tiering.previous_run）。",
        "en": "The previous run “{run}” named in params has no results to compare with (run it first, or check tiering.previous_run).",
    },
    "migration_none": {
        "zh": "参数中没有指定上一期运行（tiering.previous_run），因此无法比较层级迁移。",
        "en": "No previous run is named (tiering.previous_run), so there is no migration to show.",
    },
})

TEXTS.update({
    # analyses skipped or adapted because the data are too thin (stage outputs → "skipped")
    "skipped_title": {"zh": "因数据不足而省略或调整的分析", "en": "Analyses left out or adapted because the data are thin"},
    "skip_bgnbd_no_repeat": {
        "zh": "研究期内没有客户复购（每位客户只有一个购买周期），BG/NBD模型无法估计，因此没有存活概率P(alive)和预期购买次数，客户价值采用历史价值。要使用模型，请延长研究期间（period.start）。",
        "en": "No customer bought again within the period (each has a single purchase period), so the BG/NBD model cannot be estimated: there is no P(alive) or expected purchases, and customer value is historic value. Widen the period (period.start) to use the model.",
    },
    "skip_bgnbd_failed": {
        "zh": "BG/NBD模型无法用本期数据估计（{detail}），因此没有存活概率P(alive)和预期购买次数，客户价值采用历史价值。",
        "en": "The BG/NBD model cannot be estimated on this period's data ({detail}), so there is no P(alive) or expected purchases, and customer value is historic value.",
    },
    "skip_gamma_gamma_few": {
        "zh": "研究期内复购客户{n}位，少于 scoring.min_repeat_buyers = {limit}，未拟合Gamma-Gamma客单价模型，客户价值采用历史价值。",
        "en": "The period has {n} repeat buyer(s), fewer than scoring.min_repeat_buyers = {limit}, so the Gamma-Gamma spend model is not fitted and customer value is historic value.",
    },
    "skip_gamma_gamma_failed": {
        "zh": "Gamma-Gamma客单价模型无法用本期数据估计（{detail}），客户价值采用历史价值。",
        "en": "The Gamma-Gamma spend model cannot be estimated on this period's data ({detail}); customer value is historic value.",
    },
    "skip_holdout_too_short": {
        "zh": "研究期间（{start}至{end}）不长于留出期（最后{months}个月，scoring.holdout_months），没有校准期，因此未做留出期检验。请延长研究期间或调小 scoring.holdout_months。",
        "en": "The period ({start} to {end}) is no longer than the holdout (its last {months} months, scoring.holdout_months), leaving no calibration window, so the holdout check is not run. Widen the period or lower scoring.holdout_months.",
    },
    "skip_holdout_empty": {
        "zh": "校准期（{start}至{calibration_end}）内没有客户购买，因此未做留出期检验。请延长研究期间或调小 scoring.holdout_months。",
        "en": "No customer bought in the calibration window ({start} to {calibration_end}), so the holdout check is not run. Widen the period or lower scoring.holdout_months.",
    },
    "skip_holdout_few_repeat": {
        "zh": "校准期（截至{calibration_end}）复购客户{n}位，少于 scoring.min_repeat_buyers = {limit}，重新估计的模型不可靠，因此未做留出期检验。请延长研究期间或调小 scoring.holdout_months。",
        "en": "The calibration window (to {calibration_end}) has {n} repeat buyer(s), fewer than scoring.min_repeat_buyers = {limit}: too few to refit the model reliably, so the holdout check is not run. Widen the period or lower scoring.holdout_months.",
    },
    "skip_holdout_failed": {
        "zh": "留出期检验中的模型无法估计（{detail}），因此未做留出期检验。",
        "en": "The holdout check's model cannot be estimated ({detail}), so the check is not run.",
    },
    "fallback_too_few_repeat_buyers": {"zh": "复购客户{value}位，少于{limit}位", "en": "{value} repeat buyers, fewer than {limit}"},
    "fallback_bgnbd_not_converged": {"zh": "BG/NBD模型未收敛", "en": "the BG/NBD fit did not converge"},
    "fallback_bgnbd_unusable": {"zh": "BG/NBD模型无法估计", "en": "the BG/NBD model cannot be estimated"},
    "fallback_gamma_gamma_not_converged": {"zh": "Gamma-Gamma模型未收敛", "en": "the Gamma-Gamma fit did not converge"},
    "fallback_gamma_gamma_unusable": {"zh": "Gamma-Gamma模型无法估计", "en": "the Gamma-Gamma model cannot be estimated"},
    "fallback_spend_frequency_correlated": {
        "zh": "客单价与购买频次相关（r = {value}，上限 {limit}）",
        "en": "spend correlated with frequency (r = {value}, limit {limit})",
    },
    "skip_sensitivity_method": {
        "zh": "分层方法“{method}”无法用于本期客户数据（例如客户数或不同的客户画像少于层级数），未参与方法一致率比较。",
        "en": "The tiering method “{method}” cannot be applied to this period's customers ({detail}), so it is left out of the agreement table.",
    },
    "skip_sensitivity_all": {
        "zh": "可用于本期数据的分层方法不足两种，因此没有方法一致率比较。",
        "en": "Fewer than two tiering methods can be applied to this period's customers, so there is no agreement table.",
    },
    "skip_migration_no_tiers": {
        "zh": "上一期运行“{run}”的客户表没有层级，无法比较层级迁移（先完整运行上一期）。",
        "en": "The previous run “{run}” has no tiers in its customer table, so there is no migration to show (run it in full first).",
    },
    "skip_migration_failed": {
        "zh": "无法与上一期运行“{run}”比较层级迁移（{detail}）。",
        "en": "The tiers cannot be compared with the previous run “{run}” ({detail}).",
    },
    "skip_churn_short_history": {
        "zh": "交易历史太短：流失模型要在研究期末往前两个流失观察期（2 × churn.horizon_days = {days}天，即{cutoff}）之前已有购买记录，而最早的购买在{first}，因此未训练流失模型。请延长研究期间或调小 churn.horizon_days。",
        "en": "The history is too short: the churn model needs purchases before {cutoff}, two churn horizons (2 × churn.horizon_days = {days} days) before the period end, but the first purchase is on {first}, so the model is not trained. Widen the period or lower churn.horizon_days.",
    },
    "skip_churn_one_class": {
        "zh": "流失模型的{window}窗口（截至{cutoff}）有{n}位客户，其中{churned}位流失、{stayed}位未流失；两类各需至少{minimum}位，因此未训练流失模型。请延长研究期间或调整 churn.horizon_days。",
        "en": "The churn model's {window} window (cutoff {cutoff}) has {n} customers, {churned} churned and {stayed} not; at least {minimum} of each are needed, so the model is not trained. Widen the period or change churn.horizon_days.",
    },
    "churn_window_training": {"zh": "训练", "en": "training"},
    "churn_window_validation": {"zh": "验证", "en": "validation"},
    "churn_fallback_p_alive": {
        "zh": "流失风险改用BG/NBD模型的 1 − P(alive)（risk_source = p_alive），预警名单按此风险排列。",
        "en": "Churn risk is 1 − P(alive) from the BG/NBD model instead (risk_source = p_alive), and the watch list ranks by it.",
    },
    "churn_fallback_none": {
        "zh": "BG/NBD模型也不可用，因此本期没有流失风险，预警名单为空。",
        "en": "The BG/NBD model is not available either, so there is no churn risk this quarter and the watch list is empty.",
    },
    "skip_drivers": {"zh": "未做满意度驱动因素分析：{why}", "en": "Drivers of satisfaction not estimated: {why}"},
    "skip_cohorts": {"zh": "没有可计算的首购季度留存：{why}", "en": "No cohort retention can be computed: {why}"},
    "tiers_differ_none": {
        "zh": "各层级的预测价值差异无法检验（{why}）。",
        "en": "Whether the tiers differ in predicted value cannot be tested ({why}).",
    },
    "pareto_none": {"zh": "收入合计不为正，无法计算价值集中度。", "en": "Total revenue is not positive, so value concentration cannot be computed."},
    "scoring_no_holdout": {
        "zh": "购买行为用BG/NBD模型、客单价用Gamma-Gamma模型估计。",
        "en": "Purchasing is modelled with BG/NBD and spend with Gamma-Gamma.",
    },
    "watch_no_risk": {
        "zh": "本期没有可用的流失风险，因此没有预警名单。",
        "en": "No churn risk is available this quarter, so there is no watch list.",
    },
})

TEXTS.update({
    "rec_reason_no_alive": {
        "zh": "{tier}：{n:,}位客户，预测价值占比{clv:.0%}。建议{service}，由{level}负责，{cadence}；预算{budget}（人均{per}）。",
        "en": "{tier}: {n:,} customers, {clv:.0%} of predicted value. Recommended: {service}, {level}, {cadence}; budget {budget} ({per} per customer).",
    },
})

# data used, quality gate, join rates, excluded customers, thin figures
TEXTS.update({
    "data_used": {
        "zh": "本次分析使用了{input}的 {share:.1%}（{kept:,} / {rows_in:,} 行），其余已隔离，原因见数据质量附录。",
        "en": "This analysis used {share:.1%} of the {input} rows ({kept:,} / {rows_in:,}); the rest were set aside, with the reasons in the data-quality appendix.",
    },
    "data_used_all": {
        "zh": "本次分析使用了{input}的全部 {kept:,} 行。",
        "en": "This analysis used all {kept:,} {input} rows.",
    },
    "data_used_none": {"zh": "{input}没有读入任何行。", "en": "No {input} row was read."},
    "warn_title": {"zh": "阅读本报告前请注意：", "en": "Before reading this report:"},
    "gate_set_aside": {
        "zh": "{input}有 {share:.1%} 的行被隔离（{rows:,} 行），超过上限 {limit:.1%}（参数 {param}）。",
        "en": "{share:.1%} of the {input} rows were set aside ({rows:,} rows), above the limit of {limit:.1%} (params key {param}).",
    },
    "gate_reason": {
        "zh": "{input}因“{reason}”被隔离 {rows:,} 行（{share:.1%}），超过单项上限 {limit:.1%}（参数 {param}）。",
        "en": "{rows:,} {input} rows ({share:.1%}) were set aside as “{reason}”, above the limit of {limit:.1%} per reason (params key {param}).",
    },
    "join_low_master": {
        "zh": "{input}中只有 {share:.1%} 的客户能在客户信息中找到（下限 {limit:.1%}，参数 {param}）：层级画像中的行业、地区等信息不完整。",
        "en": "Only {share:.1%} of the {input} customers are found in the customer master (minimum {limit:.1%}, params key {param}): industry, region and other profile figures are incomplete.",
    },
    "join_low_transactions": {
        "zh": "{input}中只有 {share:.1%} 的客户有交易记录（下限 {limit:.1%}，参数 {param}）：其余客户无法归入层级，请核对客户编号的格式。",
        "en": "Only {share:.1%} of the {input} customers have transactions (minimum {limit:.1%}, params key {param}): the others cannot be placed in a tier; check the customer-id format.",
    },
    "excluded_note": {
        "zh": "{n:,} 位客户没有计入分层（{reasons}），名单见 excluded_customers.parquet。",
        "en": "{n:,} customers are not tiered ({reasons}); they are listed in excluded_customers.parquet.",
    },
    "excluded_returns_only": {"zh": "只有退货或全额退货的订单", "en": "returns or fully returned orders only"},
    "excluded_zero_amount_only": {"zh": "只有零金额订单（cleaning.zero_amount_orders: exclude）", "en": "free orders only (cleaning.zero_amount_orders: exclude)"},
    "excluded_without_purchase": {"zh": "所保留的行中没有购买", "en": "no purchase among the kept rows"},
    "excluded_no_purchase": {"zh": "订单冲减后金额不为正", "en": "orders netted to zero or below"},
    "excluded_count": {"zh": "{reason}：{n:,} 位", "en": "{reason}: {n:,}"},
    "quality_join_title": {"zh": "数据源之间的客户匹配", "en": "Customers matched across inputs"},
    "quality_join_master": {
        "zh": "{input}：{customers:,} 位客户中 {found:,} 位（{share:.1%}）在客户信息中。",
        "en": "{input}: {found:,} of {customers:,} customers ({share:.1%}) are in the customer master.",
    },
    "quality_join_transactions": {
        "zh": "{input}：{customers:,} 位客户中 {found:,} 位（{share:.1%}）有交易记录。",
        "en": "{input}: {found:,} of {customers:,} customers ({share:.1%}) have transactions.",
    },
    "quality_not_in_master": {
        "zh": "有交易但不在客户信息中的客户：{n:,} 位。",
        "en": "Customers with transactions but not in the customer master: {n:,}.",
    },
    "quality_excluded_title": {"zh": "未计入分层的客户", "en": "Customers not tiered"},
    "quality_gate_title": {"zh": "数据质量检查未通过的项目", "en": "Data-quality limits exceeded"},
    "col_customers_excluded": {"zh": "客户数", "en": "Customers"},
    "method_purchase_title": {"zh": "什么算一次购买", "en": "What counts as a purchase"},
    "method_purchase": {
        "zh": "订单按订单编号冲减退货后，金额低于零或全额退货的订单不算购买；零金额订单（原价为0）算一次购买，除非参数 cleaning.zero_amount_orders: exclude。所保留的行中没有任何购买的客户不计入分层，连同原因列在 excluded_customers.parquet，并在数据质量附录中计数。",
        "en": "Returns are netted into their order by order id; an order netted below zero or returned in full is not a purchase; a free order (gross 0) is, unless cleaning.zero_amount_orders: exclude. A customer whose kept rows hold no purchase is not tiered: they are listed with the reason in excluded_customers.parquet and counted in the data-quality appendix.",
    },
    "thin_figure": {"zh": "{what}{value}（仅 {n} 份回答，少于 {min_n} 份，仅供参考）", "en": "{what}{value} (only {n} answers, fewer than {min_n}; indicative only)"},
    "sum_nps_thin": {
        "zh": "整体NPS基于 {n} 份回答，少于 {min_n} 份，不作为核心指标。",
        "en": "The overall NPS rests on {n} answers, fewer than {min_n}, so it is not a headline figure.",
    },
    "sum_drivers_thin": {
        "zh": "满意度驱动因素基于 {n} 份回答，少于 {min_n} 份，仅供参考：{first}、{second}。",
        "en": "Drivers of satisfaction rest on {n} answers, fewer than {min_n}, indicative only: {first}, {second}.",
    },
    "link_thin": {
        "zh": "投诉与满意度的关系基于 {n} 份回答（少于 {min_n} 份），仅供参考：",
        "en": "The complaint–satisfaction link rests on {n} answers (fewer than {min_n}), indicative only: ",
    },
    "n_answers": {"zh": "n = {n}", "en": "n = {n}"},
    "drivers_thin": {
        "zh": "以下驱动因素基于 {n} 份完整回答，少于 {min_n} 份，仅供参考。",
        "en": "The drivers below rest on {n} complete answers, fewer than {min_n}: indicative only.",
    },
})
