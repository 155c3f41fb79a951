"""Build packse scenarios into a PEP 503 index directory for lpack's packse test.

Usage: python prepare.py OUT SCENARIO.toml...   (python: a venv with tests/packse/requirements.txt)

Does what `packse serve` does before it serves (build every package of the scenarios with
hatchling, render `simple-html/` and `files/`), without its watcher, and writes the scenarios as
`packse inspect` describes them (names prefixed by the scenario, root requirements, expected
result, target Python) to OUT/scenarios.json. The test serves OUT/index over HTTP itself.
"""

import json
import os
import sys
from pathlib import Path

from packse.build import build
from packse.index import render_index
from packse.inspect import variables_for_templates


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    targets = [Path(p).resolve() for p in sys.argv[2:]]
    # packse runs `hatchling build` from PATH: the one installed beside this interpreter.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    dist, work, index = out / "dist", out / "build", out / "index"
    build(
        targets,
        rm_destination=True,
        short_names=False,
        no_hash=True,
        skip_root=True,
        dist_dir=dist,
        build_dir=work,
    )
    render_index(
        targets,
        no_hash=True,
        short_names=False,
        dist_dir=dist,
        index_dir=index,
        exist_ok=True,
    )
    variables = variables_for_templates(targets, False, short_names=False, no_hash=True)
    scenarios = [
        {
            "name": s["name"],
            "source": s["source"],
            "root": s["root"],
            "expected": s["expected"],
            "environment": s["environment"],
            "resolver_options": s["resolver_options"],
            "packages": [
                {
                    "name": p["name"],
                    "versions": [
                        {
                            "version": v["version"],
                            "wheel": v["wheel"],
                            "sdist": v["sdist"],
                            "wheel_tags": v["wheel_tags"],
                            "requires_python": v["requires_python"],
                        }
                        for v in p["versions"]
                    ],
                }
                for p in s["packages"]
            ],
        }
        for s in variables["scenarios"]
    ]
    (out / "scenarios.json").write_text(json.dumps(scenarios, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
