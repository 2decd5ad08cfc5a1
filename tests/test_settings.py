"""The compute settings, declared once: defaults, per-model values, one-line errors, and a new setting that reaches
a training from a profile with no other edit than its declaration."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from fer_utils import cli, paths, profiles, session, settings, train
from tests import fer_files as ff
from tests.messages import one_line


def test_defaults_profile_values_and_per_model_values():
    assert settings.resolve({}) == {name: s.default for name, s in settings.COMPUTE.items()}
    profile = {"batch_size": 64, "mixed_precision": False, "mixed_precision_cnn_tuned": "auto", "seed": 1}
    assert settings.resolve(profile, "cnn_tuned")["mixed_precision"] == "auto"
    assert settings.resolve(profile, "cnn") == {**settings.resolve({}), "batch_size": 64}
    assert settings.is_setting("steps_per_execution") and settings.is_setting("mixed_precision_dnn")
    assert not settings.is_setting("epochs_cnn")


@pytest.mark.parametrize("key, value, expected", [
    ("batch_size", 0, "batch_size must be a positive integer, got 0"),
    ("batch_size", True, "batch_size must be a positive integer, got True"),
    ("mixed_precision", "bf16", "mixed_precision must be false, true, 'float16', 'bfloat16' or 'auto', got 'bf16'"),
    ("jit_compile", "yes", "jit_compile must be true, false or 'auto', got 'yes'"),
    ("distribute", "model_parallel", "distribute must be 'none' or 'data_parallel', got 'model_parallel'"),
    ("steps_per_execution", "ten", "steps_per_execution must be a positive integer, got 'ten'"),
])
def test_a_value_a_setting_does_not_take_is_one_line_naming_it(key, value, expected):
    with pytest.raises(ValueError) as error:
        settings.resolve({key: value}, where="params/my.yaml")
    assert str(error.value).startswith("params/my.yaml: ") and expected in str(error.value)
    with pytest.raises(ValueError, match="mixed_precision_cnn must be"):
        settings.resolve({"mixed_precision_cnn": 16}, "cnn")
    with pytest.raises(ValueError, match="epochs is not a compute setting"):
        settings.resolve({"epochs": 3}, strict=True)


@pytest.mark.parametrize("edit, expected", [
    (lambda text: text.replace("seed: 42", "seed: -1"), "seed must be 0 or a positive integer, got -1"),
    (lambda text: text + "mixed_precision_cnn_tunned: auto\n", "mixed_precision_cnn_tunned names no model"),
    (lambda text: text + "epochs_cnn: 7\n", "epochs_cnn is given twice (line "),
    (lambda text: text.replace("seed: 42", "seed: 42  # caf\xe9").encode("latin-1"), "not UTF-8 text"),
], ids=["negative-seed", "misspelt-model", "duplicate-key", "not-utf8"])
def test_a_profile_with_a_bad_key_or_value_is_one_line_naming_it(tmp_path, edit, expected, capsys):
    from fer_utils import train

    text = edit((paths.PARAMS_DIR / "quick.yaml").read_text())
    path = tmp_path / "mine.yaml"
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    with pytest.raises(profiles.ProfileError, match=re.escape(expected)):
        profiles.load_profile(str(path))
    assert cli.train_main(["cnn", "--profile", str(path)]) == 1
    one_line(capsys.readouterr().err, "fer_utils.train", str(path), expected)


def test_the_training_cli_refuses_zero_epochs(capsys):
    from fer_utils import train

    assert cli.train_main(["cnn", "--profile", "smoke", "--epochs", "0"]) == 1
    one_line(capsys.readouterr().err, "fer_utils.train", "--epochs", "got 0")


def test_a_new_setting_is_one_declaration_and_reaches_a_training_through_the_profile(tmp_path, monkeypatch):
    """Declared once with a default, set in a profile, the setting arrives in the training engine's call, from a
    notebook's run and from the training CLI alike; a profile that leaves it out gives the default."""
    monkeypatch.setitem(settings.COMPUTE, "prefetch", settings.Setting(
        "prefetch", 2, "a positive integer", lambda v: isinstance(v, int) and v > 0, "batches prepared ahead"))
    params_dir = tmp_path / "params"
    shutil.copytree(paths.PARAMS_DIR, params_dir)
    smoke = yaml.safe_load((params_dir / "smoke.yaml").read_text())
    (params_dir / "mine.yaml").write_text(yaml.safe_dump({**smoke, "prefetch": 5}))
    monkeypatch.setattr(paths, "PARAMS_DIR", params_dir)
    source = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *ff.make_faces(per_usage_class=2))
    monkeypatch.setenv("FER2013_CACHE", str(tmp_path / "cache"))
    seen = []

    class Reached(BaseException):  # not an error the CLI reports: it stops the test where the engine starts
        pass

    def engine(model, *args, **kwargs):  # the model's spec, resolved once by the training
        seen.append((model.name, {k: kwargs.get(k) for k in ("prefetch", "batch_size", "steps_per_execution")}))
        raise Reached

    monkeypatch.setattr(train, "train_model", engine)
    run = session.Run({"profile": "mine", "run_dir": str(tmp_path / "run"), "seed": 1, "data_source": str(source),
                       "epochs_dnn": 1})
    with pytest.raises(Reached):
        run.train("dnn")
    with pytest.raises(Reached):
        cli.train_main(["dnn", "--profile", "mine", "--data", str(source), "--run-dir", str(tmp_path / "cli")])
    with pytest.raises(Reached):
        cli.train_main(["dnn", "--profile", "smoke", "--data", str(source), "--run-dir", str(tmp_path / "default")])
    expected = {"batch_size": 128, "steps_per_execution": 1}
    assert seen == [("dnn", {"prefetch": 5, **expected})] * 2 + [("dnn", {"prefetch": 2, **expected})]
