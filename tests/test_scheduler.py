"""Export and production scheduler: ONNX parity with SB3, the feature spec against the
environment's encoder, file checks, input validation, the safety projection, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("onnxruntime")

from hybridrl.agents.config import AGENT_CONFIGS, Algo, EvalConfig, LoggerConfig, LoggerKind, TrainConfig
from hybridrl.agents.policy import load_trained_policy
from hybridrl.agents.training import train
from hybridrl.env import HybridMineEnv
from hybridrl.env.encoding import action_layout, decode_action
from hybridrl.export.onnx_export import export_policy
from hybridrl.export.spec import decision_fields, feature_spec, map_action, simulated_states
from hybridrl.scheduler import InvalidStateError, PolicyFileError, Scheduler
from hybridrl.scheduler.features import compute_features
from hybridrl.scheduler.runtime import metadata_digest


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    out = {}
    for algo in ("ppo", "sac"):
        agent = AGENT_CONFIGS[Algo(algo)](net_arch=[16])
        if algo == "sac":
            agent.learning_starts = 64  # type: ignore[attr-defined]
            agent.batch_size = 32  # type: ignore[attr-defined]
        else:
            agent.n_steps = 64  # type: ignore[attr-defined]
            agent.batch_size = 64  # type: ignore[attr-defined]
        cfg = TrainConfig(
            agent=agent,
            logger=LoggerConfig(kind=LoggerKind.none),
            eval=EvalConfig(every_steps=256, episodes=2, gap_closed=False),
            total_timesteps=384,
            n_envs=2,
            checkpoint_every_steps=10**6,
            progress_bar=False,
        )
        cfg.env.scenario = "tiny"
        train(cfg, root / f"{algo}_run")
        export_policy(root / f"{algo}_run", root / algo, which="final")
        out[algo] = root / algo
        out[f"{algo}_run"] = root / f"{algo}_run"
    return out


def test_importing_the_scheduler_loads_no_training_stack() -> None:
    code = (
        "import sys, hybridrl.scheduler, hybridrl.scheduler.cli; "
        "print([m for m in ('torch', 'stable_baselines3', 'gymnasium', 'hydra', 'sb3_contrib', 'wandb') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("scenario", ["default", "hourly_ops", "ai_boom"])
def test_feature_spec_reproduces_the_environment_encoder(scenario: str) -> None:
    fields, observations = simulated_states(scenario, 1_500)
    env = HybridMineEnv(scenario)
    spec = feature_spec(env.plant)
    x = {name: np.array([f[name] for f in fields]) for name in fields[0]}
    np.testing.assert_allclose(compute_features(spec, x), observations, rtol=1e-6, atol=1e-6)


def test_decision_mapping_is_the_environments_decoding() -> None:
    env = HybridMineEnv("default")
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (64, env.action_space.shape[0]))
    assert env.state is not None and env.path is not None and env.plant.is_decision_epoch(env.state.t)
    d = map_action(decision_fields(env.plant), a)
    col = action_layout(env.plant).columns
    for row in range(a.shape[0]):
        native = decode_action(env.plant, env.state, env.path, a[row : row + 1])
        np.testing.assert_allclose(d[row, col["run"]], native.asic_run_fraction[0])
        np.testing.assert_allclose(d[row, col["gpu_offer"]], native.gpu_offer_fraction[0, :1])
        np.testing.assert_allclose(d[row, col["retrofit"]], native.retrofit_blocks[:1])
        np.testing.assert_allclose(d[row, col["gpu_order"]], native.gpu_order_nodes[0].sum(keepdims=True))
        np.testing.assert_allclose(
            d[row, col["sell"]] * env.state.asic_th[0], native.asic_sale_th[0], rtol=1e-12, atol=1e-9
        )


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_onnx_decision_equals_sb3_prediction_in_physical_units(algo: str, exported: dict[str, Path]) -> None:
    import onnxruntime as ort

    fields, observations = simulated_states("tiny", 1_000, seed=11)
    policy = load_trained_policy(exported[f"{algo}_run"], which="final")
    assert policy.normalizer is not None
    model_action = policy._act(policy.normalizer(observations), np.zeros(len(observations), dtype=bool))
    env = HybridMineEnv("tiny")
    expected = map_action(decision_fields(env.plant), model_action)
    session = ort.InferenceSession(str(exported[algo] / "policy.onnx"))
    onnx_action, onnx_decision = session.run(None, {"observation": observations.astype(np.float32)})
    assert np.max(np.abs(onnx_action - np.clip(model_action, -1, 1))) <= 1e-5
    assert np.max(np.abs(onnx_decision - expected)) <= 1e-5
    # and through the scheduler, from physical fields
    scheduler = Scheduler.load(exported[algo])
    spec_obs = compute_features(scheduler.features, {k: np.array([f[k] for f in fields]) for k in fields[0]})
    _, via_fields = session.run(None, {"observation": spec_obs})
    assert np.max(np.abs(via_fields - expected)) <= 1e-5


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("policy.onnx", "policy.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_tampered_or_mismatched_files_are_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    Scheduler.load(exported["ppo"])
    onnx_bad = _copy(exported["ppo"], tmp_path / "onnx")
    blob = bytearray((onnx_bad / "policy.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (onnx_bad / "policy.onnx").write_bytes(bytes(blob))
    with pytest.raises(PolicyFileError, match="does not match"):
        Scheduler.load(onnx_bad)

    json_bad = _copy(exported["ppo"], tmp_path / "json")
    meta = json.loads((json_bad / "policy.json").read_text())
    meta["site_limits"]["credit_limit_usd"] *= 10
    (json_bad / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyFileError, match="modified after export"):
        Scheduler.load(json_bad)

    version = _copy(exported["ppo"], tmp_path / "version")
    meta = json.loads((version / "policy.json").read_text())
    meta["env_version"] = "v0"
    meta["metadata_sha256"] = metadata_digest(meta)  # a consistent file, made for another env
    (version / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyFileError, match="made for environment hybridrl/HybridMine-v1 v0"):
        Scheduler.load(version)

    swapped = _copy(exported["ppo"], tmp_path / "swapped")
    (swapped / "policy.onnx").write_bytes((exported["sac"] / "policy.onnx").read_bytes())
    meta = json.loads((swapped / "policy.json").read_text())
    meta["onnx_sha256"] = json.loads((exported["sac"] / "policy.json").read_text())["onnx_sha256"]
    (swapped / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyFileError, match="exported with another"):
        Scheduler.load(swapped)
    (swapped / "policy.onnx").unlink()
    with pytest.raises(PolicyFileError, match="missing"):
        Scheduler.load(swapped)


def test_every_invalid_input_is_listed_in_one_error(exported: dict[str, Path]) -> None:
    scheduler = Scheduler.load(exported["ppo"])
    fields, _ = simulated_states("tiny", 1)
    state: dict[str, object] = dict(fields[0])
    del state["cash_usd"]
    state["btc_price_usd"] = float("nan")
    state["power_rt_usd_per_mwh"] = float("inf")
    state["availability"] = 1.7
    state["mining_ready_mw"] = -5.0
    state["hashprice_usd_per_ph_day"] = "high"
    state["turbo"] = 1.0
    with pytest.raises(InvalidStateError) as err:
        scheduler.decide(state)  # type: ignore[arg-type]
    text = str(err.value)
    for piece in (
        "missing field 'cash_usd'",
        "unknown field 'turbo'",
        "btc_price_usd is nan",
        "power_rt_usd_per_mwh is inf",
        "availability = 1.7 is outside [0.0, 1.0]",
        "mining_ready_mw = -5.0 is outside",
        "hashprice_usd_per_ph_day must be a number",
    ):
        assert piece in text, text
    assert len(err.value.problems) == 7


def test_fallback_is_flagged_and_safe(exported: dict[str, Path]) -> None:
    scheduler = Scheduler.load(exported["ppo"], fallback=True)
    fields, _ = simulated_states("tiny", 1)
    state = dict(fields[0])
    state["turbo"] = 1.0
    decision = scheduler.decide(state)
    assert decision.fallback and decision.problems == ["unknown field 'turbo'"]
    assert decision.asic_order_usd == decision.gpu_order_usd == decision.retrofit_usd == 0.0
    assert not decision.accept_offer and decision.mining_mw > 0
    state = dict(fields[0])
    state["availability"] = float("nan")
    idle = scheduler.decide(state)
    assert idle.fallback and idle.mining_mw == 0.0 and idle.own_gpu_mw == 0.0
    assert scheduler.decide(fields[0]).fallback is False


def test_cli_single_batch_and_errors(exported: dict[str, Path], tmp_path: Path) -> None:
    fields, _ = simulated_states("tiny", 3)
    (tmp_path / "state.json").write_text(json.dumps(fields[0]))
    (tmp_path / "states.jsonl").write_text("\n".join(json.dumps(f) for f in fields))
    cli = [sys.executable, "-m", "hybridrl.scheduler.cli", "--policy", str(exported["ppo"])]
    one = subprocess.run([*cli, "--state", str(tmp_path / "state.json")], capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    decision = json.loads(one.stdout)
    assert {"mining_mw", "own_gpu_mw", "asic_order_usd", "accept_offer", "fallback"} <= set(decision)
    many = subprocess.run([*cli, "--batch", str(tmp_path / "states.jsonl")], capture_output=True, text=True)
    assert many.returncode == 0 and len(many.stdout.strip().splitlines()) == 3
    assert json.loads(many.stdout.splitlines()[0]) == decision
    bad = dict(fields[0], availability=2.0)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    refused = subprocess.run([*cli, "--state", str(tmp_path / "bad.json")], capture_output=True, text=True)
    assert refused.returncode == 2 and "availability = 2.0 is outside" in refused.stderr
    saved = subprocess.run(
        [*cli, "--state", str(tmp_path / "bad.json"), "--fallback"], capture_output=True, text=True
    )
    assert saved.returncode == 0 and json.loads(saved.stdout)["fallback"] is True


def test_export_refuses_recurrent_policies_and_writes_one_file(exported: dict[str, Path]) -> None:
    assert sorted(p.name for p in exported["ppo"].iterdir()) == ["policy.json", "policy.onnx"]
    meta = json.loads((exported["ppo"] / "policy.json").read_text())
    for key in (
        "schema_version",
        "env_id",
        "env_version",
        "scenario",
        "scenario_hash",
        "onnx_sha256",
        "trained",
    ):
        assert key in meta
    assert [f["name"] for f in meta["features"]] == list(HybridMineEnv("tiny").observation_names)
    assert all("unit" in f and "low" in f and "high" in f for f in meta["state_fields"])
    assert all("unit" in f for f in meta["decision_fields"])


def test_export_command(exported: dict[str, Path], tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "experiments" / "export.py"
    run = exported["ppo_run"]
    ok = subprocess.run(
        [sys.executable, str(script), f"run_dir={run}", f"out={tmp_path / 'p'}", "which=best"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert Scheduler.load(tmp_path / "p").meta["trained"]["model"] == "best"
    bad = subprocess.run(
        [sys.executable, str(script), f"run_dir={tmp_path}", f"out={tmp_path / 'q'}", "which=latest"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "is not a training run directory" in bad.stderr and "which: must be best or final" in bad.stderr


HOSTILE_STATES = {
    "huge integer": lambda good: json.dumps({**good, "cash_usd": 10**400}).encode(),
    "beyond the digit limit": lambda good: json.dumps(good)[:-1].encode() + b', "x": ' + b"9" * 5000 + b"}",
    "deep nesting": lambda good: b"[" * 100_000 + b"]" * 100_000,
    "non-UTF-8 bytes": lambda good: b'{"cash_usd": "\xff\xfe"}',
    "not an object": lambda good: b"[1, 2, 3]",
    "Infinity literal": lambda good: json.dumps({**good, "cash_usd": float("inf")}).encode(),
    "far beyond bankruptcy": lambda good: json.dumps({**good, "cash_usd": -1e12}).encode(),
}


@pytest.mark.parametrize("case", list(HOSTILE_STATES))
def test_hostile_state_files_are_refused_clearly(
    case: str, exported: dict[str, Path], tmp_path: Path
) -> None:
    fields, _ = simulated_states("tiny", 1)
    (tmp_path / "state.json").write_bytes(HOSTILE_STATES[case](fields[0]))
    cli = [sys.executable, "-m", "hybridrl.scheduler.cli", "--policy", str(exported["ppo"])]
    proc = subprocess.run(
        [*cli, "--state", str(tmp_path / "state.json")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr[-2000:])
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr) < 5_000


def test_a_bad_line_in_a_batch_is_named_by_its_number(exported: dict[str, Path], tmp_path: Path) -> None:
    fields, _ = simulated_states("tiny", 3)
    lines = [json.dumps(fields[0]), "{not json", json.dumps(fields[1]), "[1]", json.dumps(fields[2])]
    (tmp_path / "states.jsonl").write_text("\n".join(lines))
    cli = [sys.executable, "-m", "hybridrl.scheduler.cli", "--policy", str(exported["ppo"])]
    proc = subprocess.run([*cli, "--batch", str(tmp_path / "states.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "line 2: not valid JSON" in proc.stderr and "line 4 is not a JSON object" in proc.stderr


def test_hostile_policy_json_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    for content in (b"[]", b'"policy"', b"\xff\xfe", b"[" * 100_000):
        folder = tmp_path / f"p{len(content)}_{content[:1].hex()}"
        shutil.copytree(exported["ppo"], folder)
        (folder / "policy.json").write_bytes(content)
        with pytest.raises(PolicyFileError):
            Scheduler.load(folder)
    text = (exported["ppo"] / "policy.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in policy.json"))


def test_fallback_keeps_mining_when_an_unrelated_field_is_missing(exported: dict[str, Path]) -> None:
    scheduler = Scheduler.load(exported["ppo"], fallback=True)
    fields, _ = simulated_states("tiny", 1)
    state = {k: v for k, v in fields[0].items() if k != "cash_usd"}
    decision = scheduler.decide(state)
    assert decision.fallback and decision.problems == ["missing field 'cash_usd'"]
    assert decision.mining_mw > 0 and decision.asic_order_usd == decision.retrofit_usd == 0.0
    assert scheduler.decide({**fields[0], "cash_usd": 10**400}).fallback


def test_signed_policies_refuse_forgery_and_unsigned_files(exported: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from hybridrl.scheduler.runtime import metadata_digest
    from hybridrl.scheduler.signing import generate_keypair

    generate_keypair(tmp_path / "export.key", tmp_path / "export.pub")
    generate_keypair(tmp_path / "other.key", tmp_path / "other.pub")
    signed = tmp_path / "signed"
    export_policy(exported["ppo_run"], signed, which="final", sign_key=tmp_path / "export.key")
    assert Scheduler.load(signed, public_key=tmp_path / "export.pub").decide(
        simulated_states("tiny", 1)[0][0]
    )
    with pytest.raises(PolicyFileError, match="does not verify"):
        Scheduler.load(signed, public_key=tmp_path / "other.pub")
    with pytest.raises(PolicyFileError, match="not signed"):
        Scheduler.load(exported["ppo"], public_key=tmp_path / "export.pub")
    # a forgery with recomputed hashes: accepted without a key, refused with one
    forged = tmp_path / "forged"
    shutil.copytree(signed, forged)
    meta = json.loads((forged / "policy.json").read_text())
    meta["site_limits"]["interconnection_mw"] = 1000.0
    meta["metadata_sha256"] = metadata_digest(meta)
    (forged / "policy.json").write_text(json.dumps(meta, indent=2))
    import onnx

    model = onnx.load(str(forged / "policy.onnx"))
    onnx.helper.set_model_props(model, {"hybridrl_metadata_sha256": meta["metadata_sha256"]})
    onnx.save_model(model, str(forged / "policy.onnx"))
    import hashlib

    meta["onnx_sha256"] = hashlib.sha256((forged / "policy.onnx").read_bytes()).hexdigest()
    (forged / "policy.json").write_text(json.dumps(meta, indent=2))
    assert Scheduler.load(forged).limits["interconnection_mw"] == 1000.0  # hashes alone do not stop it
    with pytest.raises(PolicyFileError, match="does not verify"):
        Scheduler.load(forged, public_key=tmp_path / "export.pub")
    cli = [sys.executable, "-m", "hybridrl.scheduler.cli", "--policy", str(forged), "--template"]
    proc = subprocess.run(
        [*cli, "--public-key", str(tmp_path / "export.pub")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "does not verify" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "junk.pub").write_text("not a key")
    with pytest.raises(PolicyFileError, match="not a readable PEM public key"):
        Scheduler.load(signed, public_key=tmp_path / "junk.pub")
