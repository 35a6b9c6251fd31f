"""Synthetic customers and account managers for the assignment benchmark, deterministic per seed.

- managers: 20 % senior, 35 % middle, 45 % junior, spread over 10 regions, 100–140 hours a month;
  senior and middle managers hold at most 400 accounts, junior ones have no account limit;
- customers: tiers 1–4 in shares 2 / 8 / 30 / 60 % (the default 4-tier playbook: tier 4 is served
  digitally), a uniform region, 70 % with a current manager drawn at random (so many sit with a
  manager of another region or level), value log-normal (median e⁶ ≈ 400, σ = 1.2);
- rules: the default 4-tier playbook's levels and hours (2×45, 1×30, 0.5×15 minutes a month), the
  hours curve's u_max 0.2 / 0.15 / 0.12 with k = half the playbook's hours, the hard region rule and
  a switching cost of 5.

Capacity binds on purpose: at 1M customers and 500 managers the staffed tiers need 107,500 hours a
month (30,000 senior, 40,000 middle, 37,500 junior) against about 60,000, so the capacity
constraints, the rounding, the reasons and the capacity plan are all exercised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.methods.assignment import AssignmentRules

REGIONS = [f"R{i:02d}" for i in range(10)]


def synthetic_assignment(customers: int, managers: int, seed: int = 2024) -> tuple[pd.DataFrame, pd.DataFrame, AssignmentRules]:
    rng = np.random.default_rng(seed)
    level = rng.choice(["senior", "middle", "junior"], managers, p=[0.2, 0.35, 0.45])
    mgr = pd.DataFrame({
        "manager_id": [f"m{i:05d}" for i in range(managers)],
        "level": level,
        "region": rng.choice(REGIONS, managers),
        "hours": rng.uniform(100.0, 140.0, managers).round(1),
        "max_accounts": np.where(level == "junior", np.nan, 400.0),
    })
    cust = pd.DataFrame({
        "customer_id": np.arange(customers),
        "tier": rng.choice([1, 2, 3, 4], customers, p=[0.02, 0.08, 0.30, 0.60]),
        "region": rng.choice(REGIONS, customers),
        "current_manager": np.where(rng.random(customers) < 0.7, rng.choice(mgr["manager_id"].to_numpy(), customers),
                                    None),
        "value": rng.lognormal(6.0, 1.2, customers),
    })
    hours = {1: 1.5, 2: 0.5, 3: 0.125}
    rules = AssignmentRules(
        required_level={1: "senior", 2: "middle", 3: "junior", 4: "none"},
        hours_per_customer=hours,
        u_max={1: 0.2, 2: 0.15, 3: 0.12},
        k_hours={t: h / 2 for t, h in hours.items()},
        region="hard",
        switching_cost=5.0,
    )
    return cust, mgr, rules
