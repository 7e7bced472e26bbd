"""Benchmark every policy on the same held-out paths (a Hydra app; configs/benchmark.yaml).

    hybridrl-benchmark                                   # default scenario, 32 seeds
    hybridrl-benchmark preset=demo                       # `make demo`: PPO trained on the fly
    hybridrl-benchmark runs=[outputs/train/<run>] seeds=64
    hybridrl-benchmark env=ai_boom mpc=[] oracle_time_limit_s=60 logger=wandb

Writes paths.csv, summary.csv, summary.md, pairs.csv and plots/*.png into the output directory
(see hybridrl/evaluation/report.py) and prints the summary table.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from hybridrl.agents.config import BenchmarkConfig, register_configs
from hybridrl.apps import run_report_app
from hybridrl.resources import configs_dir

register_configs()


@hydra.main(config_path=str(configs_dir()), config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hybridrl.evaluation.benchmark import run_from_config

    run_report_app(
        cfg, BenchmarkConfig, run_from_config, "summary.md, summary.csv, paths.csv, pairs.csv, plots/"
    )


if __name__ == "__main__":
    main()
