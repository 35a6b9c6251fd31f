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
