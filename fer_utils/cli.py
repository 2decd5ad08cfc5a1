"""The command lines: `fer-report` (`run` executes the numbered notebooks in order with papermill under a profile,
`render` turns a run into its HTML report, `publish` copies its face-free results into the project as the reference
run, `predict` reads the expressions of the faces in your own photos and videos, `live` from the camera on a local
page, `export` writes ONNX files) and the training CLI
(`python -m fer_utils.train MODEL`). Both parse here and share one error handler (`guarded`): what the user gave
wrong is one line and exit 1; anything else is a bug, shown with its traceback and exit 2."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from . import atomic, registry
from .errors import UserError
from .paths import DEFAULT_PROFILE, LIVE_HOST, LIVE_PORT

DESCRIPTION = ("The FER2013 report series: `run` executes the numbered notebooks in order with papermill under a "
               "profile, `render` turns a run into its HTML report, `publish` copies its face-free results into the "
               "project as the reference run, `predict` reads the expressions of the faces in your own photos and "
               "videos, `live` on a local web page from your camera, `export` writes a model and the face detector "
               "as ONNX for reading faces without TensorFlow.")
TRAIN_PROG = "python -m fer_utils.train"
TRAIN_DESCRIPTION = ("Resumable training of the registry's models and their evaluation. Each epoch writes a checkpoint "
                     "and a history row atomically, so a killed run resumes after its last finished epoch; the best "
                     "epoch on val is kept.")


def guarded(prog: str, body) -> int:
    """Run `body()` and return its exit status; a UserError (what the user gave) or an OSError (a path that is a
    file, a read-only place...) is one line after `prog` and exit 1; any other exception is a bug: its traceback, a
    line saying so, exit 2."""
    try:
        return body()
    except UserError as e:
        print(f"{prog}: {e}", file=sys.stderr)
    except OSError as e:
        print(f"{prog}: {atomic.problem(e)}", file=sys.stderr)
    except Exception:
        traceback.print_exc()
        print(f"{prog}: this is a bug (the traceback above says where); please report it with the command",
              file=sys.stderr)
        return 2
    return 1


def _no_empty_options(args, keys) -> None:
    """A UserError naming the first of `keys` given as an empty string."""
    for key in keys:
        if isinstance(getattr(args, key, None), str) and not getattr(args, key).strip():
            raise UserError(f"--{key.replace('_', '-')} is empty: give a value or leave the option out")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fer-report", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:  # its help opens with the same sentence
        return commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")

    run = command("run", "run the notebook series with papermill")
    run.add_argument("--profile", default=DEFAULT_PROFILE,
                     help="smoke, quick or full (params/<profile>.yaml), or a profile's YAML file (default: quick)")
    run.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    run.add_argument("--only", help="comma-separated notebook numbers, e.g. 01,02 (default: all of them)")
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
    predict = command("predict", "find the faces in your own photos and videos and read their expressions")
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
    predict.add_argument("--runtime", default="auto",
                         help="keras (TensorFlow), onnx (onnxruntime on a folder written by export; by default the "
                              "committed export of the default model) or auto (default: keras where TensorFlow is "
                              "installed, else onnx)")
    live = command("live", "read the expressions your camera sees, on a local web page")
    live.add_argument("--model", help="as predict takes it (default: the committed model that scored best on val)")
    live.add_argument("--host", default=LIVE_HOST,
                      help=f"the address to listen on (default {LIVE_HOST}: this machine only; see docs/predict.md for "
                           f"a remote server)")
    live.add_argument("--port", type=int, default=LIVE_PORT, help=f"the port to listen on (default {LIVE_PORT})")
    live.add_argument("--runtime", default="auto", help="keras, onnx or auto, as predict takes it (default: auto)")
    live.add_argument("--detector", default="mtcnn", help="mtcnn (default) or haar, as predict takes it")
    live.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    export = command("export", "write a trained model and the face detector as ONNX files that onnxruntime reads "
                               "without TensorFlow")
    export.add_argument("--model", help="as predict takes it (default: the committed model that scored best on "
                                        "val)")
    export.add_argument("--out", default="onnx", help="the folder of the ONNX files and their fer-model.json "
                                                      "(default: onnx/)")
    args = parser.parse_args(argv)
    options = ("profile", "run_dir", "data", "out", "model", "into", "host")
    return (guarded(f"fer-report {args.command}", lambda: _no_empty_options(args, options) or 0)
            or guarded(f"fer-report{f' {args.command}' if args.command in ('predict', 'export', 'live') else ''}",
                       lambda: _command(args)))


def _command(args) -> int:
    """Run the parsed `fer-report` command."""
    if args.command == "predict":
        from .predict import predict as predict_photos

        return predict_photos(args.paths, model=args.model, out=args.out, explain=args.explain, views=args.views,
                              detector=args.detector, every=args.every, annotate=args.annotate, runtime=args.runtime,
                              **({"min_face": args.min_face} if args.min_face is not None else {}))
    if args.command == "live":
        from .live import serve

        try:
            serve(args.model, args.host, args.port, args.runtime, args.detector, not args.no_browser)
        except KeyboardInterrupt:
            print("fer-report live: stopped")
        return 0
    if args.command == "export":
        from .export import export

        export(args.model, args.out)
        return 0
    from .paths import PROJECT_ROOT
    from .profiles import run_folder

    if args.command == "run":
        from .series import run_series

        run_series(args.profile, data=args.data, only=args.only, run_dir=args.run_dir, log_output=args.log_output,
                   retrain=args.retrain)
    elif args.command == "render":
        from .render import render

        index = render(run_folder(args.profile, args.run_dir), partial=args.partial)
        print(f"fer-report: the report is {index}")
    else:
        from .publish import publish

        only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
        written = publish(run_folder(args.profile, args.run_dir), PROJECT_ROOT, only=only, into=args.into)
        print(f"fer-report: wrote {len(written)} files into {PROJECT_ROOT}; review them, then commit")
    return 0


def train_main(argv: list[str] | None = None) -> int:
    """The training CLI: one model of the registry trained (or resumed, or loaded) and evaluated in a run folder."""
    parser = argparse.ArgumentParser(prog=TRAIN_PROG, description=TRAIN_DESCRIPTION)
    parser.add_argument("model", choices=list(registry.MODELS), help="a model of the registry")
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help="params/<profile>.yaml: smoke, quick or full, or a profile's YAML file (default: quick)")
    parser.add_argument("--data", help="FER2013 file or folder (default: $FER2013_DATA, then data/)")
    parser.add_argument("--run-dir", help="run folder (default: runs/<profile>); the notebooks read it")
    parser.add_argument("--epochs", type=int, help="train to this many epochs instead of the profile's")
    parser.add_argument("--seed", type=int, help="an extra seed of the model, trained beside the profile's seed in "
                                                 "models/MODEL-seedS (the spread of its result over seeds)")
    parser.add_argument("--retrain", action="store_true",
                        help="train here even where the committed reference run holds this training")
    args = parser.parse_args(argv)
    return guarded("fer_utils.train", lambda: _train(args))


def _train(args) -> int:
    """Run the parsed training command."""
    from . import data, preprocess, profiles, runtime, settings, speed
    from .train import train_and_evaluate

    _no_empty_options(args, ("profile", "data", "run_dir"))
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be a positive integer, got {args.epochs}")
    params = profiles.load_profile(args.profile)  # checked before anything starts
    runtime.setup_logging("%(asctime)s %(message)s")
    log = logging.getLogger("fer_utils.train")
    where, warning = runtime.device_report()
    log.info(where)
    if warning:
        log.warning("warning: %s", warning)
    spec = registry.get(args.model)
    run_dir = profiles.run_folder(args.profile, args.run_dir)
    seed = params["seed"] if args.seed is None else args.seed
    runtime.seed_everything(seed)
    fer = data.limit(data.load_fer2013(profiles.resolve_data(args.data)), params["train_limit"],
                     params["eval_limit"], params["seed"])
    epochs = args.epochs or params[spec.epochs_key]
    if not epochs:
        raise profiles.ProfileError(f"profile {args.profile} leaves {args.model} out ({spec.epochs_key}: 0): give "
                                    f"--epochs to train it")
    compute = settings.resolve(params, args.model, where=f"profile {args.profile}")

    def estimate(done: int) -> None:
        sizes = {"n_train": len(fer.train), "n_val": len(fer.val)}
        mine = speed.training_seconds(args.model, epochs=epochs, batch_size=compute["batch_size"], done=done,
                                      precision=compute["mixed_precision"], **sizes)
        whole = sum(speed.profile_seconds(params, **sizes).values())
        print(f"{args.model} on this machine: {speed.about(mine)} for epochs {done + 1}-{epochs}; every "
              f"training of {args.profile} from scratch: {speed.about(whole)}", flush=True)

    _, record = train_and_evaluate(
        args.model, fer, preprocess.prepared(fer, spec.preprocessing, run_dir), run_dir, epochs=epochs, seed=seed,
        train_limit=params["train_limit"], eval_limit=params["eval_limit"], retrain=args.retrain,
        before_training=estimate, extra_seed=seed != params["seed"], **compute)
    summary = {s: round(record[s]["accuracy"], 4) for s in ("val", "test") if s in record}
    chosen = record.get("test", record["val"])
    print(f"{args.model}: {record['epochs']} epochs, best epoch {record['best_epoch']}, accuracy {summary}; "
          f"{'test' if 'test' in record else 'val'} with the views chosen on val ({chosen['views']}) "
          f"{chosen['views_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
