"""Deterministic generator of the embedded sample data set: a fictitious enterprise's CRM export.

Every column is drawn from a *known* process so that the study's cleaning, RFM/CLV, tiering and
satisfaction models can be checked against the truth written next to the data (``truth.json``):

* purchases follow the BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy
  Way"), time unit = days: ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)``, exponential
  inter-purchase times with rate ``lambda``, and after every repeat purchase the customer drops out
  with probability ``p`` (the customer is alive at the first purchase, as in the paper);
* order values follow the Gamma-Gamma spend model (Colombo & Jiang 1999; Fader, Hardie & Lee 2005,
  "RFM and CLV"): ``nu ~ Gamma(q, gamma)``, ``z ~ Gamma(p, nu)``, drawn independently of the
  purchase process;
* survey targets are known linear functions of the five attribute ratings plus noise, minus a
  penalty for customers who complained before answering;
* complaints are more frequent for customers with a higher dropout probability;
* every customer has an account manager (``managers.csv``: 40 managers over the regions, senior,
  middle and junior; the seniors' hours for accounts fall short of what the top tier's cadence
  needs, so the assignment of customers to managers has a capacity to respect). Each manager has
  a known retention effect and a known satisfaction shift (``truth.json`` → ``managers``): the Beta(a, b) dropout probabilities drawn for the book are
  dealt out so that a manager's customers get lower ones the larger the manager's retention effect
  (a Gaussian copula: the book's p values keep exactly their Beta draws), and the manager's shift is
  added to the overall-satisfaction and recommendation answers of their customers. Within a region
  seniors get the more valuable and longer-standing customers, so a raw ranking of managers is
  confounded by the mix of their portfolios;
* the window's last quarter has a contact log (``contacts.csv``): whether a customer was served
  as planned (6+ contacts in the quarter, else 0 or 1) depends on what was known at the quarter's
  start (BG/NBD P(alive), repeat purchases, mean order value), and being served multiplies the
  customer's purchase rate by :data:`PLAN_RATE_MULTIPLIER` while alive in the quarter (``truth.json`` → ``plan_effect``: the
  definition, the true effects and the naive comparison). Its draws come from a stream of their
  own; the served customers' extra orders are the only rows it adds to ``transactions.csv`` (every
  other row keeps its content and order), and no other file changes.

The purchase and spend draws are those of :mod:`analysis.simulation.purchases`, the one simulator
of purchase histories that the benchmarks' transactions use as well.

The export is then made dirty the way real exports are (mixed number and date formats, returns,
duplicates, missing ids, bad dates and amounts, dates after the period, extreme outliers); every
injected row is an *extra* row and is counted in ``truth.json``, so the clean rows are exactly the
simulated process.

Run ``python -m analysis.simulation.sample_data data/raw/sample`` to (re)write the embedded sample.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import hyp2f1

from analysis.simulation.purchases import (
    dropout_probabilities,
    order_amounts,
    purchase_days,
    purchase_rates,
    repeat_purchases_before_dropout,
    spend_rates,
)

__all__ = [
    "COMPLAINT_COLUMNS",
    "CONTACT_COLUMNS",
    "CUSTOMER_COLUMNS",
    "MANAGER_COLUMNS",
    "SURVEY_ATTRIBUTES",
    "SURVEY_COLUMNS",
    "TRANSACTION_COLUMNS",
    "SampleDataError",
    "expected_order_value",
    "expected_repeat_purchases",
    "generate_sample_data",
    "main",
]


class SampleDataError(ValueError):
    """Raised when the generator is called with arguments it cannot honour."""


# --------------------------------------------------------------------------- fixed vocabulary

TRANSACTION_COLUMNS = {  # export header -> data-contract name
    "客户编号": "customer_id",
    "订单编号": "order_id",
    "订单日期": "order_date",
    "金额": "amount",
    "数量": "quantity",
    "产品类别": "product_category",
    "销售渠道": "channel",
    "成本": "cost",
}
CUSTOMER_COLUMNS = {
    "客户编号": "customer_id",
    "客户名称": "name",
    "行业": "industry",
    "地区": "region",
    "客户类型": "segment",
    "注册日期": "signup_date",
    "客户经理": "account_manager",
    "存款余额": "balance",
    "联系电话": "phone",
}
MANAGER_COLUMNS = {
    "经理编号": "manager_id",
    "姓名": "name",
    "职级": "level",
    "地区": "region",
    "月可用工时": "hours_per_month",
    "最多客户数": "max_accounts",
    "入职日期": "start_date",
}
#: manager level code -> (label in the export, share of a region's managers, hours per month for
#: accounts, largest portfolio, preference for valuable customers, relative portfolio size).
#: A senior leads a team and wins business besides, so keeps fewer hours for accounts: the seniors'
#: hours fall about a third short of what the playbook's tier-1 cadence needs (the capacity binds).
MANAGER_LEVELS = {
    "senior": ("高级", 0.25, 45, 150, 1.0, 0.8),
    "middle": ("中级", 0.40, 130, 220, 0.0, 1.0),
    "junior": ("初级", 0.35, 150, 260, -1.0, 1.1),
}
#: managers per region (40 in all), in the order of :data:`REGIONS`
MANAGERS_PER_REGION = {"华东": 12, "华南": 8, "华北": 7, "华中": 5, "西南": 4, "西北": 2, "东北": 2}
_MANAGER_RETENTION_SD = 0.6  # s.d. of a manager's effect on the normal score of -p (customer noise: 1)
_MANAGER_SATISFACTION_SD = 0.6  # s.d. of a manager's shift of the 0-10 answers
_MANAGER_VALUE_TENURE_WEIGHT = 0.8  # weight of an early first purchase in the value a senior prefers
SURVEY_ATTRIBUTES = {  # zh header -> (contract name, English label)
    "产品质量": ("product_quality", "Product quality"),
    "服务响应速度": ("service_response", "Service responsiveness"),
    "价格合理性": ("price_fairness", "Price fairness"),
    "交付及时性": ("delivery_timeliness", "On-time delivery"),
    "客户经理专业度": ("manager_expertise", "Account manager expertise"),
}
SURVEY_COLUMNS = {
    "客户编号": "customer_id",
    "调查日期": "survey_date",
    **{zh: name for zh, (name, _) in SURVEY_ATTRIBUTES.items()},
    "总体满意度": "overall_satisfaction",
    "推荐意愿": "recommend",
    "意见": "comment",
}
COMPLAINT_COLUMNS = {
    "客户编号": "customer_id",
    "投诉日期": "opened",
    "解决日期": "closed",
    "投诉类别": "category",
    "严重程度": "severity",
}

# category: (English label, cost ratio of the amount, mean quantity per order)
CATEGORIES = {
    "办公设备": ("Office equipment", 0.80, 4.0),
    "软件服务": ("Software services", 0.58, 2.0),
    "耗材": ("Consumables", 0.85, 8.0),
    "维保服务": ("Maintenance services", 0.65, 1.5),
    "咨询服务": ("Consulting", 0.55, 1.2),
    "云资源": ("Cloud resources", 0.70, 3.0),
}
# log-preference of B2B and B2C buyers for each category, and its tilt per s.d. of log mean spend
_CATEGORY_BASE_B2B = np.array([0.2, 0.9, -0.2, 0.6, 0.3, 0.7])
_CATEGORY_BASE_B2C = np.array([0.9, 0.2, 1.0, -0.3, -1.0, 0.0])
_CATEGORY_SPEND_TILT = np.array([-0.3, 0.3, -0.6, 0.1, 0.7, 0.5])
# a customer's taste between the hardware bundle (equipment, consumables, maintenance) and the digital one
# (software, consulting, cloud): categories of one bundle are bought together, which cross-selling can find
_CATEGORY_BUNDLE = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
_CATEGORY_TASTE_SD = 1.2

CHANNELS = {"线上商城": "Online store", "直销": "Direct sales", "渠道代理": "Channel partner",
            "电话销售": "Telesales"}
_CHANNEL_BASE_B2B = np.array([0.15, 0.45, 0.30, 0.10])
_CHANNEL_BASE_B2C = np.array([0.60, 0.10, 0.10, 0.20])

INDUSTRIES = {"制造业": ("Manufacturing", 0.22), "信息技术": ("Information technology", 0.18),
              "金融": ("Finance", 0.10), "零售": ("Retail", 0.14),
              "医疗健康": ("Healthcare", 0.10), "教育": ("Education", 0.08),
              "物流": ("Logistics", 0.10), "能源": ("Energy", 0.08)}
CONSUMER_INDUSTRY = ("个人消费", "Personal consumption")
_INDUSTRY_WORDS = {"制造业": ["机械制造", "精密制造", "电子"],
                   "信息技术": ["信息科技", "软件", "网络科技"],
                   "金融": ["投资", "金融服务"], "零售": ["商贸", "百货"],
                   "医疗健康": ["医疗器械", "生物科技", "医药"], "教育": ["教育科技", "培训"],
                   "物流": ["物流", "供应链管理"], "能源": ["能源", "新能源科技"]}

# region: (English label, share, cities, account managers)
REGIONS = {
    "华东": ("East China", 0.30, ["上海", "杭州", "南京", "苏州", "宁波", "合肥", "济南", "厦门"],
             ["王志强", "李静", "张伟", "陈晓燕", "周海涛"]),
    "华南": ("South China", 0.20, ["广州", "深圳", "东莞", "佛山", "南宁"],
             ["刘洋", "黄丽华", "林俊杰", "梁文博"]),
    "华北": ("North China", 0.18, ["北京", "天津", "石家庄", "太原"],
             ["赵敏", "孙建国", "马丽", "高明"]),
    "华中": ("Central China", 0.12, ["武汉", "长沙", "郑州", "南昌"], ["胡斌", "郭芳", "何亮"]),
    "西南": ("Southwest", 0.10, ["成都", "重庆", "昆明", "贵阳"], ["罗刚", "唐雪", "邓凯"]),
    "西北": ("Northwest", 0.05, ["西安", "兰州", "银川"], ["冯磊", "曹颖", "许博"]),
    "东北": ("Northeast", 0.05, ["沈阳", "大连", "长春", "哈尔滨"], ["韩冰", "宋佳", "谢宇"]),
}
_BRAND_FIRST = list("恒华博中新瑞鼎天宏金嘉卓永盛腾远众锦正合")
_BRAND_SECOND = list("通信远联创丰盛成图桥禾越泰达辉航源润宇康")
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文斌宇浩鹏晨婷雪琳欣怡子轩")
_MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                    "152", "155", "156", "158", "159", "166", "176", "177", "180", "182", "183",
                    "185", "186", "187", "188", "189", "198", "199"]

COMPLAINT_CATEGORIES = {"产品质量": ("Product quality", 0.25), "交付延迟": ("Late delivery", 0.25),
                        "服务态度": ("Service attitude", 0.15), "账单错误": ("Billing error", 0.15),
                        "技术支持": ("Technical support", 0.20)}
SEVERITIES = {"低": ("Low", 0.50, 1, 2.0), "中": ("Medium", 0.35, 2, 5.0),
              "高": ("High", 0.15, 3, 12.0)}  # label, share, min and mean extra days to resolve

_COMMENTS = {
    "low": ["服务响应太慢，问题拖了很久", "价格偏高，性价比不高", "交付多次延迟，影响我们的项目",
            "产品质量不稳定，返修较多", "客户经理联系不上", "投诉处理不及时，很失望",
            "考虑更换供应商", "账单经常出错"],
    "mid": ["整体还可以，希望响应再快一些", "产品不错，价格可以再优惠", "交付基本及时",
            "服务一般，有改进空间", "希望多一些技术培训", "客户经理比较专业，但跟进不够"],
    "high": ["服务很好，响应迅速", "产品质量可靠，会继续合作", "客户经理非常专业",
             "交付准时，沟通顺畅", "性价比高，愿意推荐给同行", "非常满意"],
}

_AMOUNT_FORMAT_SHARES = {"plain": 0.80, "thousands": 0.05, "yuan_sign": 0.05,
                         "yuan_suffix": 0.05, "rmb_prefix": 0.05}
_DATE_FORMAT_SHARES = {"iso": 0.85, "slash": 0.05, "chinese": 0.05, "compact": 0.05}
_INVALID_DATES = ["2024-13-45", "2025-02-30", "N/A", "待定"]
_INVALID_AMOUNTS = ["待定", "abc", ""]


@dataclass(frozen=True)
class TrueParameters:
    """The known parameters every sample is drawn from (daily time unit, amounts in 元)."""

    r: float = 0.55
    alpha: float = 14.0
    a: float = 0.6
    b: float = 6.0
    p: float = 6.0
    q: float = 3.5
    gamma: float = 1500.0
    first_year_weight: float = 2.0  # density of first purchases in year 1 relative to later
    prospect_share: float = 0.03
    b2b_share: float = 0.35
    return_share: float = 0.03
    survey_share: float = 0.35
    complaint_base_rate: float = 0.25  # mean complaints per customer at average logit(p)
    complaint_beta_logit_p: float = 0.8  # log-rate change per s.d. of logit(p)
    satisfaction_intercept: float = 0.3
    satisfaction_noise_sd: float = 0.6
    recommend_intercept: float = 0.2
    recommend_noise_sd: float = 0.8
    complaint_satisfaction_penalty: float = 1.0
    complaint_recommend_penalty: float = 1.5
    latent_beta_logit_p: float = -0.6  # survey latent per s.d. of logit(p)


SATISFACTION_WEIGHTS = {"产品质量": 0.25, "服务响应速度": 0.35, "价格合理性": 0.10,
                        "交付及时性": 0.15, "客户经理专业度": 0.15}
RECOMMEND_WEIGHTS = {"产品质量": 0.35, "服务响应速度": 0.15, "价格合理性": 0.25,
                     "交付及时性": 0.10, "客户经理专业度": 0.20}
_ATTRIBUTE_MEANS = np.array([7.4, 6.8, 6.5, 7.0, 7.2])
_ATTRIBUTE_LOADINGS = np.array([1.1, 1.3, 0.9, 1.0, 1.0])
_ATTRIBUTE_NOISE_SD = 1.0

_DIRTY_SHARES = {"duplicate": 0.005, "missing_customer_id": 0.002, "invalid_date": 0.001,
                 "invalid_amount": 0.001, "after_period_end": 0.001, "outlier": 0.0005}
_CUSTOMER_DUPLICATE_SHARE = 0.001
_BALANCE_CLASS1_THRESHOLD = 2e8
_MIN_BALANCES_ABOVE_THRESHOLD = 3

# the last quarter's service plan: who got the recommended contacts, and what that did
CONTACT_COLUMNS = {
    "客户编号": "customer_id",
    "联系日期": "contact_date",
    "联系方式": "channel",
    "客户经理": "account_manager",
}
#: contact channel label in the export -> share of the contacts
CONTACT_CHANNELS = {"上门拜访": 0.25, "电话": 0.35, "企业微信": 0.25, "邮件": 0.15}
#: while alive in the quarter, a served customer buys at this multiple of their BG/NBD rate
PLAN_RATE_MULTIPLIER = 1.5
#: logit P(served) = intercept + sum(weight * z(covariate)), covariates known at the quarter's start
PLAN_PROPENSITY = {"intercept": -0.3, "logit_p_alive": 1.0, "log_repeat_purchases": 0.5,
                   "log_mean_order_value": 0.5}
#: a served customer gets at least this many contacts in the quarter (2 a month: the highest cadence
#: of the default 4-tier playbook), plus Poisson(_SERVED_EXTRA_CONTACTS)
_SERVED_MIN_CONTACTS = 6
_SERVED_EXTRA_CONTACTS = 3.0
#: an unserved customer gets one contact with this probability, else none (under 0.5 a month: below
#: every tier's cadence of the default 4-tier playbook)
_UNSERVED_CONTACT_SHARE = 0.4


# --------------------------------------------------------------------------- closed-form checks

def expected_repeat_purchases(t: np.ndarray | float, r: float, alpha: float, a: float,
                              b: float) -> np.ndarray:
    """Expected number of repeat purchases in (0, t] under BG/NBD.

    Fader, Hardie & Lee (2005), eq. 9:
    ``E[X(t)] = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))**r * 2F1(r, b; a+b-1; t/(alpha+t))]``.
    """
    t = np.asarray(t, dtype=float)
    ratio = alpha / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - ratio**r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def expected_order_value(p: float, q: float, gamma: float) -> float:
    """Population mean order value under Gamma-Gamma: ``E[z] = p * gamma / (q - 1)`` (q > 1)."""
    return p * gamma / (q - 1)


# --------------------------------------------------------------------------- validation

def _parse_window(start: str, end: str) -> tuple[np.datetime64, int]:
    try:
        start_d = np.datetime64(dt.date.fromisoformat(str(start)), "D")
        end_d = np.datetime64(dt.date.fromisoformat(str(end)), "D")
    except ValueError as exc:
        raise SampleDataError(
            f"start={start!r} / end={end!r}: dates must be ISO dates like '2023-01-01' ({exc})."
        ) from None
    n_days = int((end_d - start_d).astype(int)) + 1
    if n_days < 60:
        raise SampleDataError(
            f"The window {start}..{end} has {n_days} days; "
            "give an end at least 60 days after start."
        )
    return start_d, n_days


#: The most buying customers: their ids, and the prospects', drawn from below 20 times their count
#: (:func:`_customer_ids`), stay 8 digits long.
MAX_CUSTOMERS = 4_800_000


def _check_size(n_customers: int) -> None:
    if not isinstance(n_customers, (int, np.integer)) or isinstance(n_customers, bool):
        raise SampleDataError(f"n_customers={n_customers!r} must be an integer, e.g. 5000.")
    if not 1 <= n_customers <= MAX_CUSTOMERS:
        raise SampleDataError(
            f"n_customers={n_customers} is out of range; use 1..{MAX_CUSTOMERS:,} (8-digit ids)."
        )


# --------------------------------------------------------------------------- customers' latents

def _standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _draw_first_purchase_days(rng: np.random.Generator, n: int, n_days: int,
                              first_year_weight: float) -> np.ndarray:
    """Day index of each customer's first purchase; year 1 is denser so there is history."""
    first_year = min(365, n_days)
    rest = n_days - first_year
    p_first_year = first_year_weight * first_year / (first_year_weight * first_year + rest)
    in_first_year = rng.random(n) < p_first_year
    early = rng.integers(0, first_year, n)
    late = rng.integers(first_year, n_days, n) if rest > 0 else early
    return np.where(in_first_year, early, late)


def _draw_customers(rng: np.random.Generator, n: int, n_days: int,
                    tp: TrueParameters) -> pd.DataFrame:
    """Latent traits of the buying customers: BG/NBD (lambda, p), Gamma-Gamma nu, segment."""
    first_day = _draw_first_purchase_days(rng, n, n_days, tp.first_year_weight)
    lam = purchase_rates(rng, n, tp.r, tp.alpha)
    p_drop = dropout_probabilities(rng, n, tp.a, tp.b)
    nu = spend_rates(rng, n, tp.q, tp.gamma)
    mean_spend = tp.p / nu
    z_spend = _standardize(np.log(mean_spend))
    # Segment depends on spend level only, so every marginal of the spend model is untouched.
    b2b_score = 0.8 * z_spend + 0.6 * rng.standard_normal(n)
    n_b2b = round(tp.b2b_share * n)
    is_b2b = np.zeros(n, dtype=bool)
    is_b2b[np.argsort(-b2b_score, kind="stable")[:n_b2b]] = True
    return pd.DataFrame({
        "first_day": first_day, "lam": lam, "p_drop": p_drop, "nu": nu,
        "mean_spend": mean_spend, "z_spend": z_spend, "is_b2b": is_b2b,
    })


def _settle_dropout(rng: np.random.Generator, cust: pd.DataFrame, p_drop: np.ndarray) -> pd.DataFrame:
    """The customers with their dealt dropout probability and the repeat purchase they drop out after."""
    logit_p = np.log(p_drop) - np.log1p(-np.minimum(p_drop, 1 - 1e-12))
    return cust.assign(
        p_drop=p_drop,
        z_logit_p=_standardize(logit_p),
        # repeat purchase after which the customer drops out: geometric on 1, 2, ...
        dropout_after=repeat_purchases_before_dropout(rng, p_drop),
    )


# --------------------------------------------------------------------------- purchase process

def _simulate_purchase_days(rng: np.random.Generator, cust: pd.DataFrame,
                            n_days: int) -> pd.DataFrame:
    """All purchase days (first and repeat) of every customer, one row per purchase.

    The BG/NBD process on whole days of :func:`analysis.simulation.purchases.purchase_days`: one
    purchase per customer and day, dropout after the customer's ``dropout_after``-th repeat purchase.
    """
    owner, day = purchase_days(rng, cust["first_day"].to_numpy(), n_days, cust["lam"].to_numpy(),
                               cust["dropout_after"].to_numpy())
    return pd.DataFrame({"cust": owner, "day": day})


def _categorical_per_row(rng: np.random.Generator, probs: np.ndarray,
                         owner: np.ndarray) -> np.ndarray:
    """Draw one category index per row from the owner's probability vector."""
    cum = np.cumsum(probs, axis=1)[owner]
    u = rng.random(owner.size)[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _customer_preferences(rng: np.random.Generator,
                          cust: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer category and channel probabilities (segment- and spend-dependent)."""
    is_b2b = cust["is_b2b"].to_numpy()[:, None]
    z_spend = cust["z_spend"].to_numpy()[:, None]
    n = len(cust)
    cat_logits = (np.where(is_b2b, _CATEGORY_BASE_B2B, _CATEGORY_BASE_B2C)
                  + _CATEGORY_SPEND_TILT * z_spend
                  + 0.7 * rng.standard_normal((n, len(CATEGORIES))))
    cat_logits += _CATEGORY_TASTE_SD * rng.standard_normal((n, 1)) * _CATEGORY_BUNDLE
    chan_base = np.where(is_b2b, _CHANNEL_BASE_B2B, _CHANNEL_BASE_B2C)
    chan_probs = np.vstack([rng.dirichlet(20 * row) for row in chan_base]) if n else chan_base
    return _softmax_rows(cat_logits), chan_probs


def _order_lines(rng: np.random.Generator, cust: pd.DataFrame, purchases: pd.DataFrame,
                 prefs: tuple[np.ndarray, np.ndarray], tp: TrueParameters) -> pd.DataFrame:
    """Amount (Gamma-Gamma), category, channel, quantity and cost of every purchase."""
    owner = purchases["cust"].to_numpy()
    nu = cust["nu"].to_numpy()[owner]
    amount = order_amounts(rng, tp.p, nu)
    cat_probs, chan_probs = prefs
    cat = _categorical_per_row(rng, cat_probs, owner)
    chan = _categorical_per_row(rng, chan_probs, owner)
    cat_info = list(CATEGORIES.values())
    mean_qty = np.array([info[2] for info in cat_info])[cat]
    quantity = np.clip(1 + rng.poisson(mean_qty - 1), 1, 20)
    ratio = np.clip(np.array([info[1] for info in cat_info])[cat]
                    + rng.uniform(-0.03, 0.03, owner.size), 0.55, 0.85)
    return purchases.assign(amount=amount, quantity=quantity, category=cat, channel=chan,
                            cost=np.round(amount * ratio, 2))


def _assign_order_ids(days: np.ndarray, start: np.datetime64,
                      rng: np.random.Generator) -> np.ndarray:
    """Order numbers ``SO<year><6-digit sequence>``, numbered in date order within each year."""
    order = np.lexsort((rng.random(days.size), days))
    years = (start + days[order]).astype("datetime64[Y]").astype(int) + 1970
    first_of_year = np.searchsorted(years, years)
    seq = np.arange(days.size) - first_of_year + 1
    ids = np.empty(days.size, dtype=object)
    ids[order] = _texts(np.strings.add(np.strings.add("SO", years.astype(str)),
                                       np.strings.zfill(seq.astype(str), 6)))
    return ids


def _returns(rng: np.random.Generator, orders: pd.DataFrame, n_days: int,
             share: float) -> pd.DataFrame:
    """Return rows 1-30 days after ~``share`` of the orders, full (60 %) or partial."""
    eligible = np.flatnonzero(orders["day"].to_numpy() <= n_days - 2)
    n_ret = min(round(share * len(orders)), eligible.size)
    picked = np.sort(rng.choice(eligible, n_ret, replace=False))
    base = orders.iloc[picked]
    room = np.minimum(30, n_days - 1 - base["day"].to_numpy())
    lag = 1 + np.floor(rng.random(n_ret) * room).astype(np.int64)
    full = rng.random(n_ret) < 0.6
    frac = np.where(full, 1.0, rng.uniform(0.1, 0.9, n_ret))
    qty = base["quantity"].to_numpy()
    ret_qty = np.where(full, qty, np.clip(np.round(qty * frac), 1, qty)).astype(np.int64)
    return base.assign(
        day=base["day"].to_numpy() + lag,
        amount=-np.maximum(np.round(base["amount"].to_numpy() * frac, 2), 0.01),
        quantity=-ret_qty,
        cost=-np.round(base["cost"].to_numpy() * frac, 2),
        is_return=True,
    )


# --------------------------------------------------------------------------- export formatting

def _choose_formats(rng: np.random.Generator, n: int, shares: dict[str, float]) -> np.ndarray:
    names = np.array(list(shares))
    probs = np.array(list(shares.values()))
    return names[rng.choice(len(names), n, p=probs / probs.sum())]


def _texts(strings: np.ndarray) -> np.ndarray:
    """A numpy string array as Python strings (object dtype), the cells of an export frame."""
    return strings.astype(object)


def _cents_texts(values: np.ndarray) -> np.ndarray | None:
    """``f"{x:.2f}"`` of every ``x >= 0``, vectorised; None when a value is not a whole number of cents.

    The amounts are rounded to cents before they are written, so the digits come from the integer
    number of cents and agree with Python's formatting; other values are left to the caller.
    """
    scaled = np.asarray(values, dtype=float) * 100
    cents = np.rint(scaled)
    if not np.all(np.abs(scaled - cents) < 1e-6) or (cents.size and cents.max() >= 2**52):
        return None
    cents = cents.astype(np.int64)
    whole = (cents // 100).astype(str)
    return np.strings.add(np.strings.add(whole, "."), np.strings.zfill((cents % 100).astype(str), 2))


def _money_texts(values: np.ndarray) -> np.ndarray:
    """``f"{v:.2f}"`` of every value (a negative zero keeps its minus sign, as Python writes it)."""
    values = np.asarray(values, dtype=float)
    body = _cents_texts(np.abs(values))
    if body is None:
        return np.array([f"{v:.2f}" for v in values], dtype=object)
    return _texts(np.where(np.signbit(values), np.strings.add("-", body), body))


def _format_amounts(values: np.ndarray, styles: np.ndarray) -> np.ndarray:
    """Amount strings the way spreadsheet exports mix them (see ``_AMOUNT_FORMAT_SHARES``).

    The plain style (most rows) is formatted in one vectorised pass; the others row by row.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty(values.size, dtype=object)
    plain = styles == "plain"
    body = _cents_texts(np.abs(values[plain]))
    if body is None:
        plain[:] = False
    else:
        out[plain] = _texts(np.where(values[plain] < 0, np.strings.add("-", body), body))
    for i in np.flatnonzero(~plain):
        v, style = values[i], styles[i]
        sign, x = ("-" if v < 0 else ""), abs(v)
        if style == "thousands":
            out[i] = f"{sign}{x:,.2f}"
        elif style == "yuan_sign":
            out[i] = f"{sign}¥{x:,.2f}"
        elif style == "yuan_suffix":
            out[i] = f"{sign}{x:.2f}元"
        elif style == "rmb_prefix":
            out[i] = f"RMB {sign}{x:.2f}"
        else:
            out[i] = f"{sign}{x:.2f}"
    return out


def _date_text(year: int, month: int, day: int, style: str) -> str:
    """One date in one export style: ISO mostly, else 2024/3/5, 2024年3月5日 or 20240305."""
    if style == "slash":
        return f"{year}/{month}/{day}"
    if style == "chinese":
        return f"{year}年{month}月{day}日"
    if style == "compact":
        return f"{year}{month:02d}{day:02d}"
    return f"{year}-{month:02d}-{day:02d}"


def _format_dates(dates: np.ndarray, styles: np.ndarray) -> np.ndarray:
    """Date strings in each row's style; each distinct (date, style) is formatted once."""
    unique, position = np.unique(dates, return_inverse=True)
    years = unique.astype("datetime64[Y]").astype(int) + 1970
    months = unique.astype("datetime64[M]").astype(int) % 12 + 1
    days = (unique - unique.astype("datetime64[M]")).astype(int) + 1
    out = np.empty(len(dates), dtype=object)
    for style in np.unique(styles):
        texts = np.array([_date_text(y, m, d, style) for y, m, d in zip(years, months, days)],
                         dtype=object)
        rows = styles == style
        out[rows] = texts[position[rows]]
    return out


def _export_rows(rng: np.random.Generator, lines: pd.DataFrame, ids: np.ndarray,
                 start: np.datetime64) -> pd.DataFrame:
    """Transaction lines as the text cells of the CSV export."""
    n = len(lines)
    cats = np.array(list(CATEGORIES), dtype=object)
    chans = np.array(list(CHANNELS), dtype=object)
    return pd.DataFrame({
        "客户编号": ids[lines["cust"].to_numpy()] if n else np.array([], dtype=object),
        "订单编号": lines["order_id"].to_numpy(),
        "订单日期": _format_dates(start + lines["day"].to_numpy(),
                              _choose_formats(rng, n, _DATE_FORMAT_SHARES)),
        "金额": _format_amounts(lines["amount"].to_numpy(),
                              _choose_formats(rng, n, _AMOUNT_FORMAT_SHARES)),
        "数量": _texts(lines["quantity"].to_numpy().astype(np.int64).astype(str)),
        "产品类别": cats[lines["category"].to_numpy()],
        "销售渠道": chans[lines["channel"].to_numpy()],
        "成本": _money_texts(lines["cost"].to_numpy()),
    }, dtype=object)


# --------------------------------------------------------------------------- dirty rows

def _dirty_counts(n_purchases: int) -> dict[str, int]:
    return {kind: round(share * n_purchases) for kind, share in _DIRTY_SHARES.items()}


def _fabricated_orders(rng: np.random.Generator, cust: pd.DataFrame, purchases: pd.DataFrame,
                       prefs: tuple[np.ndarray, np.ndarray], counts: dict[str, int], n_days: int,
                       tp: TrueParameters) -> pd.DataFrame:
    """Extra order lines that will each be broken in exactly one way (kind in column ``kind``).

    Outliers go to customers whose mean order value is in the book's top quarter and get
    ``mean_spend * U(50, 200)`` on a day that customer did not otherwise buy, so that each is an
    outlier both for the customer and for the whole book.
    """
    kinds = [k for k in ("missing_customer_id", "invalid_date", "invalid_amount",
                         "after_period_end", "outlier") for _ in range(counts[k])]
    n = len(kinds)
    kind = np.array(kinds, dtype=object)
    owner = rng.integers(0, len(cust), n)
    first = cust["first_day"].to_numpy()
    day = first[owner] + np.floor(rng.random(n) * (n_days - first[owner])).astype(np.int64)
    after = kind == "after_period_end"
    day[after] = n_days + rng.integers(0, 540, after.sum())
    is_outlier = kind == "outlier"
    factor = np.full(n, np.nan)
    if is_outlier.any():
        owner[is_outlier], day[is_outlier] = _outlier_slots(rng, cust, purchases,
                                                            int(is_outlier.sum()), n_days)
        factor[is_outlier] = rng.uniform(50, 200, is_outlier.sum())
    sample = _order_lines(rng, cust, pd.DataFrame({"cust": owner, "day": day}), prefs, tp)
    amount = sample["amount"].to_numpy().copy()
    amount[is_outlier] = np.round(cust["mean_spend"].to_numpy()[owner[is_outlier]]
                                  * factor[is_outlier], 2)
    cost_ratio = sample["cost"].to_numpy() / np.maximum(sample["amount"].to_numpy(), 0.01)
    return sample.assign(amount=amount, cost=np.round(amount * cost_ratio, 2), kind=kind,
                         factor=factor, is_return=False)


def _outlier_slots(rng: np.random.Generator, cust: pd.DataFrame, purchases: pd.DataFrame,
                   n: int, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    book_q75 = np.quantile(cust["mean_spend"].to_numpy()[purchases["cust"].to_numpy()], 0.75)
    big = np.flatnonzero(cust["mean_spend"].to_numpy() >= book_q75)
    owners = rng.choice(big, n, replace=big.size < n)
    bought, bought_day = purchases["cust"].to_numpy(), purchases["day"].to_numpy()
    theirs = np.isin(bought, owners)  # only the chosen customers' days are ever looked up
    used = set(zip(bought[theirs].tolist(), bought_day[theirs].tolist()))
    days = np.empty(n, dtype=np.int64)
    first = cust["first_day"].to_numpy()
    for i, c in enumerate(owners):
        candidates = [d for d in range(first[c], n_days) if (c, d) not in used]
        days[i] = candidates[int(rng.integers(len(candidates)))] if candidates else first[c]
        used.add((int(c), int(days[i])))
    return owners, days


def _break_rows(rng: np.random.Generator, rows: pd.DataFrame, kind: np.ndarray) -> pd.DataFrame:
    """Apply each fabricated row's single defect to its text cells."""
    rows = rows.copy()
    missing = kind == "missing_customer_id"
    rows.loc[missing, "客户编号"] = ""
    bad_date = kind == "invalid_date"
    rows.loc[bad_date, "订单日期"] = rng.choice(_INVALID_DATES, bad_date.sum())
    bad_amount = kind == "invalid_amount"
    rows.loc[bad_amount, "金额"] = rng.choice(_INVALID_AMOUNTS, bad_amount.sum())
    return rows


def _place_at_random(rng: np.random.Generator, clean: pd.DataFrame,
                     extra: pd.DataFrame) -> pd.DataFrame:
    """Insert the extra rows at random positions among the (date-ordered) clean rows."""
    keys = np.concatenate([np.arange(len(clean), dtype=float),
                           rng.uniform(-0.5, len(clean) - 0.5, len(extra))])
    both = pd.concat([clean, extra], ignore_index=True)
    return both.iloc[np.argsort(keys, kind="stable")].reset_index(drop=True)


# --------------------------------------------------------------------------- customer master

def _company_names(rng: np.random.Generator, regions: np.ndarray,
                   industries: np.ndarray) -> list[str]:
    names = []
    for region, industry in zip(regions, industries):
        city = rng.choice(REGIONS[region][2])
        brand = rng.choice(_BRAND_FIRST) + rng.choice(_BRAND_SECOND)
        word = rng.choice(_INDUSTRY_WORDS[industry])
        form = "股份有限公司" if rng.random() < 0.25 else "有限公司"
        names.append(f"{city}{brand}{word}{form}")
    return names


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    surnames = rng.choice(_SURNAMES, n)
    lengths = rng.choice([1, 2], n, p=[0.35, 0.65])
    return [s + "".join(rng.choice(_GIVEN, k)) for s, k in zip(surnames, lengths)]


def _mobiles(rng: np.random.Generator, n: int) -> list[str]:
    prefixes = rng.choice(_MOBILE_PREFIXES, n)
    tails = rng.integers(0, 10**8, n)
    return [f"{p}{t:08d}" for p, t in zip(prefixes, tails)]


def _balances(rng: np.random.Generator, is_b2b: np.ndarray, z_spend: np.ndarray) -> np.ndarray:
    """Deposit balances in 元: lognormal, B2B far larger, a few above the 2亿 class-1 threshold."""
    log_b = np.where(is_b2b, np.log(3e6) + 1.5 * rng.standard_normal(is_b2b.size),
                     np.log(8e4) + 1.1 * rng.standard_normal(is_b2b.size))
    balance = np.exp(log_b + np.where(is_b2b, 0.5, 0.3) * z_spend)
    b2b_idx = np.flatnonzero(is_b2b)
    top = b2b_idx[np.argsort(-balance[b2b_idx], kind="stable")[:_MIN_BALANCES_ABOVE_THRESHOLD]]
    lifted = _BALANCE_CLASS1_THRESHOLD * rng.uniform(1.05, 2.5, top.size)
    balance[top] = np.maximum(balance[top], lifted)
    return np.round(balance, 2)


def _customer_master(rng: np.random.Generator, cust: pd.DataFrame, n_prospects: int,
                     ids: np.ndarray, start: np.datetime64, n_days: int,
                     tp: TrueParameters, managers: pd.DataFrame) -> pd.DataFrame:
    """One row per buying customer and per prospect (who never bought).

    Buyers keep the region and manager they were assigned (:func:`_assign_managers`); a prospect
    gets a region and one of its managers at random.
    """
    n_buyers = len(cust)
    n = n_buyers + n_prospects
    is_b2b = np.concatenate([cust["is_b2b"].to_numpy(), rng.random(n_prospects) < tp.b2b_share])
    z_spend = np.concatenate([cust["z_spend"].to_numpy(), np.zeros(n_prospects)])
    prospect_regions = _draw_regions(rng, n_prospects)
    staff_of = {r: np.flatnonzero(managers["region"].to_numpy() == r) for r in REGIONS}
    prospect_managers = np.array([rng.choice(staff_of[r]) for r in prospect_regions], dtype=np.int64)
    regions = np.concatenate([cust["region"].to_numpy(), prospect_regions]).astype(object)
    manager_index = np.concatenate([cust["manager"].to_numpy(), prospect_managers]).astype(np.int64)
    ind_names = list(INDUSTRIES)
    ind_p = np.array([INDUSTRIES[i][1] for i in ind_names])
    industries = np.array(ind_names, dtype=object)[rng.choice(len(ind_names), n,
                                                               p=ind_p / ind_p.sum())]
    names = np.empty(n, dtype=object)
    names[is_b2b] = _company_names(rng, regions[is_b2b], industries[is_b2b])
    names[~is_b2b] = _person_names(rng, int((~is_b2b).sum()))
    industries[~is_b2b] = CONSUMER_INDUSTRY[0]
    manager_names = managers["name"].to_numpy()[manager_index]
    signup_lag = 1 + np.floor(rng.exponential(200.0, n_buyers)).astype(np.int64)
    signup_day = np.concatenate([cust["first_day"].to_numpy() - signup_lag,
                                 rng.integers(0, n_days, n_prospects)])
    return pd.DataFrame({
        "客户编号": ids[:n],
        "客户名称": names,
        "行业": industries,
        "地区": regions,
        "客户类型": np.where(is_b2b, "B2B", "B2C"),
        "注册日期": (start + signup_day).astype("datetime64[D]"),
        "客户经理": manager_names,
        "存款余额": _balances(rng, is_b2b, z_spend),
        "联系电话": _mobiles(rng, n),
    })


# --------------------------------------------------------------------------- account managers

def _draw_regions(rng: np.random.Generator, n: int) -> np.ndarray:
    region_names = list(REGIONS)
    region_p = np.array([REGIONS[r][1] for r in region_names])
    return np.array(region_names, dtype=object)[rng.choice(len(region_names), n,
                                                          p=region_p / region_p.sum())]


def _managers(rng: np.random.Generator, start: np.datetime64) -> pd.DataFrame:
    """The account managers with their true effects.

    Per region :data:`MANAGERS_PER_REGION` managers, levels by the shares of
    :data:`MANAGER_LEVELS` (at least one senior per region). Effects are drawn
    ``N(0, sd^2)`` and centred within each level, so that neither the level nor the value of
    the portfolio it brings carries any effect: the mix is the only confounder.
    """
    rows, used = [], set()
    for region, count in MANAGERS_PER_REGION.items():
        names = [m for m in REGIONS[region][3] if m not in used][:count]
        while len(names) < count:
            name = _person_names(rng, 1)[0]
            if len(name) == 3 and name not in used and name not in names:
                names.append(name)
        used.update(names)
        n_senior = max(1, round(MANAGER_LEVELS["senior"][1] * count))
        n_middle = round(MANAGER_LEVELS["middle"][1] * count)
        levels = ["senior"] * n_senior + ["middle"] * n_middle + ["junior"] * (count - n_senior - n_middle)
        rows += [(region, name, level) for name, level in zip(names, rng.permutation(levels))]
    n = len(rows)
    frame = pd.DataFrame(rows, columns=["region", "name", "level"])
    level = frame["level"].to_numpy()
    base_hours = np.array([MANAGER_LEVELS[lv][2] for lv in level], dtype=float)
    hours = base_hours + 5 * rng.integers(-2, 3, n)
    max_accounts = np.array([MANAGER_LEVELS[lv][3] for lv in level], dtype=float)
    max_accounts[rng.random(n) < 0.3] = np.nan
    start_day = rng.integers(-13 * 365, -180, n)
    retention = rng.normal(0.0, _MANAGER_RETENTION_SD, n)
    satisfaction = rng.normal(0.0, _MANAGER_SATISFACTION_SD, n)
    for code in MANAGER_LEVELS:
        same = level == code
        retention[same] -= retention[same].mean()
        satisfaction[same] -= satisfaction[same].mean()
    return frame.assign(
        manager_id=[f"KM{i + 1:03d}" for i in range(n)],
        hours_per_month=hours,
        max_accounts=max_accounts,
        start_date=(start + start_day).astype("datetime64[D]").astype(str),
        retention_effect=retention,
        satisfaction_shift=satisfaction,
        value_preference=[MANAGER_LEVELS[lv][4] for lv in level],
        portfolio_weight=[MANAGER_LEVELS[lv][5] for lv in level],
    )


def _assign_managers(rng: np.random.Generator, cust: pd.DataFrame,
                     managers: pd.DataFrame) -> pd.DataFrame:
    """Each buyer's region and manager; seniors take the more valuable, longer-standing customers.

    Within a region customer ``i`` goes to manager ``j`` with probability proportional to
    ``w_j * exp(b_j * v_i)``: ``v`` is the standardised sum of z(log mean spend) and
    0.8 z(-first purchase day), ``b_j`` the level's preference (+1 senior, 0 middle, -1 junior)
    and ``w_j`` its relative portfolio size.
    """
    n = len(cust)
    regions = _draw_regions(rng, n)
    earliness = _standardize(-cust["first_day"].to_numpy().astype(float))
    value = _standardize(cust["z_spend"].to_numpy() + _MANAGER_VALUE_TENURE_WEIGHT * earliness)
    manager = np.zeros(n, dtype=np.int64)
    staff_region = managers["region"].to_numpy()
    preference = managers["value_preference"].to_numpy(dtype=float)
    weight = np.log(managers["portfolio_weight"].to_numpy(dtype=float))
    for region in REGIONS:
        rows = np.flatnonzero(regions == region)
        staff = np.flatnonzero(staff_region == region)
        for chunk in np.array_split(rows, max(1, rows.size // 500_000 + 1)):
            logits = weight[staff][None, :] + value[chunk, None] * preference[staff][None, :]
            pick = _categorical_per_row(rng, _softmax_rows(logits), np.arange(chunk.size))
            manager[chunk] = staff[pick]
    return cust.assign(region=regions, manager=manager)


def _deal_dropout_probabilities(rng: np.random.Generator, p_drop: np.ndarray,
                                effect: np.ndarray) -> np.ndarray:
    """The book's p draws dealt out by ``score = manager effect + N(0, 1)``: the highest p to the lowest score.

    The set of p values is untouched (exactly the Beta draws); only who gets which depends on the
    manager, so a manager with a larger effect keeps their customers longer.
    """
    score = effect + rng.standard_normal(p_drop.size)
    dealt = np.empty_like(p_drop)
    dealt[np.argsort(score, kind="stable")] = np.sort(p_drop)[::-1]
    return dealt


def _manager_table(managers: pd.DataFrame) -> pd.DataFrame:
    """``managers.csv``: the export of the staff list (Chinese headers and level labels)."""
    max_accounts = managers["max_accounts"].to_numpy()
    return pd.DataFrame({
        "经理编号": managers["manager_id"].to_numpy(),
        "姓名": managers["name"].to_numpy(),
        "职级": [MANAGER_LEVELS[lv][0] for lv in managers["level"]],
        "地区": managers["region"].to_numpy(),
        "月可用工时": [f"{h:g}" for h in managers["hours_per_month"]],
        "最多客户数": ["" if np.isnan(m) else f"{m:.0f}" for m in max_accounts],
        "入职日期": managers["start_date"].to_numpy(),
    }, dtype=object)


def _manager_truth(managers: pd.DataFrame, cust: pd.DataFrame) -> list[dict]:
    """Per manager: the true effects, and the portfolio's mean p against the book's."""
    owner = cust["manager"].to_numpy()
    p = cust["p_drop"].to_numpy()
    customers = np.bincount(owner, minlength=len(managers))
    mean_p = np.bincount(owner, weights=p, minlength=len(managers)) / np.maximum(customers, 1)
    return [
        {"manager_id": row.manager_id, "name": row.name, "region": row.region, "level": row.level,
         "retention_effect": round(float(row.retention_effect), 6),
         "satisfaction_shift": round(float(row.satisfaction_shift), 6),
         "buyers": int(customers[i]),
         "dropout_multiplier": round(float(mean_p[i] / p.mean()), 6) if customers[i] else None}
        for i, row in enumerate(managers.itertuples(index=False))
    ]


# --------------------------------------------------------------------------- complaints, surveys

def _complaints(rng: np.random.Generator, cust: pd.DataFrame, purchases: pd.DataFrame,
                n_days: int, tp: TrueParameters) -> pd.DataFrame:
    """Complaints: Poisson count with log-rate rising in logit(p), dated after a purchase."""
    rate = tp.complaint_base_rate * np.exp(tp.complaint_beta_logit_p * cust["z_logit_p"].to_numpy())
    counts = rng.poisson(rate)
    owner = np.repeat(np.arange(len(cust)), counts)
    n_purchases = np.bincount(purchases["cust"].to_numpy(), minlength=len(cust))
    group_start = np.searchsorted(purchases["cust"].to_numpy(), np.arange(len(cust)))
    pick = group_start[owner] + np.floor(rng.random(owner.size) * n_purchases[owner]).astype(int)
    opened = np.minimum(purchases["day"].to_numpy()[pick] + rng.integers(0, 15, owner.size),
                        n_days - 1)
    sev_names = list(SEVERITIES)
    sev_p = np.array([SEVERITIES[s][1] for s in sev_names])
    sev = rng.choice(len(sev_names), owner.size, p=sev_p / sev_p.sum())
    min_days = np.array([SEVERITIES[s][2] for s in sev_names])[sev]
    mean_extra = np.array([SEVERITIES[s][3] for s in sev_names])[sev]
    closed = opened + min_days + rng.poisson(mean_extra)
    # Recent complaints are more often still open; closing after the window end means open too.
    p_open = 0.05 + 0.5 * np.exp(-(n_days - 1 - opened) / 45.0)
    still_open = (rng.random(owner.size) < p_open) | (closed > n_days - 1)
    cat_names = list(COMPLAINT_CATEGORIES)
    cat_p = np.array([COMPLAINT_CATEGORIES[c][1] for c in cat_names])
    cat = rng.choice(len(cat_names), owner.size, p=cat_p / cat_p.sum())
    out = pd.DataFrame({"cust": owner, "opened": opened, "closed": closed,
                        "open": still_open, "category": np.array(cat_names, dtype=object)[cat],
                        "severity": np.array(sev_names, dtype=object)[sev]})
    return out.sort_values(["opened", "cust"], kind="stable").reset_index(drop=True)


def _surveys(rng: np.random.Generator, cust: pd.DataFrame, complaints: pd.DataFrame,
             n_days: int, tp: TrueParameters, shift: np.ndarray) -> pd.DataFrame:
    """One answer from ~35 % of buyers in the window's last 12 months.

    Attribute ``j``: ``round(clip(mu_j + l_j * L + e, 1, 10))`` with latent
    ``L = beta * z(logit p) + N(0, 0.8^2)``. Targets: ``c + sum_j w_j * a_j + e - penalty * C``
    rounded and clipped (1-10 and 0-10), ``C`` = complained on or before the survey date; both
    targets move by the ``shift`` of the customer's manager before rounding.
    """
    n = len(cust)
    respondents = np.sort(rng.choice(n, round(tp.survey_share * n), replace=False))
    first = cust["first_day"].to_numpy()[respondents]
    lo = np.maximum(first, n_days - 365)
    day = lo + np.floor(rng.random(respondents.size) * (n_days - lo)).astype(np.int64)
    first_complaint = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_complaint, complaints["cust"].to_numpy(), complaints["opened"].to_numpy())
    complained = first_complaint[respondents] <= day
    latent = (tp.latent_beta_logit_p * cust["z_logit_p"].to_numpy()[respondents]
              + 0.8 * rng.standard_normal(respondents.size))
    raw = (_ATTRIBUTE_MEANS + _ATTRIBUTE_LOADINGS * latent[:, None]
           + _ATTRIBUTE_NOISE_SD * rng.standard_normal((respondents.size, 5)))
    ratings = np.clip(np.round(raw), 1, 10).astype(np.int64)
    sat_w = np.array(list(SATISFACTION_WEIGHTS.values()))
    rec_w = np.array(list(RECOMMEND_WEIGHTS.values()))
    sat = (tp.satisfaction_intercept + ratings @ sat_w
           + tp.satisfaction_noise_sd * rng.standard_normal(respondents.size)
           - tp.complaint_satisfaction_penalty * complained)
    rec = (tp.recommend_intercept + ratings @ rec_w
           + tp.recommend_noise_sd * rng.standard_normal(respondents.size)
           - tp.complaint_recommend_penalty * complained)
    sat = np.clip(np.round(sat + shift[respondents]), 1, 10).astype(np.int64)
    rec = np.clip(np.round(rec + shift[respondents]), 0, 10).astype(np.int64)
    frame = pd.DataFrame(ratings, columns=list(SURVEY_ATTRIBUTES))
    return frame.assign(cust=respondents, day=day, overall=sat, recommend=rec,
                        complained=complained, comment=_comments(rng, sat))


def _comments(rng: np.random.Generator, satisfaction: np.ndarray) -> list[str]:
    level = np.where(satisfaction <= 4, "low", np.where(satisfaction <= 7, "mid", "high"))
    empty = rng.random(satisfaction.size) < 0.3
    return ["" if e else str(rng.choice(_COMMENTS[lv])) for lv, e in zip(level, empty)]


# --------------------------------------------------------------------------- writing

def _write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file in the same folder, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _csv_bytes(frame: pd.DataFrame, encoding: str, line_end: str,
               float_format: str | None = None) -> bytes:
    text = frame.to_csv(index=False, lineterminator=line_end, float_format=float_format)
    return text.encode(encoding)


def _xlsx_bytes(frame: pd.DataFrame, sheet: str, text_columns: Sequence[str],
                date_columns: Sequence[str], money_columns: Sequence[str],
                stamp: dt.datetime) -> bytes:
    """A reproducible xlsx: fixed document times and zip entry times, ids as text cells."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook(write_only=True)
    wb.properties.creator = "analysis.simulation.sample_data"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    ws = wb.create_sheet(sheet)
    ws.append(list(frame.columns))
    formats = {**{c: "@" for c in text_columns}, **{c: "yyyy-mm-dd" for c in date_columns},
               **{c: "#,##0.00" for c in money_columns}}
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        row = []
        for col, value in zip(columns, values):
            if isinstance(value, np.datetime64):
                value = value.astype("datetime64[D]").astype(dt.date)
            elif isinstance(value, pd.Timestamp):
                value = value.date()
            elif isinstance(value, np.floating):
                value = float(value)
            cell = WriteOnlyCell(ws, value=value)
            if col in formats:
                cell.number_format = formats[col]
            row.append(cell)
        ws.append(row)
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _normalise_zip(raw.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps so identical content gives identical bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- orchestration

def _customer_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct 8-digit zero-padded ids; most start with '00' so leading zeros matter."""
    high = max(1_000_000, 20 * n)
    values = np.sort(rng.choice(np.arange(1_000, high), n, replace=False))
    ids = np.array([f"{v:08d}" for v in values], dtype=object)
    return ids[rng.permutation(n)]


def _build_transactions(rng: np.random.Generator, cust: pd.DataFrame, purchases: pd.DataFrame,
                        ids: np.ndarray, start: np.datetime64, n_days: int,
                        tp: TrueParameters) -> tuple[pd.DataFrame, dict]:
    prefs = _customer_preferences(rng, cust)
    lines = _order_lines(rng, cust, purchases, prefs, tp).assign(is_return=False)
    counts = _dirty_counts(len(lines))
    fabricated = _fabricated_orders(rng, cust, lines, prefs, counts, n_days, tp)
    all_days = np.concatenate([lines["day"].to_numpy(), fabricated["day"].to_numpy()])
    order_ids = _assign_order_ids(all_days, start, rng)
    lines = lines.assign(order_id=order_ids[: len(lines)])
    fabricated = fabricated.assign(order_id=order_ids[len(lines):])
    returns = _returns(rng, lines, n_days, tp.return_share)
    clean_lines = pd.concat([lines, returns], ignore_index=True)
    clean_lines = clean_lines.sort_values(["day", "order_id", "is_return"], kind="stable")
    clean_rows = _export_rows(rng, clean_lines, ids, start)
    purchase_rows = clean_rows[~clean_lines["is_return"].to_numpy()]
    dup_pick = np.sort(rng.choice(len(purchase_rows), counts["duplicate"], replace=False))
    duplicates = purchase_rows.iloc[dup_pick]
    kinds = fabricated["kind"].to_numpy()
    broken = _break_rows(rng, _export_rows(rng, fabricated, ids, start), kinds)
    extra = pd.concat([broken, duplicates], ignore_index=True)
    # each row's day (a clean row's, else -1) rides along so later rows can be placed by date
    clean_rows = clean_rows.assign(_day=clean_lines["day"].to_numpy())
    extra = extra.assign(_day=-1)
    table = _place_at_random(rng, clean_rows.reset_index(drop=True), extra)
    row_day = table.pop("_day").to_numpy()
    injected_ids = {k: sorted(fabricated.loc[kinds == k, "order_id"]) for k in counts
                    if k != "duplicate"}
    injected_ids["duplicate"] = sorted(duplicates["订单编号"])
    outliers = fabricated[kinds == "outlier"]
    info = {
        "injected": {**counts, "return_rows": len(returns)},
        "injected_order_ids": injected_ids,
        "outlier_factors": {oid: round(float(f), 4)
                            for oid, f in zip(outliers["order_id"], outliers["factor"])},
        "n_purchase_rows": len(lines),
        "n_clean_rows": len(clean_rows),
        "mean_order_value": float(lines["amount"].mean()),
        "purchase_lines": lines,
        "preferences": prefs,
        "row_day": row_day,
    }
    return table, info


# --------------------------------------------------------------------------- the last quarter's plan

def _quarter_start(start: np.datetime64, n_days: int) -> int:
    """Day index of the first day of the calendar quarter holding the window's last day."""
    end = start + (n_days - 1)
    month = end.astype("datetime64[M]")
    first_month = month - (month.astype(int) % 3)
    return int((first_month.astype("datetime64[D]") - start).astype(int))


def _bgnbd_p_alive(x: np.ndarray, t_x: np.ndarray, t: np.ndarray, tp: TrueParameters) -> np.ndarray:
    """P(alive | x, t_x, T) under BG/NBD with the true parameters (FHL 2005, eq. 11)."""
    x = x.astype(float)
    ratio = np.where(x > 0, tp.a / np.maximum(tp.b + x - 1, 1e-12), 0.0)
    t = np.maximum(t, t_x)  # customers whose first purchase is after the date are not looked at
    return 1.0 / (1.0 + ratio * ((tp.alpha + t) / (tp.alpha + t_x)) ** (tp.r + x))


@dataclass(frozen=True)
class _Plan:
    contacts: pd.DataFrame      # the contact log (export columns)
    orders: pd.DataFrame        # the extra purchase lines of the served customers
    truth: dict


def _plan_covariates(cust: pd.DataFrame, lines: pd.DataFrame, q_start: int,
                     tp: TrueParameters) -> pd.DataFrame:
    """What a manager knew of each customer at the quarter's start (purchases before it)."""
    before = lines[lines["day"].to_numpy() < q_start]
    grouped = before.groupby("cust")
    n = len(cust)
    count = np.bincount(before["cust"].to_numpy(), minlength=n)
    last = np.full(n, -1)
    last[grouped["day"].max().index.to_numpy()] = grouped["day"].max().to_numpy()
    mean_value = np.full(n, np.nan)
    mean_value[grouped["amount"].mean().index.to_numpy()] = grouped["amount"].mean().to_numpy()
    first = cust["first_day"].to_numpy()
    eligible = first < q_start
    x = np.maximum(count - 1, 0)
    p_alive = _bgnbd_p_alive(x, np.maximum(last - first, 0), (q_start - first).astype(float), tp)
    return pd.DataFrame({"eligible": eligible, "x": x, "p_alive": p_alive, "mean_value": mean_value})


def _served(rng: np.random.Generator, covariates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Who was served as planned among the eligible, and their probability of it."""
    eligible = covariates["eligible"].to_numpy()
    n = len(covariates)
    score = np.zeros(n)
    if eligible.any():
        c = covariates[eligible]
        p = np.clip(c["p_alive"].to_numpy(), 1e-6, 1 - 1e-6)
        w = PLAN_PROPENSITY
        score[eligible] = (w["intercept"]
                           + w["logit_p_alive"] * _standardize(np.log(p / (1 - p)))
                           + w["log_repeat_purchases"] * _standardize(np.log1p(c["x"].to_numpy()))
                           + w["log_mean_order_value"] * _standardize(np.log(c["mean_value"].to_numpy())))
    propensity = np.where(eligible, 1.0 / (1.0 + np.exp(-score)), 0.0)
    served = eligible & (rng.random(n) < propensity)
    return served, propensity


def _contact_log(rng: np.random.Generator, cust: pd.DataFrame, served: np.ndarray,
                 eligible: np.ndarray, ids: np.ndarray, start: np.datetime64, q_start: int,
                 n_days: int, managers: pd.DataFrame) -> pd.DataFrame:
    """One row per contact in the quarter: served customers 6+ contacts, the others 0 or 1."""
    n = len(cust)
    count = np.where(served, _SERVED_MIN_CONTACTS + rng.poisson(_SERVED_EXTRA_CONTACTS, n),
                     (rng.random(n) < _UNSERVED_CONTACT_SHARE).astype(np.int64))
    count = np.where(eligible, count, 0)
    owner = np.repeat(np.arange(n), count)
    day = q_start + np.floor(rng.random(owner.size) * (n_days - q_start)).astype(np.int64)
    labels = np.array(list(CONTACT_CHANNELS), dtype=object)
    shares = np.array(list(CONTACT_CHANNELS.values()))
    channel = labels[rng.choice(labels.size, owner.size, p=shares / shares.sum())]
    names = managers["name"].to_numpy()[cust["manager"].to_numpy()[owner]]
    log = pd.DataFrame({"客户编号": ids[owner], "联系日期": (start + day).astype(str),
                        "联系方式": channel, "客户经理": names}, dtype=object)
    return log.sort_values(["联系日期", "客户编号"], kind="stable").reset_index(drop=True)


def _plan(rng: np.random.Generator, cust: pd.DataFrame, purchases: pd.DataFrame, tx_info: dict,
          ids: np.ndarray, start: np.datetime64, n_days: int, tp: TrueParameters,
          managers: pd.DataFrame) -> _Plan | None:
    """The contact log of the window's last quarter and the purchases being served added.

    Every eligible customer (first purchase before the quarter) gets both potential outcomes: the
    BG/NBD purchases as drawn, and those plus the extra purchases serving would bring (rate
    ``(PLAN_RATE_MULTIPLIER - 1) * lambda`` from the quarter's start while the customer is alive,
    one purchase a day, not counted towards dropout). Only the served customers' extra purchases
    are written; the true effects are the differences of the two outcomes. None when the window
    holds no whole earlier history before the quarter.
    """
    q_start = _quarter_start(start, n_days)
    if q_start <= 0:
        return None
    lines = tx_info["purchase_lines"]
    covariates = _plan_covariates(cust, lines, q_start, tp)
    eligible = covariates["eligible"].to_numpy()
    served, propensity = _served(rng, covariates)
    contacts = _contact_log(rng, cust, served, eligible, ids, start, q_start, n_days, managers)

    n = len(cust)
    owner_all, day_all = purchases["cust"].to_numpy(), purchases["day"].to_numpy()
    n_rep = np.bincount(owner_all, minlength=n) - 1
    last_day = np.full(n, -1)
    np.maximum.at(last_day, owner_all, day_all)
    dropped = n_rep >= cust["dropout_after"].to_numpy()
    alive_until = np.where(dropped, last_day, n_days - 1)
    exposure = np.where(eligible, np.maximum(alive_until - q_start + 1, 0), 0)
    n_extra = rng.poisson((PLAN_RATE_MULTIPLIER - 1) * cust["lam"].to_numpy() * exposure)
    owner = np.repeat(np.arange(n), n_extra)
    day = q_start + np.floor(rng.random(owner.size) * exposure[owner]).astype(np.int64)
    width = n_days + 1
    taken = set((owner_all * width + day_all).tolist())
    key = owner * width + day
    _, first_of_key = np.unique(key, return_index=True)
    keep = np.zeros(owner.size, dtype=bool)
    keep[first_of_key] = True
    keep &= ~np.isin(key, list(taken))
    extra = pd.DataFrame({"cust": owner[keep], "day": day[keep]}).sort_values(["day", "cust"])
    extra_lines = _order_lines(rng, cust, extra.reset_index(drop=True),
                               tx_info["preferences"], tp).assign(is_return=False)

    in_quarter = lines["day"].to_numpy() >= q_start
    spend0 = np.bincount(lines["cust"].to_numpy()[in_quarter],
                         weights=lines["amount"].to_numpy()[in_quarter], minlength=n)
    bought0 = np.bincount(lines["cust"].to_numpy()[in_quarter], minlength=n) > 0
    gain = np.bincount(extra_lines["cust"].to_numpy(), weights=extra_lines["amount"].to_numpy(),
                       minlength=n)
    bought1 = bought0 | (np.bincount(extra_lines["cust"].to_numpy(), minlength=n) > 0)
    effect_bought = (bought1.astype(float) - bought0)[eligible]
    effect_spend = gain[eligible]
    on = served[eligible]
    observed_bought = np.where(served, bought1, bought0)[eligible]
    written = extra_lines[served[extra_lines["cust"].to_numpy()]].reset_index(drop=True)
    quarter_end = start + (n_days - 1)
    truth = {
        "quarter": {"start": str(start + q_start), "end": str(quarter_end)},
        "treatment": "served as planned in the quarter: at least "
                     f"{_SERVED_MIN_CONTACTS} contacts (2 or more a month, at least every tier's cadence "
                     "of the default 4-tier playbook); an unserved customer has 0 or 1 contact (under "
                     "0.5 a month, below every tier's cadence)",
        "effect": "while alive in the quarter a served customer buys at rate_multiplier x lambda: "
                  "extra purchases at rate (rate_multiplier - 1) x lambda from the quarter's start to "
                  "the dropout (one a day, not counted towards dropout), Gamma-Gamma amounts",
        "rate_multiplier": PLAN_RATE_MULTIPLIER,
        "propensity": {**PLAN_PROPENSITY,
                       "form": "logit P(served) = intercept + sum(weight * z(covariate)) over the "
                               "customers with a first purchase before the quarter; p_alive is BG/NBD "
                               "P(alive) with the true parameters at the quarter's start, repeat "
                               "purchases and mean order value those before it"},
        "population": "customers with a first purchase before the quarter's start",
        "eligible": int(eligible.sum()),
        "served": int(on.sum()),
        "propensity_range": [round(float(propensity[eligible].min()), 4),
                             round(float(propensity[eligible].max()), 4)] if eligible.any() else None,
        "outcomes": {
            "bought": "bought at least once in the quarter (a purchase, returns aside)",
            "spend": "amount bought in the quarter, returns aside (元)",
            "nps": "survey answers are not changed by the plan: true effect 0",
        },
        "ate": {"bought": float(effect_bought.mean()) if on.size else None,
                "spend": float(effect_spend.mean()) if on.size else None, "nps": 0.0},
        "att": {"bought": float(effect_bought[on].mean()) if on.any() else None,
                "spend": float(effect_spend[on].mean()) if on.any() else None, "nps": 0.0},
        "naive": {"bought": float(observed_bought[on].mean() - observed_bought[~on].mean())
                  if on.any() and (~on).any() else None},
        "definition": "ate/att: the mean over the eligible (served) customers of this sample of the "
                      "outcome with the extra purchases minus without them (both potential outcomes "
                      "are drawn for every eligible customer); naive: mean observed outcome of the "
                      "served minus the unserved",
        "extra_purchases": len(written),
        "contacts": len(contacts),
        "spend_without_plan_mean": float(spend0[eligible].mean()) if eligible.any() else None,
    }
    return _Plan(contacts, written, truth)


def _add_plan_orders(rng: np.random.Generator, table: pd.DataFrame, row_day: np.ndarray,
                     orders: pd.DataFrame, ids: np.ndarray, start: np.datetime64) -> tuple[pd.DataFrame, list[str]]:
    """The transactions with the plan's extra orders, each after the last clean row of its day or before.

    Their order numbers continue each year's sequence after the largest number in the export, so
    every earlier row keeps its number and its place.
    """
    if orders.empty:
        return table, []
    years = (start + orders["day"].to_numpy()).astype("datetime64[Y]").astype(int) + 1970
    existing = table["订单编号"].astype(str)
    order_ids = np.empty(len(orders), dtype=object)
    for year in np.unique(years):
        prefix = f"SO{year}"
        taken = existing[existing.str.startswith(prefix)].str.slice(len(prefix))
        top = int(pd.to_numeric(taken, errors="coerce").max()) if len(taken) else 0
        rows = np.flatnonzero(years == year)
        order_ids[rows] = [f"{prefix}{top + k:06d}" for k in range(1, rows.size + 1)]
    rows = _export_rows(rng, orders.assign(order_id=order_ids), ids, start)
    clean_at = np.flatnonzero(row_day >= 0)
    slot = np.searchsorted(row_day[clean_at], orders["day"].to_numpy(), side="right") - 1
    keys = np.concatenate([np.arange(len(table), dtype=float),
                           np.where(slot >= 0, clean_at[np.maximum(slot, 0)], -1) + 0.5])
    both = pd.concat([table, rows], ignore_index=True)
    return both.iloc[np.argsort(keys, kind="stable")].reset_index(drop=True), sorted(order_ids)


def _contacts_file(contacts: pd.DataFrame) -> dict[str, tuple[bytes, str, int]]:
    return {"contacts.csv": (_csv_bytes(contacts, "utf-8-sig", "\r\n"), "utf-8-sig", len(contacts))}


def _complaint_table(complaints: pd.DataFrame, ids: np.ndarray,
                     start: np.datetime64) -> pd.DataFrame:
    opened = start + complaints["opened"].to_numpy()
    closed = (start + complaints["closed"].to_numpy()).astype(str)
    return pd.DataFrame({
        "客户编号": ids[complaints["cust"].to_numpy()],
        "投诉日期": opened.astype(str),
        "解决日期": np.where(complaints["open"].to_numpy(), "", closed),
        "投诉类别": complaints["category"].to_numpy(),
        "严重程度": complaints["severity"].to_numpy(),
    }, dtype=object)


def _survey_table(surveys: pd.DataFrame, ids: np.ndarray, start: np.datetime64) -> pd.DataFrame:
    out = pd.DataFrame({"客户编号": ids[surveys["cust"].to_numpy()],
                        "调查日期": (start + surveys["day"].to_numpy()).astype(str)}, dtype=object)
    for col in SURVEY_ATTRIBUTES:
        out[col] = surveys[col].to_numpy()
    out["总体满意度"] = surveys["overall"].to_numpy()
    out["推荐意愿"] = surveys["recommend"].to_numpy()
    out["意见"] = surveys["comment"].to_numpy()
    return out.sort_values(["调查日期", "客户编号"], kind="stable").reset_index(drop=True)


def _customer_truth(cust: pd.DataFrame, purchases: pd.DataFrame, ids: np.ndarray,
                    start: np.datetime64, n_days: int, managers: pd.DataFrame) -> pd.DataFrame:
    n_rep = np.bincount(purchases["cust"].to_numpy(), minlength=len(cust)) - 1
    last_day = purchases.groupby("cust")["day"].max().to_numpy()
    dropped = n_rep >= cust["dropout_after"].to_numpy()
    return pd.DataFrame({
        "customer_id": ids[: len(cust)],
        "segment": np.where(cust["is_b2b"].to_numpy(), "B2B", "B2C"),
        "first_purchase": (start + cust["first_day"].to_numpy()).astype(str),
        "T_days": n_days - cust["first_day"].to_numpy(),
        "lambda": cust["lam"].to_numpy(),
        "p": cust["p_drop"].to_numpy(),
        "nu": cust["nu"].to_numpy(),
        "mean_order_value": cust["mean_spend"].round(2).to_numpy(),
        "repeat_purchases": n_rep,
        "alive_at_end": ~dropped,
        "dropout_date": np.where(dropped, (start + last_day).astype(str), ""),
        "manager_id": managers["manager_id"].to_numpy()[cust["manager"].to_numpy()],
    })


def _customers_file(master: pd.DataFrame, customers_format: str,
                    stamp: dt.datetime) -> dict[str, tuple[bytes, str, int]]:
    """The customer master as ``customers.xlsx`` (sheet 客户信息) or ``customers.csv`` (utf-8-sig)."""
    if customers_format == "csv":
        return {"customers.csv": (_csv_bytes(master, "utf-8-sig", "\r\n"), "utf-8-sig", len(master))}
    workbook = _xlsx_bytes(master, "客户信息", ["客户编号", "联系电话"], ["注册日期"], ["存款余额"], stamp)
    return {"customers.xlsx": (workbook, "xlsx", len(master))}


def generate_sample_data(out_dir: str | Path, *, seed: int = 20261122, n_customers: int = 5000,
                         start: str = "2023-01-01", end: str = "2025-12-31",
                         customers_format: str = "xlsx") -> dict:
    """Generate the sample CRM export into ``out_dir`` and return the truth it was drawn from.

    Files (each written atomically): ``transactions.csv`` (utf-8-sig), ``customers.xlsx`` (sheet
    客户信息), ``surveys.csv`` (gbk), ``complaints.csv`` (utf-8), ``managers.csv`` (utf-8-sig, the
    account managers), ``contacts.csv`` (utf-8-sig, the last quarter's contact log),
    ``truth_customers.csv`` (utf-8, per-customer latent values) and ``truth.json``.

    Parameters
    ----------
    out_dir : folder to write into (created if missing).
    seed : seed of ``numpy.random.SeedSequence``; the same seed gives byte-identical files.
    n_customers : number of buying customers; ~3 % prospects who never bought are added.
    start, end : ISO dates of the observation window (inclusive).
    customers_format : ``"xlsx"``, or ``"csv"`` for ``customers.csv`` (utf-8-sig, the same columns)
        instead: writing a workbook of hundreds of thousands of customers takes many minutes.

    Returns
    -------
    dict
        The content of ``truth.json``.
    """
    _check_size(n_customers)
    if customers_format not in ("xlsx", "csv"):
        raise SampleDataError(f"customers_format={customers_format!r}: use 'xlsx' or 'csv'.")
    start_d, n_days = _parse_window(start, end)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tp = TrueParameters()
    # one stream per part; a part added later takes a new child, so the earlier parts keep their draws
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(9)]
    rng_cust, rng_buy, rng_tx, rng_master, rng_comp, rng_survey, rng_ids, rng_staff, rng_plan = streams

    n_prospects = round(tp.prospect_share * n_customers)
    ids = _customer_ids(rng_ids, n_customers + n_prospects)
    cust = _draw_customers(rng_cust, n_customers, n_days, tp)
    managers = _managers(rng_staff, start_d)
    cust = _assign_managers(rng_staff, cust, managers)
    effect = managers["retention_effect"].to_numpy()[cust["manager"].to_numpy()]
    dealt = _deal_dropout_probabilities(rng_staff, cust["p_drop"].to_numpy(), effect)
    cust = _settle_dropout(rng_cust, cust, dealt)
    purchases = _simulate_purchase_days(rng_buy, cust, n_days)
    transactions, tx_info = _build_transactions(rng_tx, cust, purchases, ids, start_d, n_days, tp)
    master = _customer_master(rng_master, cust, n_prospects, ids, start_d, n_days, tp, managers)
    n_master_dups = max(1, round(_CUSTOMER_DUPLICATE_SHARE * len(master)))
    master_dups = master.iloc[np.sort(rng_master.choice(len(master), n_master_dups, replace=False))]
    master_out = _place_at_random(rng_master, master.sort_values("客户编号").reset_index(drop=True),
                                  master_dups)
    complaints = _complaints(rng_comp, cust, purchases, n_days, tp)
    shift = managers["satisfaction_shift"].to_numpy()[cust["manager"].to_numpy()]
    surveys = _surveys(rng_survey, cust, complaints, n_days, tp, shift)
    cust_truth = _customer_truth(cust, purchases, ids, start_d, n_days, managers)
    plan = _plan(rng_plan, cust, purchases, tx_info, ids, start_d, n_days, tp, managers)
    plan_order_ids: list[str] = []
    if plan is not None:
        transactions, plan_order_ids = _add_plan_orders(rng_plan, transactions, tx_info["row_day"],
                                                        plan.orders, ids, start_d)

    stamp = dt.datetime.combine(dt.date.fromisoformat(str(end)), dt.time(0, 0))
    files = {
        "transactions.csv": (_csv_bytes(transactions, "utf-8-sig", "\r\n"), "utf-8-sig",
                             len(transactions)),
        **_customers_file(master_out, customers_format, stamp),
        "surveys.csv": (_csv_bytes(_survey_table(surveys, ids, start_d), "gbk", "\r\n"), "gbk",
                        len(surveys)),
        "complaints.csv": (_csv_bytes(_complaint_table(complaints, ids, start_d), "utf-8", "\n"),
                           "utf-8", len(complaints)),
        "managers.csv": (_csv_bytes(_manager_table(managers), "utf-8-sig", "\r\n"), "utf-8-sig",
                         len(managers)),
        **(_contacts_file(plan.contacts) if plan is not None else {}),
        "truth_customers.csv": (_csv_bytes(cust_truth, "utf-8", "\n", "%.8g"), "utf-8",
                                len(cust_truth)),
    }
    for name, (data, _, _) in files.items():
        _write_atomic(out / name, data)

    truth = _truth_dict(seed, n_customers, n_prospects, start, end, n_days, tp, cust, purchases,
                        tx_info, master_dups, complaints, surveys, cust_truth, files)
    truth["managers"] = _manager_truth(managers, cust)
    truth["manager_model"] = {
        "retention": "the book's Beta(a, b) p draws dealt out by score = retention_effect + N(0, 1), the "
                     "highest p to the lowest score (Gaussian copula; the set of p values is unchanged); "
                     "dropout_multiplier = mean p of the manager's buyers / mean p of the book",
        "satisfaction": "satisfaction_shift added to overall satisfaction and recommendation before "
                        "rounding",
        "assignment": "within the region, P(manager j) ~ w_level * exp(b_level * v), v = z(z(log mean "
                      "spend) + 0.8 z(-first purchase day)); b = +1 senior, 0 middle, -1 junior",
        "effects_sd": {"retention": _MANAGER_RETENTION_SD, "satisfaction": _MANAGER_SATISFACTION_SD},
        "levels": {code: label for code, (label, *_) in MANAGER_LEVELS.items()},
    }
    truth["plan_effect"] = None if plan is None else {**plan.truth, "order_ids": plan_order_ids}
    _write_atomic(out / "truth.json",
                  (json.dumps(truth, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return truth


def _truth_dict(seed: int, n_customers: int, n_prospects: int, start: str, end: str, n_days: int,
                tp: TrueParameters, cust: pd.DataFrame, purchases: pd.DataFrame, tx_info: dict,
                master_dups: pd.DataFrame, complaints: pd.DataFrame, surveys: pd.DataFrame,
                cust_truth: pd.DataFrame, files: dict) -> dict:
    n_rep = cust_truth["repeat_purchases"].to_numpy()
    expected_rep = expected_repeat_purchases(cust_truth["T_days"].to_numpy(), tp.r, tp.alpha,
                                             tp.a, tp.b)
    attrs_en = {zh: {"name": name, "en": en} for zh, (name, en) in SURVEY_ATTRIBUTES.items()}
    n_open = int(complaints["open"].sum())
    return {
        "seed": int(seed),
        "n_customers": int(n_customers),
        "n_prospects": int(n_prospects),
        "start": str(start),
        "end": str(end),
        "time_unit": "D",
        "bgnbd": {"r": tp.r, "alpha": tp.alpha, "a": tp.a, "b": tp.b},
        "gamma_gamma": {"p": tp.p, "q": tp.q, "gamma": tp.gamma},
        "purchase_process": {
            "model": "BG/NBD, Fader, Hardie & Lee (2005); dropout after each repeat purchase",
            "first_purchase": "uniform day in the window, first year "
                              f"{tp.first_year_weight:g}x denser",
            "same_day_rule": "a draw on a day the customer already bought is skipped (one purchase "
                             "per customer and day), so counts run ~2-3 % below E[X(t)]",
            "T": "days from the first purchase to the end of the window, end day included",
        },
        "expected": {
            "mean_order_value": expected_order_value(tp.p, tp.q, tp.gamma),
            "mean_repeat_purchases": float(expected_rep.mean()),
        },
        "observed": {
            "purchases": len(purchases),
            "customers_with_repeat": int((n_rep > 0).sum()),
            "share_with_repeat": float((n_rep > 0).mean()),
            "mean_repeat_purchases": float(n_rep.mean()),
            "mean_order_value": round(tx_info["mean_order_value"], 4),
            "alive_at_end": int(cust_truth["alive_at_end"].sum()),
            "b2b_customers": int(cust["is_b2b"].sum()),
            "complaints": len(complaints),
            "complaints_open": n_open,
            "customers_with_complaint": int(complaints["cust"].nunique()),
            "survey_responses": len(surveys),
            "respondents_with_prior_complaint": int(surveys["complained"].sum()),
        },
        "satisfaction_weights": dict(SATISFACTION_WEIGHTS),
        "satisfaction_intercept": tp.satisfaction_intercept,
        "satisfaction_noise_sd": tp.satisfaction_noise_sd,
        "recommend_weights": dict(RECOMMEND_WEIGHTS),
        "recommend_intercept": tp.recommend_intercept,
        "recommend_noise_sd": tp.recommend_noise_sd,
        "complaint_satisfaction_penalty": tp.complaint_satisfaction_penalty,
        "complaint_recommend_penalty": tp.complaint_recommend_penalty,
        "survey_model": "target = intercept + sum(weight * rating) + N(0, sd^2) - penalty * "
                        "[complaint on or before the survey date], rounded, clipped to 1-10 "
                        "(satisfaction) or 0-10 (recommend); ratings share a latent that falls "
                        "with logit(p)",
        "survey_attributes": attrs_en,
        "complaint_model": {"base_rate": tp.complaint_base_rate,
                            "beta_logit_p": tp.complaint_beta_logit_p,
                            "form": "count ~ Poisson(base_rate * exp(beta * z(logit p)))"},
        "categories": {k: {"en": v[0], "cost_ratio": v[1], "mean_quantity": v[2]}
                       for k, v in CATEGORIES.items()},
        "channels": dict(CHANNELS),
        "formats": {"amount": _AMOUNT_FORMAT_SHARES, "order_date": _DATE_FORMAT_SHARES},
        "injected": {
            "transactions": tx_info["injected"],
            "customers": {"duplicate": len(master_dups)},
        },
        "injected_order_ids": tx_info["injected_order_ids"],
        "injected_customer_ids": {"duplicate": sorted(master_dups["客户编号"])},
        "outlier_factors": tx_info["outlier_factors"],
        "balance_class1_threshold": _BALANCE_CLASS1_THRESHOLD,
        "columns": {"transactions.csv": TRANSACTION_COLUMNS, "managers.csv": MANAGER_COLUMNS,
                    next(n for n in files if n.startswith("customers.")): CUSTOMER_COLUMNS,
                    "surveys.csv": SURVEY_COLUMNS, "complaints.csv": COMPLAINT_COLUMNS,
                    **({"contacts.csv": CONTACT_COLUMNS} if "contacts.csv" in files else {})},
        "files": {name: {"encoding": enc, "sha256": _sha256(data), "rows": rows,
                         **({"sheet": "客户信息"} if name.endswith(".xlsx") else {})}
                  for name, (data, enc, rows) in files.items()},
        "rows": {name.rsplit(".", 1)[0]: rows for name, (_, _, rows) in files.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m analysis.simulation.sample_data OUT_DIR [--seed N] [--n-customers N]``."""
    parser = argparse.ArgumentParser(prog="python -m analysis.simulation.sample_data",
                                     description="Write the deterministic sample CRM export.")
    parser.add_argument("out_dir", help="folder to write into, e.g. data/raw/sample")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--n-customers", type=int, default=5000)
    parser.add_argument("--start", default="2023-01-01")
    parser.add_argument("--end", default="2025-12-31")
    args = parser.parse_args(argv)
    try:
        generate_sample_data(args.out_dir, seed=args.seed, n_customers=args.n_customers,
                             start=args.start, end=args.end)
    except SampleDataError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
