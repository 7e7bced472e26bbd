"""Write the leaderboard (every policy of every published benchmark under experiments/results/)
into docs/leaderboard.md and the README: ``python experiments/leaderboard.py`` after publishing a
benchmark; ``--check`` exits 1 when either file is out of date."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hybridrl.evaluation.leaderboard import leaderboard_markdown, with_leaderboard

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
TARGETS: dict[Path, str | None] = {
    ROOT / "docs" / "leaderboard.md": None,
    ROOT / "README.md": "experiments/results/",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    stale = []
    for target, prefix in TARGETS.items():
        text = target.read_text()
        new = with_leaderboard(text, leaderboard_markdown(RESULTS, link_prefix=prefix))
        if new != text:
            stale.append(target)
            if not args.check:
                target.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    print(("checked " if args.check else "wrote ") + ", ".join(str(p.relative_to(ROOT)) for p in TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
