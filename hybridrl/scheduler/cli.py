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

from hybridrl.scheduler.runtime import InvalidStateError, PolicyFileError, Scheduler


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
    args = parser.parse_args(argv)
    try:
        scheduler = Scheduler.load(args.policy, fallback=args.fallback)
        if args.template:
            print(json.dumps(scheduler.template_state(), indent=2))
        elif args.state is not None:
            state = json.loads(args.state.read_text())
            if not isinstance(state, dict):
                raise InvalidStateError([f"{args.state} must hold a JSON object of named fields"])
            print(json.dumps(scheduler.decide(state).to_dict()))
        else:
            lines = [line for line in args.batch.read_text().splitlines() if line.strip()]
            states = [json.loads(line) for line in lines]
            bad = [
                f"line {i + 1} is not a JSON object" for i, s in enumerate(states) if not isinstance(s, dict)
            ]
            if bad:
                raise InvalidStateError(bad)
            for decision in scheduler.decide_batch(states):
                print(json.dumps(decision.to_dict()))
    except (InvalidStateError, PolicyFileError, json.JSONDecodeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
