"""The report's preprocessing: training statistics only, values in [-1, 1], a faithful save and load."""

import numpy as np
import pytest

from fer_utils.preprocess import Preprocessor, TangPreprocessor, value_summary


@pytest.fixture()
def splits():
    rng = np.random.default_rng(7)
    train = rng.integers(0, 256, (200, 48, 48), dtype=np.uint8)
    train[:, :10] //= 4  # a darker band, so the mean image is not flat
    other = rng.integers(0, 256, (50, 48, 48), dtype=np.uint8)
    return train, other


def test_training_values_lie_in_minus_one_one_with_zero_pixel_means(splits):
    train, _ = splits
    x = Preprocessor().fit_transform(train)
    assert x.dtype == np.float32 and x.shape == (200, 48, 48, 1)
    assert x.min() >= -1 and x.max() <= 1 and np.abs(x).max() == 1.0
    assert np.abs(x.mean(axis=0, dtype=np.float64)).max() < 1e-6
    s = value_summary(x)
    assert s["max_abs"] == 1.0 and s["max_abs_pixel_mean"] < 1e-6


def test_statistics_are_the_reports_definition(splits):
    train, other = splits
    prep = Preprocessor().fit(train)
    mean = train.astype(np.float64).mean(axis=0)
    scale = np.abs(train - mean).max()
    np.testing.assert_allclose(prep.mean, mean, rtol=1e-6)
    assert prep.mean.shape == (48, 48) and prep.scale == pytest.approx(scale, rel=1e-6)
    np.testing.assert_allclose(prep.transform(other)[..., 0], (other - mean) / scale, atol=1e-6)


def test_val_and_test_reuse_the_training_statistics(splits):
    train, other = splits
    prep = Preprocessor().fit(train)
    before = (prep.mean.copy(), prep.scale)
    prep.transform(other)
    np.testing.assert_array_equal(prep.mean, before[0])
    assert prep.scale == before[1]
    assert not np.allclose(prep.transform(other).mean(axis=0), 0, atol=1e-3)  # other data is not re-centred


def test_save_and_load_round_trip(tmp_path, splits):
    train, other = splits
    prep = Preprocessor().fit(train)
    path = prep.save(tmp_path / "models" / "preprocessing.npz")
    with np.load(path) as npz:
        assert set(npz.files) == {"mean", "scale", "fitted_on"}  # which training faces they describe
        assert npz["mean"].dtype == np.float32 and npz["mean"].shape == (48, 48) and npz["scale"].shape == ()
    loaded = Preprocessor.load(path)
    np.testing.assert_array_equal(loaded.transform(other), prep.transform(other))
    assert loaded.fitted_on == prep.fitted_on and not list(tmp_path.glob("models/.partial-*"))


def test_errors(tmp_path, splits):
    with pytest.raises(FileNotFoundError, match="01_preprocessing"):
        Preprocessor.load(tmp_path / "missing.npz")
    with pytest.raises(RuntimeError, match="before fit"):
        Preprocessor().transform(splits[1])
    with pytest.raises(ValueError, match=r"\(N, 48, 48\)"):
        Preprocessor().fit(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="scale is 0"):
        Preprocessor().fit(np.full((3, 48, 48), 9, np.uint8))


def test_tang_preprocessing_norms_each_face_then_standardises_each_pixel(tmp_path, splits):
    train, other = splits
    faces = TangPreprocessor.normalise_faces(train)
    np.testing.assert_allclose(faces.mean(axis=(1, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(np.sqrt((faces ** 2).sum(axis=(1, 2))), 100, rtol=1e-4)
    prep = TangPreprocessor().fit(train)
    x = prep.transform(train)
    assert x.shape == (200, 48, 48, 1)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=0), 1, rtol=1e-3)
    dimmer = other.astype(np.float32) * 0.5 + 60  # each face's contrast and brightness do not matter
    np.testing.assert_allclose(prep.transform(dimmer), prep.transform(other), atol=1e-3)
    with np.load(prep.save(tmp_path / "tang.npz")) as npz:
        np.testing.assert_array_equal(npz["std"], prep.std)


def test_a_run_reuses_the_statistics_saved_for_its_own_training_faces(tmp_path, splits, caplog):
    """What notebook 01 saves is what the later notebooks use; statistics of other faces are fitted again."""
    from fer_utils import preprocess

    train, other = splits
    path = tmp_path / "models" / "preprocessing.npz"
    saved = Preprocessor().fit(train)
    saved.mean += 1  # marked, so a reload is told apart from a refit
    saved.save(path)
    reused = preprocess.for_run("report", train, path)
    np.testing.assert_array_equal(reused.mean, saved.mean)
    refitted = preprocess.for_run("report", other, path)
    np.testing.assert_allclose(refitted.mean, other.mean(axis=0), rtol=1e-6)
    assert "fitted on other training faces" in caplog.text
    assert Preprocessor.load(path).fitted_on == preprocess.fingerprint(other)
    tang = preprocess.for_run("tang", train, tmp_path / "models" / "tang_preprocessing.npz")
    np.testing.assert_array_equal(TangPreprocessor.load(tmp_path / "models" / "tang_preprocessing.npz").std, tang.std)
