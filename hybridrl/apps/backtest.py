"""Backtest every policy on real network history (a Hydra app; configs/backtest.yaml).

    hybridrl-backtest data=btc_daily_coinmetrics.csv                     # 2020-01-01 to the file's end
    hybridrl-backtest data=<csv> start=2022-01-01 end=2024-12-31 seeds=8 oracle=false
    hybridrl-backtest data=<csv> runs=[outputs/train/<run>] mpc=[]

Writes the benchmark's report (paths.csv, summary.csv, summary.md, pairs.csv, plots/) and
replay.csv and per_year.csv into the output directory and prints the summary table.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from hybridrl.agents.config import BacktestConfig, register_configs
from hybridrl.apps import run_report_app
from hybridrl.resources import configs_dir

register_configs()


@hydra.main(config_path=str(configs_dir()), config_name="backtest", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hybridrl.evaluation.backtest import run_backtest_from_config

    run_report_app(
        cfg,
        BacktestConfig,
        run_backtest_from_config,
        "summary.md, summary.csv, paths.csv, pairs.csv, replay.csv, per_year.csv, plots/",
    )


if __name__ == "__main__":
    main()
