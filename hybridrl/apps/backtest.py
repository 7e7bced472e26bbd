"""Backtest every policy on real network history (a Hydra app; configs/backtest.yaml).

    hybridrl-backtest data=btc_daily_coinmetrics.csv                     # 2020-01-01 to the file's end
    hybridrl-backtest data=<csv> start=2022-01-01 end=2024-12-31 seeds=8 oracle=false
    hybridrl-backtest data=<csv> runs=[outputs/train/<run>] mpc=[]

Writes the benchmark's report (paths.csv, summary.csv, summary.md, pairs.csv, plots/) and
replay.csv and per_year.csv into the output directory and prints the summary table.
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hybridrl.agents.config import BacktestConfig, register_configs
from hybridrl.apps import fail, typed_config
from hybridrl.resources import configs_dir

register_configs()


@hydra.main(config_path=str(configs_dir()), config_name="backtest", version_base="1.3")
def main(cfg: DictConfig) -> None:
    backtest_cfg = typed_config(cfg, BacktestConfig)
    from hybridrl.evaluation.backtest import run_backtest_from_config

    out = HydraConfig.get().runtime.output_dir
    try:
        run_backtest_from_config(backtest_cfg, out, log=lambda line: print(line, flush=True))
    except ValueError as err:  # a bad file or window, or held-out seeds a run trained on
        fail(err)
    print()
    print(open(f"{out}/summary.md").read())
    print(
        f"report and plots: {out} (summary.md, summary.csv, paths.csv, pairs.csv, replay.csv, "
        "per_year.csv, plots/)"
    )


if __name__ == "__main__":
    main()
