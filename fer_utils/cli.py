"""The series runner behind `fer-report`: `run` executes the numbered notebooks in order with papermill under
a parameter profile from params/, writing executed copies to runs/<profile>/notebooks and a manifest;
`render` turns a run into its HTML report (fer_utils.render); `publish` copies its face-free results into the
project as a reference run (fer_utils.publish); `predict` reads the expressions of the faces in your own photos
and videos (fer_utils.predict)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import atomic, config, data, lock, registry, runtime, settings
from .config import (DEFAULT_PROFILE, NOTEBOOKS_DIR, PROJECT_ROOT, RUNS_DIR, SeriesError,  # noqa: F401
                     git_commit, load_profile, resolve_data, run_folder)
from .errors import UserError
from .progress import TrainingProgress
from .publish import publish as publish_run
from .render import render as render_run

KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0"}
MANIFEST = "manifest.json"  # in the run folder: how the run was made


def select_notebooks(only: str | None = None) -> list[Path]:
    """The numbered notebooks in order; `only` = "01,02" keeps those numbers."""
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise SeriesError(f"no notebooks in {NOTEBOOKS_DIR}: fer-report runs from a checkout of the project")
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

    params = load_profile(profile)
    path = config.profile_path(profile)
    notebooks = select_notebooks(only)
    declared = {nb: notebook_parameters(nb) for nb in select_notebooks()}
    unknown = sorted(k for k in set(params) - set().union(*declared.values()) if not settings.is_declared(k))
    if unknown:
        raise SeriesError(f"{path}: {', '.join(unknown)} is not a parameter of any notebook")
    # the notebooks find a profile of params/ by its name, any other by its path
    kernel_profile, profile = (path.stem if path.parent == config.PARAMS_DIR else str(path)), path.stem
    source = resolve_data(data)
    run = run_folder(profile, run_dir)
    with lock.holding(config.RunPaths(run).lock, f"fer-report run --profile {profile}"):  # one series per run folder
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
                                                   progress_bar=False, log_output=log_output, cwd=str(NOTEBOOKS_DIR))
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
        models = config.RunPaths(run).models
        with lock.holding(models / f"{name}.lock", f"fer-report run's check of {name}", models / name):  # never under a training
            marker = reference.start_from(name, wanted, run, fer.train.images, retrain=retrain)
        if marker is not None:
            held[name] = marker
        elif spec.notebook in stems:
            done = len(read_history(config.RunPaths(run).model(name)))
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
    if to_train:
        left = speed.profile_seconds(params, done=to_train, **sizes)
        each = [f"{name} {speed.about(seconds)}" for name, seconds in left.items()]
        progress(f"fer-report: to train here: {', '.join(each)}; every training of {profile} on this machine: "
                 f"{whole}", flush=True)
    else:
        progress(f"fer-report: nothing to train; every training of {profile} on this machine would take "
                 f"{whole}" + ("; the reference models are reused unless --retrain" if held else ""), flush=True)
    return held


def _start_manifest(run: Path, profile: str, params: dict, source: str) -> dict:
    """What the run's report states about how it was made: profile and parameters, data and its SHA-256,
    versions, Keras backend and devices, git commit; notebook times are added as they finish (earlier
    notebooks' times are kept when only some notebooks run)."""
    runtime.import_keras_quietly()
    import keras

    old = json.loads((run / MANIFEST).read_text()) if (run / MANIFEST).exists() else {}
    manifest = {"profile": profile, "parameters": params, "data": {"source": source, "sha256": data.sha256(source)},
                "versions": runtime.versions(), "keras_backend": keras.backend.backend(), "devices": runtime.devices(),
                "git_commit": git_commit(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fer-report", description=" ".join(__doc__.split()))
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:  # its help opens with the same sentence
        return commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")

    run = command("run", "run the notebook series with papermill")
    run.add_argument("--profile", default=DEFAULT_PROFILE,
                     help="smoke, quick or full (params/<profile>.yaml), or a profile's YAML file (default: quick)")
    run.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    run.add_argument("--only", help="comma-separated notebook numbers, e.g. 01,02")
    run.add_argument("--run-dir", help="where the run writes (default: runs/<profile>)")
    run.add_argument("--retrain", action="store_true",
                     help="train every model here, even those the committed reference run holds")
    run.add_argument("--log-output", action="store_true", help="stream the notebooks' outputs while they run")
    render = command("render", "render a run's executed notebooks and its index page as HTML")
    render.add_argument("--profile", default=DEFAULT_PROFILE,
                        help="the profile whose run to render (runs/<profile>; default: quick)")
    render.add_argument("--run-dir", help="the run folder (default: runs/<profile>)")
    render.add_argument("--partial", action="store_true",
                        help="render a run whose notebooks did not all finish, marking the incomplete ones")
    publish = command("publish", "copy a rendered run's face-free results into the project "
                                                  "(reference/, figures/) to commit as the reference run")
    publish.add_argument("--profile", default=DEFAULT_PROFILE,
                         help="the profile whose run to publish (runs/<profile>; default: quick)")
    publish.add_argument("--run-dir", help="the run folder (default: runs/<profile>)")
    publish.add_argument("--only", help="comma-separated model names (and 'ensemble'): replace just their "
                                        "committed results, histories and weights with the run's")
    publish.add_argument("--into", default="reference", help="the project folder of this reference run: reference "
                                                             "(default), or e.g. reference/full for a second one")
    predict = command("predict", "find the faces in your own photos and videos and read their "
                                                  "expressions")
    predict.add_argument("paths", nargs="+", metavar="PATH",
                         help="photos (JPEG, PNG, WebP, BMP; of a GIF or TIFF the first frame), videos (any container "
                              "OpenCV reads: MP4, MOV, AVI, MKV, WebM, ...) or folders of them")
    predict.add_argument("--model", help="a .keras file (with its preprocessing.npz) or a run folder (default: the "
                                         "committed model that scored best on val)")
    predict.add_argument("--out", default="predictions",
                         help="where the annotated photos, predictions.csv, timeline.csv and the videos' figures go "
                              "(default: predictions/; an earlier run's outputs there are moved aside)")
    predict.add_argument("--explain", action="store_true", help="add each face's saliency overlay")
    predict.add_argument("--min-face", type=int, metavar="PIXELS",
                         help="the smallest face side looked for, in the photo's pixels (default 40)")
    predict.add_argument("--views", help="the test-time views averaged, one of: " + ", ".join(registry.CROP_VIEWS) +
                         " (default: the set chosen on val for the model)")
    predict.add_argument("--detector", default="mtcnn",
                         help="mtcnn (default: finds tilted faces, aligns them on their eyes) or haar (OpenCV's "
                              "cascade: faster, upright faces only)")
    predict.add_argument("--every", type=int, default=1, metavar="N", help="videos: read every N-th frame (default 1)")
    predict.add_argument("--annotate", action="store_true",
                         help="videos: also write a copy with each face's box, number and top expression")
    args = parser.parse_args(argv)
    empty = [f"--{k.replace('_', '-')}" for k in ("profile", "run_dir", "data", "out", "model", "into")
             if isinstance(getattr(args, k, None), str) and not getattr(args, k).strip()]
    if empty:
        print(f"fer-report {args.command}: {empty[0]} is empty: give a value or leave the option out", file=sys.stderr)
        return 1
    try:
        return _command(args)
    except UserError as e:  # what the user gave: one line (any other exception is a bug)
        print(f"fer-report{' predict' if args.command == 'predict' else ''}: {e}", file=sys.stderr)
    except OSError as e:  # a path that is a file, a read-only place, a missing file...
        print(f"fer-report{' predict' if args.command == 'predict' else ''}: {atomic.problem(e)}", file=sys.stderr)
    except Exception:
        traceback.print_exc()
        print("fer-report: this is a bug (the traceback above says where); please report it with the command",
              file=sys.stderr)
        return 2
    return 1


def _command(args) -> int:
    """Run the parsed command; its errors go to `main`, which prints them as one line."""
    if args.command == "predict":
        from .predict import predict as predict_photos

        return predict_photos(args.paths, model=args.model, out=args.out, explain=args.explain, views=args.views,
                              detector=args.detector, every=args.every, annotate=args.annotate,
                              **({"min_face": args.min_face} if args.min_face is not None else {}))
    if args.command == "run":
        run_series(args.profile, data=args.data, only=args.only, run_dir=args.run_dir, log_output=args.log_output,
                   retrain=args.retrain)
    elif args.command == "render":
        index = render_run(run_folder(args.profile, args.run_dir), partial=args.partial)
        print(f"fer-report: the report is {index}")
    else:
        only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
        written = publish_run(run_folder(args.profile, args.run_dir), PROJECT_ROOT, only=only, into=args.into)
        print(f"fer-report: wrote {len(written)} files into {PROJECT_ROOT}; review them, then commit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
