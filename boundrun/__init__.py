"""boundrun: puts theory on trial.

From Python (notebooks): `boundrun.run("bandit-stream", K=100, profile="smoke")` runs an experiment
exactly as the CLI does and returns its frames and run folder.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _override_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ",".join(_override_value(e) for e in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def run(name: str, profile: str = "default", out: str = "outputs", quiet: bool = True, **params: Any) -> Any:
    """Run experiment `name` with parameters `params` (e.g. K=100, seeds=5) and return a RunOutput:
    `.results`, `.bounds`, `.summary`, `.claims` (pandas frames), `.path` (the run folder), `.exit_code`."""
    from boundrun.engine import run_experiment

    overrides = [f"{k}={_override_value(v)}" for k, v in params.items()]
    return run_experiment(name, profile=profile, overrides=overrides, out=out, quiet=quiet,
                          command=["boundrun.run", name, *overrides])


__all__ = ["run", "__version__"]
