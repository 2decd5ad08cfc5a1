"""The series runner behind `fer-report run`: the numbered notebooks executed in order with papermill under a
parameter profile, into runs/<profile>/notebooks (each executed copy lands whole or not at all) with a manifest of
how the run was made; before the first notebook, the reference run's trainings that have this run's settings are
copied in and the time of the whole series on this machine is estimated."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from . import atomic, data, lock, paths, profiles, registry, runtime, settings
from .errors import UserError
from .progress import TrainingProgress

KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
MANIFEST = "manifest.json"  # in the run folder: how the run was made


class SeriesError(UserError):
    """A notebook selection or a notebook run that failed; the message is one line for the user."""


def select_notebooks(only: str | None = None) -> list[Path]:
    """The numbered notebooks in order; `only` = "01,02" keeps those numbers."""
    found = sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise SeriesError(f"no notebooks in {paths.NOTEBOOKS_DIR}: fer-report runs from a checkout of the project")
    if only is None:
        return found
    if not only.strip(" ,"):
        raise SeriesError(f"--only {only!r} names no notebook: give numbers, e.g. --only 01,02 (or leave it out to "
                          f"run them all)")
    wanted = [part.strip().zfill(2) for part in only.split(",") if part.strip()]
    by_number = {nb.name[:2]: nb for nb in found}
    unknown = [w for w in wanted if w not in by_number]
    if unknown:
        raise SeriesError(f"--only {only}: no notebook numbered {', '.join(unknown)} "
                          f"(have {', '.join(sorted(by_number))})")
    return [by_number[w] for w in sorted(set(wanted))]


def notebook_parameters(notebook: Path) -> set[str]:
    """Names declared in a notebook's `parameters` cell."""
    import papermill

    with _papermill_logging(False):
        return set(papermill.inspect_notebook(str(notebook)))


def run_series(profile: str, data: str | None = None, only: str | None = None, run_dir: str | None = None,
               log_output: bool = False, retrain: bool = False, progress=print) -> list[tuple[str, float]]:
    """Run the selected notebooks in order, starting from the reference run's trainings where they have this
    run's settings (unless `retrain`: then every model trains here); returns (notebook, seconds) for each one
    that finished."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    params = profiles.load_profile(profile)
    path = profiles.profile_path(profile)
    notebooks = select_notebooks(only)
    declared = {nb: notebook_parameters(nb) for nb in select_notebooks()}
    unknown = sorted(k for k in set(params) - set().union(*declared.values()) if not settings.is_declared(k))
    if unknown:
        raise SeriesError(f"{path}: {', '.join(unknown)} is not a parameter of any notebook")
    # the notebooks find a profile of params/ by its name, any other by its path
    kernel_profile, profile = (path.stem if path.parent == paths.PARAMS_DIR else str(path)), path.stem
    source = profiles.resolve_data(data)
    run = profiles.run_folder(profile, run_dir)
    with lock.holding(paths.RunPaths(run).lock, f"fer-report run --profile {profile}"):  # one series per run folder
        out_dir = run / "notebooks"
        out_dir.mkdir(parents=True, exist_ok=True)
        progress(f"fer-report: profile {profile}, {len(notebooks)} notebook(s), run folder {run}", flush=True)
        manifest = _start_manifest(run, profile, params, source)
        where, warning = runtime.device_report()
        progress(f"fer-report: {where}", flush=True)
        if warning:
            print(f"fer-report: warning: {warning}", file=sys.stderr, flush=True)
        manifest["reference"] = _plan_trainings(profile, params, source, manifest["data"]["sha256"], run, notebooks,
                                                retrain, progress)
        atomic.write_json(run / MANIFEST, manifest)
        done = []
        with _current_python_kernel(), _papermill_logging(log_output):
            for i, nb in enumerate(notebooks, 1):
                values = {**params, "profile": kernel_profile, "data_source": source, "run_dir": str(run),
                          "retrain": retrain}
                mine = {k: v for k, v in values.items() if k in declared[nb]}
                out = out_dir / nb.name
                start = time.perf_counter()
                try:
                    with _landing(out) as partial, TrainingProgress(run / "models", nb.stem):
                        papermill.execute_notebook(str(nb), str(partial), parameters=mine, kernel_name="python3",
                                                   progress_bar=False, log_output=log_output,
                                                   cwd=str(paths.NOTEBOOKS_DIR))
                except papermill.PapermillExecutionError as e:
                    raise SeriesError(f"{nb.stem} failed in cell {e.cell_index + 1} of the executed copy "
                                      f"(In [{e.exec_count}]: {_first_line(e.source)[:60]!r}): "
                                      f"{e.ename}: {_first_line(e.evalue)}; see {out}") from None
                except (DeadKernelError, CellTimeoutError, NoSuchKernel, RuntimeError) as e:  # the kernel died
                    raise SeriesError(f"{nb.stem} stopped: {type(e).__name__}: {_first_line(str(e))}; "  # or never
                                      f"see {out}") from None  # started; any other error is a bug of the runner
                seconds = time.perf_counter() - start
                done.append((nb.stem, seconds))
                manifest["notebooks"][nb.stem] = {"seconds": round(seconds, 1),
                                                  "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
                atomic.write_json(run / MANIFEST, manifest)
                progress(f"[{i}/{len(notebooks)}] {nb.stem}  {seconds:.1f} s", flush=True)
        return done


@contextlib.contextmanager
def _landing(out: Path):
    """The path papermill writes an executed notebook to, beside `out`: moved onto `out` when the run ends, finished
    or failed, if it is a whole notebook; `out` is removed first, so that it never holds an earlier run's copy."""
    import nbformat

    partial = out.with_name(f"{atomic.PARTIAL_PREFIX}{out.name}")
    out.unlink(missing_ok=True)
    try:
        yield partial
    finally:
        try:
            nbformat.read(partial, as_version=4)
        except (OSError, ValueError):  # never written, or cut short (a full disk)
            partial.unlink(missing_ok=True)
        else:
            os.replace(partial, out)


def _plan_trainings(profile: str, params: dict, source: str, sha256: str, run: Path, notebooks: list[Path],
                    retrain: bool, progress) -> dict:
    """Before the first notebook: copy in the reference run's trainings that have this run's settings (or, with
    `retrain`, set copied ones aside), say so in one line, and give the expected time of what will train here
    and of the whole profile on this machine. Returns what the run took from the reference run, by model."""
    from . import reference, speed
    from .history import read_history

    stems = {nb.stem for nb in notebooks}
    if sha256 not in reference.data_hashes() and not any(s.notebook in stems for s in registry.MODELS.values()):
        return {}  # nothing to take from the reference run, nothing that trains
    fer = data.limit(data.load_fer2013(source), params["train_limit"], params["eval_limit"], params["seed"])
    held, to_train = {}, {}
    for name, spec in registry.MODELS.items():
        wanted = reference.profile_settings(params, name, sha256)
        models = paths.RunPaths(run).models
        # never under a training
        with lock.holding(models / f"{name}.lock", f"fer-report run's check of {name}", models / name):
            marker = reference.start_from(name, wanted, run, fer.train.images, retrain=retrain)
        if marker is not None:
            held[name] = marker
        elif spec.notebook in stems:
            done = len(read_history(paths.RunPaths(run).model(name)))
            if done < wanted["epochs"]:
                to_train[name] = done
    if held:
        commits = sorted({m["git_commit"][:12] for m in held.values()})
        trained = [n for n, s in registry.MODELS.items() if params[s.epochs_key]]  # a profile may leave one out
        progress(f"fer-report: {len(held)} of {len(trained)} trainings are the reference run's "
                 f"({', '.join(sorted({m['reference'] for m in held.values()}))}, commit {', '.join(commits)}): "
                 f"{', '.join(held)}; --retrain trains them here", flush=True)
    elif not retrain and sha256 not in reference.data_hashes():
        progress("fer-report: the reference run was trained on other data (another SHA-256); every model trains "
                 "here", flush=True)
    sizes = {"n_train": len(fer.train), "n_val": len(fer.val)}
    whole = speed.about(sum(speed.profile_seconds(params, **sizes).values()))
    left = speed.profile_seconds(params, done=to_train, **sizes) if to_train else {}
    if to_train:
        each = [f"{name} {speed.about(seconds)}" for name, seconds in left.items()]
        progress(f"fer-report: to train here: {', '.join(each)}; every training of {profile} on this machine: "
                 f"{whole}", flush=True)
    else:
        progress(f"fer-report: nothing to train; every training of {profile} on this machine would take "
                 f"{whole}" + ("; the reference models are reused unless --retrain" if held else ""), flush=True)
    reading = notebook_seconds(profile, stems)
    if reading is not None:
        training = sum(left.values())
        progress(f"fer-report: this series should take {speed.about(training + reading)} here ("
                 + (f"training {speed.about(training)}, then " if left else "")
                 + f"the notebooks, which took {speed.about(reading)} in the reference run)", flush=True)
    return held


def notebook_seconds(profile: str, stems: set[str]) -> float | None:
    """The seconds the committed reference run's notebooks `stems` took with their models already trained (its
    manifest), where it ran this profile; None where it did not."""
    from .reference import REFERENCE_RUNS

    for folder in REFERENCE_RUNS:
        try:
            manifest = json.loads((paths.PROJECT_ROOT / folder / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        if manifest.get("profile") == profile and stems <= set(manifest.get("notebooks", {})):
            return sum(manifest["notebooks"][stem]["seconds"] for stem in stems)
    return None


def _start_manifest(run: Path, profile: str, params: dict, source: str) -> dict:
    """What the run's report states about how it was made: profile and parameters, data and its SHA-256,
    versions, Keras backend and devices, git commit; notebook times are added as they finish (earlier
    notebooks' times are kept when only some notebooks run)."""
    runtime.import_keras_quietly()
    import keras

    old = json.loads((run / MANIFEST).read_text()) if (run / MANIFEST).exists() else {}
    manifest = {"profile": profile, "parameters": params, "data": {"source": source, "sha256": data.sha256(source)},
                "versions": runtime.versions(), "keras_backend": keras.backend.backend(), "devices": runtime.devices(),
                "git_commit": paths.git_commit(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "notebooks": old.get("notebooks", {}) if old.get("profile") == profile else {}}
    atomic.write_json(run / MANIFEST, manifest)
    return manifest


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


@contextlib.contextmanager
def _papermill_logging(log_output: bool):
    """Papermill's own log lines stay quiet whatever logging the process has set up; with `log_output` the
    notebooks' outputs stream to stderr as they come."""
    logger = logging.getLogger("papermill")
    level, propagate, handlers = logger.level, logger.propagate, logger.handlers[:]
    logger.propagate = False
    logger.handlers = []
    if log_output:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(lambda record: record.funcName == "log_output_message")
        logger.addHandler(handler)
    logger.setLevel(logging.INFO if log_output else logging.WARNING)
    try:
        yield
    finally:
        logger.propagate, logger.handlers = propagate, handlers
        logger.setLevel(level)  # through setLevel, so that logging forgets the levels it cached meanwhile


@contextlib.contextmanager
def _current_python_kernel():
    """Make kernel "python3" this interpreter for the run, whatever kernels the machine has registered."""
    with tempfile.TemporaryDirectory(prefix="fer-report-kernel-") as tmp:
        spec_dir = Path(tmp, "kernels", "python3")
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                         "--IPKernelApp.log_level=CRITICAL"],  # not its shutdown's "KeyboardInterrupt caught"
                "display_name": "Python 3 (fer-report)", "language": "python", "env": KERNEL_ENV}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (tmp, old) if p)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
