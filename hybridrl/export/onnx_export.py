"""Export a training run's policy as one ONNX file plus ``policy.json`` (needs torch, onnx).

The graph maps the raw observation (the environment's feature vector) to
``action`` (B, A) in [-1, 1] and ``decision`` (B, D) in physical units: VecNormalize's
observation statistics, the deterministic policy head (PPO/A2C: the Gaussian mean clipped to
[-1, 1]; SAC: tanh of the mean; TD3: the actor), and the action decoding of
:func:`hybridrl.export.spec.decision_fields` are all inside it. ``policy.json`` carries
everything the scheduler needs besides: input fields with units and ranges, the feature spec,
decision fields, site limits, and hashes binding the two files to each other.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hybridrl.agents.best import model_dir, model_step
from hybridrl.agents.files import MODEL_FILE, MODELS, NORMALIZER_FILE, RUN_FILE
from hybridrl.agents.policy import ObservationNormalizer
from hybridrl.agents.run_scenario import load_run_scenario, refuse_catalogue_mismatch
from hybridrl.env.encoding import action_layout
from hybridrl.export.spec import decision_fields, feature_spec, site_metadata
from hybridrl.scheduler.runtime import (
    JSON_FILE,
    METADATA_HASH_KEY,
    ONNX_FILE,
    SUPPORTED_ENV,
    SUPPORTED_SCHEMA_VERSIONS,
    metadata_digest,
)
from hybridrl.scheduler.signing import SIGNATURE_FILE
from hybridrl.sim.plant import Plant

SCHEMA_VERSION = SUPPORTED_SCHEMA_VERSIONS[-1]


def _policy_module(
    model: Any, algo: str, normalizer: ObservationNormalizer, fields: list[dict[str, Any]]
) -> Any:
    import torch

    class Exported(torch.nn.Module):
        mean: torch.Tensor
        std: torch.Tensor
        index: torch.Tensor
        mult: torch.Tensor
        is_fraction: torch.Tensor
        is_positive: torch.Tensor
        is_floor: torch.Tensor
        is_round: torch.Tensor
        is_flag: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.policy = model.policy
            # normalisation in float64, as VecNormalize does it, then float32 for the network
            self.register_buffer("mean", torch.tensor(normalizer.mean, dtype=torch.float64))
            std = np.sqrt(normalizer.var + normalizer.epsilon)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float64))
            self.clip = float(normalizer.clip)
            self.register_buffer("index", torch.tensor([f["index"] for f in fields], dtype=torch.long))
            kinds = ("fraction", "positive", "floor", "round", "flag")
            for kind in kinds:
                self.register_buffer(
                    f"is_{kind}",
                    torch.tensor([float(f["kind"] == kind) for f in fields], dtype=torch.float64),
                )
            self.register_buffer("mult", torch.tensor([f["scale"] for f in fields], dtype=torch.float64))

        def forward(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = torch.clamp((observation.double() - self.mean) / self.std, -self.clip, self.clip).float()
            policy = self.policy
            if algo in ("ppo", "a2c"):
                features = policy.pi_features_extractor(z)
                action = policy.action_net(policy.mlp_extractor.forward_actor(features))
            elif algo == "sac":
                mean_actions, _, _ = policy.actor.get_action_dist_params(z)
                action = torch.tanh(mean_actions)
            elif algo == "td3":
                action = policy.actor(z)
            else:
                raise ValueError(f"cannot export {algo}")
            action = torch.clamp(action, -1.0, 1.0)
            a = action[:, self.index].double()  # physical units in float64
            positive = torch.clamp(a, min=0.0) * self.mult
            decision = (
                self.is_fraction * (a + 1.0) * 0.5
                + self.is_positive * positive
                + self.is_floor * torch.floor(positive)
                + self.is_round * torch.round(positive)
                + self.is_flag * (a > 0.0).to(a.dtype)
            )
            return action, decision

    return Exported().eval()


QUIET_LOGGERS = ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")
"""The exporter's progress and INFO loggers, kept at WARNING (errors still show) unless verbose."""


@contextlib.contextmanager
def _exporter_quiet(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_policy(
    run_dir: str | Path,
    out_dir: str | Path,
    which: str = "best",
    verbose: bool = False,
    sign_key: str | Path | None = None,
) -> dict[str, Any]:
    """Write ``policy.onnx`` and ``policy.json`` for a training run into ``out_dir``, and with
    ``sign_key`` (an Ed25519 private key, PEM) ``policy.sig``; the ONNX exporter's progress
    lines and INFO logs show only if ``verbose``."""
    import onnx
    import torch

    from hybridrl.agents.factory import algorithm_class

    run_dir, out = Path(run_dir), Path(out_dir)
    meta_run = json.loads((run_dir / RUN_FILE).read_text())
    algo = meta_run["algo"]
    if algo == "recurrent_ppo":
        raise ValueError(
            "recurrent policies carry an LSTM state between decisions; exporting them is not supported"
        )
    if meta_run.get("env_id", SUPPORTED_ENV[0]) != SUPPORTED_ENV[0]:
        raise ValueError(
            f"{run_dir} was trained on {meta_run['env_id']}: only {SUPPORTED_ENV[0]} policies can be "
            "exported so far (the scheduler does not yet dispatch by the rule between epochs)"
        )
    if which not in MODELS:
        raise ValueError(f"which must be one of {MODELS}, got {which!r}")
    folder = model_dir(run_dir, which)
    params = load_run_scenario(run_dir)
    refuse_catalogue_mismatch(params, run_dir)
    plant = Plant(params)
    model = algorithm_class(algo).load(folder / MODEL_FILE, device="cpu")
    normalizer = (
        ObservationNormalizer.from_json(folder / NORMALIZER_FILE)
        if (folder / NORMALIZER_FILE).is_file()
        else ObservationNormalizer.identity(len(feature_spec(plant)))
    )
    decisions = decision_fields(plant)
    n_actions = action_layout(plant).size
    module = _policy_module(model, algo, normalizer, decisions)
    features = feature_spec(plant)
    n_obs = len(features)

    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "env_id": SUPPORTED_ENV[0],
        "env_version": SUPPORTED_ENV[1],
        "scenario": params.name,
        "scenario_hash": params.scenario_hash,
        "algo": algo,
        "trained": {
            "run_dir": str(run_dir.resolve()),
            "model": which,
            "num_timesteps": model_step(run_dir, which, meta_run),
            "training_seeds": meta_run.get("training_seeds"),
        },
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "onnx_file": ONNX_FILE,
        "onnx_inputs": {"observation": [None, n_obs]},
        "onnx_outputs": {
            "action (float32, in [-1, 1])": [None, n_actions],
            "decision (float64)": [None, len(decisions)],
        },
        **site_metadata(plant),
    }
    meta["metadata_sha256"] = metadata_digest(meta)

    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / ONNX_FILE
    torch.distributions.Distribution.set_default_validate_args(False)
    example = torch.zeros((2, n_obs), dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1)
    with _exporter_quiet(verbose):
        program = torch.onnx.export(
            module,
            (example,),
            dynamo=True,
            verbose=verbose,
            external_data=False,
            input_names=["observation"],
            output_names=["action", "decision"],
            dynamic_shapes=({0: batch},),
        )
    assert program is not None
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {METADATA_HASH_KEY: meta["metadata_sha256"]})
    onnx.save_model(proto, str(onnx_path), save_as_external_data=False)
    if any(p.name != ONNX_FILE for p in out.iterdir() if p.suffix == ".data"):
        raise RuntimeError("ONNX export wrote external data; expected one self-contained file")
    meta["onnx_sha256"] = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    (out / JSON_FILE).write_text(json.dumps(meta, indent=2, allow_nan=False))
    (out / SIGNATURE_FILE).unlink(missing_ok=True)  # a signature of earlier files would not verify
    if sign_key is not None:
        from hybridrl.scheduler.signing import SignatureError, sign_policy

        try:
            sign_policy(out, sign_key)
        except SignatureError as err:
            raise ValueError(str(err)) from None
    return meta
