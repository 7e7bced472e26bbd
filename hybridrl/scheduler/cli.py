"""``hybridrl-schedule --policy DIR --state state.json`` prints the decision as JSON;
``--batch states.jsonl`` decides one state per line and prints one decision per line;
``--template`` prints a state with every input field (the scenario's start) to edit.

Exit status: 0 on success, 2 for invalid input (each problem listed on stderr) or policy files
that fail their checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hybridrl.scheduler.runtime import (
    MAX_JSON_BYTES,
    InvalidStateError,
    PolicyFileError,
    Scheduler,
    read_json,
)


def _read_bytes(path: Path) -> bytes:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise InvalidStateError(
            [f"{path}: {path.stat().st_size:,} bytes; at most {MAX_JSON_BYTES:,} are read"]
        )
    return path.read_bytes()


def read_state(path: Path) -> dict[str, Any]:
    """One state: a JSON object of named fields (strict JSON, UTF-8)."""
    try:
        state = read_json(_read_bytes(path), str(path))
    except ValueError as err:
        raise InvalidStateError([str(err)]) from None
    if not isinstance(state, dict):
        raise InvalidStateError(
            [f"{path} must hold a JSON object of named fields, got {type(state).__name__}"]
        )
    return state


def read_batch(path: Path) -> list[dict[str, Any]]:
    """One state per non-empty line; every bad line listed with its number."""
    states, problems = [], []
    for number, line in enumerate(_read_bytes(path).split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            state = read_json(line, f"{path} line {number}")
        except ValueError as err:
            problems.append(str(err))
            continue
        if not isinstance(state, dict):
            problems.append(f"{path} line {number} is not a JSON object")
            continue
        states.append(state)
    if problems:
        raise InvalidStateError(problems)
    return states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hybridrl-schedule", description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", required=True, type=Path, help="folder with policy.onnx and policy.json")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state", type=Path, help="one state: a JSON object of named fields")
    source.add_argument("--batch", type=Path, help="many states: one JSON object per line")
    source.add_argument(
        "--template", action="store_true", help="print a state with every input field (the scenario's start)"
    )
    parser.add_argument("--fallback", action="store_true", help="use the fallback rule on invalid input")
    parser.add_argument(
        "--public-key", type=Path, help="Ed25519 public key (PEM): refuse policies it has not signed"
    )
    args = parser.parse_args(argv)
    try:
        scheduler = Scheduler.load(args.policy, fallback=args.fallback, public_key=args.public_key)
        if args.template:
            print(json.dumps(scheduler.template_state(), indent=2))
        elif args.state is not None:
            print(json.dumps(scheduler.decide(read_state(args.state)).to_dict()))
        else:
            for decision in scheduler.decide_batch(read_batch(args.batch)):
                print(json.dumps(decision.to_dict()))
    except (InvalidStateError, PolicyFileError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
