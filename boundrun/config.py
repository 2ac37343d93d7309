"""Configuration: Hydra's compose API over `configs/` (shipped as `boundrun.configs`), a profile and
overrides, validated against the experiment's structured schema (a dataclass).

Layout: `configs/config.yaml` (shared defaults), `configs/experiment/<name>.yaml` (the default profile,
`# @package _global_`), `configs/profile/<name>/<profile>.yaml` (overrides per profile). Parameters
live at the top level, so `K=100` overrides the experiment's K directly.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

CONFIG_MODULE = "boundrun.configs"
ENGINE_KEYS = ("seed", "seeds", "profile")


class ConfigError(ValueError):
    """Bad usage or bad input: the CLI prints the message on one line and exits 2."""


@dataclass
class RunConfig:
    """Fields every experiment has. An experiment's schema subclasses this and validates its own
    parameters in `__post_init__` (calling `super().__post_init__()`)."""

    seed: int = 0
    seeds: int = 1
    profile: str = "default"

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"seeds must be a positive integer, got {self.seeds}")
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")


def profiles(name: str) -> list[str]:
    """The profiles an experiment ships: `default` plus one per file in configs/profile/<name>/."""
    root = resources.files(CONFIG_MODULE) / "profile" / name
    extra = sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml")) if (
        root.is_dir()
    ) else []
    return ["default", *extra]


def _clean_hydra_message(msg: str) -> str:
    lines = [ln.strip() for ln in str(msg).splitlines() if ln.strip()]
    return lines[0] if lines else "invalid configuration"


def compose(name: str, schema: type, profile: str = "default", overrides: list[str] | tuple = ()) -> Any:
    """Compose and validate the config of experiment `name`; return an instance of `schema`.

    Raises ConfigError (one-line message) on an unknown profile, an unknown key, a value of the wrong
    type, or a value the experiment's schema rejects.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    known_profiles = profiles(name)
    if profile not in known_profiles:
        raise ConfigError(f"unknown profile {profile!r} for {name} (choose from {', '.join(known_profiles)})")
    fields = [f.name for f in dataclasses.fields(schema)]
    for ov in overrides:
        key = re.split(r"[=]", ov.lstrip("+~"), maxsplit=1)[0].strip()
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} is not of the form key=value")
        if key == "profile":
            raise ConfigError("the profile is chosen with --profile, not as an override")
        if key.split(".")[0] not in fields and not key.startswith("hydra"):
            raise ConfigError(f"unknown parameter {key!r} for {name} (known: {', '.join(fields)})")
    ov = [f"+experiment={name}"]
    if profile != "default":
        ov.append(f"+profile/{name}={profile}")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=[*ov, *overrides])
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_clean_hydra_message(e)) from None
    finally:
        GlobalHydra.instance().clear()
    return validate(cfg, schema, profile=profile)


def validate(cfg: Any, schema: type, profile: str = "default") -> Any:
    """Merge a composed DictConfig into the structured schema and instantiate it (runs __post_init__)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("hydra", None)
    plain["profile"] = profile  # the profile is a config group, so its name is set here, not by Hydra
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), plain)
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        first = _clean_hydra_message(e)
        raise ConfigError(f"{key}: {first}" if key and key not in first else first) from None
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
