"""Export a training run's policy for the production scheduler (a Hydra app; configs/export.yaml).

    hybridrl-export run_dir=outputs/train/<run> out=exported/<name> [which=best|final] [verbose=true]
                    [sign_key=<Ed25519 private key, PEM>]

Writes policy.onnx (one self-contained file: observation normalisation, the deterministic
policy and the action mapping to physical units inside) and policy.json (schema and environment
versions, scenario name and hash, input fields with units and ranges, the feature spec,
decision fields with units, site limits, sha256 hashes binding both files, where it was
trained). Load it with hybridrl.scheduler.Scheduler.load(out) or the hybridrl-schedule command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from hybridrl.agents.files import MODELS, RUN_FILE
from hybridrl.apps import fail, typed_config
from hybridrl.resources import configs_dir


@dataclass
class ExportConfig:
    run_dir: str = MISSING
    out: str = MISSING
    which: str = "best"
    verbose: bool = False
    """Show the ONNX exporter's progress lines and INFO logs."""
    sign_key: str | None = None
    """An Ed25519 private key (PEM): sign both files into policy.sig."""


ConfigStore.instance().store(name="export_schema", node=ExportConfig)


@hydra.main(config_path=str(configs_dir()), config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    conf = typed_config(cfg, ExportConfig)
    problems = []
    if not (Path(conf.run_dir) / RUN_FILE).is_file():
        problems.append(f"run_dir: {conf.run_dir!r} is not a training run directory (no run.json)")
    if conf.which not in MODELS:
        problems.append(f"which: must be best or final, got {conf.which!r}")
    if problems:
        fail("invalid configuration:\n  " + "\n  ".join(problems))
    from hybridrl.export.onnx_export import export_policy

    try:
        meta = export_policy(
            conf.run_dir, conf.out, which=conf.which, verbose=conf.verbose, sign_key=conf.sign_key
        )
    except ValueError as err:
        fail(err)
    print(f"exported {meta['algo']} ({conf.which}) trained on {meta['scenario']} to {conf.out}")
    print(f"policy.onnx sha256 {meta['onnx_sha256']}")


if __name__ == "__main__":
    main()
