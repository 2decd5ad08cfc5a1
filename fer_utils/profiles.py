"""The parameter profiles (params/*.yaml, or a profile's own file): finding one by name or path, reading it (one
key given twice, text that is not UTF-8 or not YAML: one line), and checking it against the declared settings
(`fer_utils.settings`) before anything runs; the run folder and the data a run reads. Both `fer-report` and the
training CLI start here."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .errors import UserError
from . import paths

RUNNER_PARAMETERS = ("profile", "data_source", "run_dir", "retrain")  # set by the runner, not by a profile
DEFAULT_PROFILE = paths.DEFAULT_PROFILE


class ProfileError(UserError):
    """A profile that cannot be used as given; the message is one line naming the file and the key."""


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice (which would silently keep the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key} is given twice (line "
                                                        f"{key_node.start_mark.line + 1})", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def profile_path(name: str) -> Path:
    """The YAML file of profile `name`: params/<name>.yaml for a bare name, else `name` as a path (with or without
    its .yaml)."""
    given = Path(name).expanduser()
    bare = given.suffix not in (".yaml", ".yml") and len(given.parts) == 1
    if bare and (paths.PARAMS_DIR / f"{name}.yaml").is_file():
        return paths.PARAMS_DIR / f"{name}.yaml"
    for path in (given, given.with_name(given.name + ".yaml")):
        if path.is_file():
            return path.resolve()
    return paths.PARAMS_DIR / f"{name}.yaml" if bare else given


def profile_name(name: str) -> str:
    """How a run names its profile: the file's stem ("quick" for params/quick.yaml or ~/my/quick.yaml)."""
    return profile_path(name).stem


def load_profile(name: str) -> dict:
    """The parameters of profile `name` (`profile_path`) as a dict, checked (`settings.check_profile`): a missing
    key or a value a setting does not take is a ProfileError naming the file and the key."""
    from . import settings

    if not str(name).strip() or Path(str(name)).name in ("", ".", ".."):
        raise ProfileError(f"--profile {name!r}: name a profile (smoke, quick, full) or a profile's YAML file")
    path = profile_path(name)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in paths.PARAMS_DIR.glob("*.yaml")))
        raise ProfileError(f"unknown profile {name!r}: no {path} (profiles: {known}; or give a profile's path)")
    try:
        params = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys) or {}
    except UnicodeDecodeError as e:
        raise ProfileError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ProfileError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise ProfileError(f"{path}: expected a mapping of parameter names to values")
    clash = sorted(set(params) & set(RUNNER_PARAMETERS))
    if clash:
        raise ProfileError(f"{path}: {', '.join(clash)} is set by fer-report itself, not by a profile")
    try:
        settings.check_profile(params, where=str(path))
    except ValueError as e:
        raise ProfileError(str(e)) from None
    return params


def run_folder(profile: str, run_dir: str | os.PathLike | None = None) -> Path:
    """The run folder: `run_dir` when given, else runs/<profile>; absolute."""
    return Path(run_dir).expanduser().resolve() if run_dir else paths.RUNS_DIR / profile_name(profile)


def resolve_data(data: str | os.PathLike | None) -> str:
    """The absolute path of the data the notebooks read, found once by the runner (or the training CLI), so
    that each executed copy names its data and re-runs (nbval) read the same, whatever the environment."""
    from .data import resolve_source

    return str(resolve_source(data).resolve())
