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
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from hybridrl.agents.config import BenchmarkConfig, register_configs
from hybridrl.apps import fail, typed_config
from hybridrl.resources import configs_dir

register_configs()


@hydra.main(config_path=str(configs_dir()), config_name="benchmark", version_base="1.3")
def main(cfg: DictConfig) -> None:
    bench_cfg = typed_config(cfg, BenchmarkConfig)
    from hybridrl.evaluation.benchmark import run_from_config

    out = HydraConfig.get().runtime.output_dir
    try:
        run_from_config(bench_cfg, out, log=lambda line: print(line, flush=True))
    except ValueError as err:  # e.g. held-out seeds that a run trained on
        fail(err)
    print()
    print(open(f"{out}/summary.md").read())
    print(f"report and plots: {out} (summary.md, summary.csv, paths.csv, pairs.csv, plots/)")


if __name__ == "__main__":
    main()
