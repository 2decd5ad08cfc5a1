"""fer_utils.data on small files in every accepted form, and on every kind of bad input."""

from __future__ import annotations

import gzip
import io
import logging
import os
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from fer_utils import data
from fer_utils.data import CLASS_NAMES, DataError, load_fer2013
from tests import fer_files as ff


@pytest.fixture()
def faces():
    return ff.make_faces()


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


def rows_sorted(images, labels):
    """Faces with their labels as sorted rows, to compare splits whatever their order."""
    flat = np.concatenate([images.reshape(len(images), -1), np.asarray(labels)[:, None].astype(np.uint8)], axis=1)
    return flat[np.lexsort(flat.T[::-1])]


def assert_same_faces(split, images, labels):
    assert split.images.dtype == np.uint8 and split.images.shape == (len(labels), 48, 48)
    assert split.labels.dtype == np.int64 and split.labels.shape == (len(labels),)
    np.testing.assert_array_equal(rows_sorted(split.images, split.labels), rows_sorted(images, labels))


def assert_usage_splits(ds, images, labels, usage):
    for split, name in (("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")):
        keep = usage == name
        assert_same_faces(getattr(ds, split), images[keep], labels[keep])
    assert not ds.val_carved


# --------------------------------------------------------------------------- the accepted forms


@pytest.mark.parametrize("quirks", [{}, {"bom": True, "crlf": True}, {"quote_pixels": True}])
def test_fer2013_csv(tmp_path, faces, cache, quirks):
    path = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces, **quirks)
    assert_usage_splits(load_fer2013(path, cache_dir=cache), *faces)


def test_fer2013_csv_keeps_row_order(tmp_path, faces, cache):
    images, labels, usage = faces
    ds = load_fer2013(ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces), cache_dir=cache)
    keep = usage == "Training"
    np.testing.assert_array_equal(ds.train.images, images[keep])
    np.testing.assert_array_equal(ds.train.labels, labels[keep])


def test_icml_face_data_csv_with_bom_and_crlf(tmp_path, faces, cache):
    path = ff.write_icml_csv(tmp_path / "icml_face_data.csv", *faces, bom=True, crlf=True)
    assert_usage_splits(load_fer2013(path, cache_dir=cache), *faces)


@pytest.mark.parametrize("columns", [("label", "feature"), ("emotion", "pixels")])
def test_train_csv_gets_a_stratified_validation_split(tmp_path, faces, cache, caplog, columns):
    images, labels, _ = faces
    path = ff.write_train_csv(tmp_path / "train.csv", images, labels, columns=columns, bom=True, crlf=True)
    with caplog.at_level(logging.WARNING, logger="fer_utils.data"):
        ds = load_fer2013(path, cache_dir=cache)
    assert ds.test is None and ds.val_carved
    assert len(ds.val) == int(np.ceil(0.1 * len(labels)))  # scikit-learn rounds the test share up
    assert set(ds.val.labels) == set(range(7))  # stratified: every class is in val
    both = np.concatenate([ds.train.images, ds.val.images]), np.concatenate([ds.train.labels, ds.val.labels])
    assert_same_faces(data.Split(*both), images, labels)
    assert len([r for r in caplog.records if "carved" in r.getMessage()]) == 1
    again = load_fer2013(path, cache_dir=cache, use_cache=False)
    np.testing.assert_array_equal(again.val.images, ds.val.images)  # a fixed seed


def test_irregular_whitespace_and_gzip(tmp_path, faces, cache):
    rows = ff.fer2013_rows(*faces)
    rows[0][1] = "  " + rows[0][1].replace(" ", "\t", 5) + " "
    rows[3][1] = rows[3][1].replace(" ", "   ", 9)
    path = ff.write_csv(tmp_path / "fer2013.csv", ["emotion", "pixels", "Usage"], rows)
    assert_usage_splits(load_fer2013(path, cache_dir=cache), *faces)
    rows[-1][1] = rows[-1][1].replace(" 1", " 1x", 1)
    bad = ff.write_csv(tmp_path / "bad.csv", ["emotion", "pixels", "Usage"], rows)
    with pytest.raises(DataError, match=rf"row {len(rows)} \(line {len(rows) + 1}\): pixel \d+ is '1\d*x"):
        load_fer2013(bad, use_cache=False)
    gz = tmp_path / "fer2013.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert_usage_splits(load_fer2013(gz, cache_dir=cache), *faces)


def test_sources_without_publictest_get_a_carved_val(tmp_path, faces, cache):
    images, labels, usage = faces
    keep = usage != "PublicTest"
    ds = load_fer2013(ff.write_fer2013_csv(tmp_path / "fer2013.csv", images[keep], labels[keep], usage[keep]),
                      cache_dir=cache)
    assert ds.val_carved and len(ds.train) + len(ds.val) == (usage == "Training").sum()
    assert_same_faces(ds.test, images[usage == "PrivateTest"], labels[usage == "PrivateTest"])
    train_only = {k: v for k, v in ff.tree_members(*faces).items() if k.startswith("train/")}
    ds = load_fer2013(ff.write_tree(tmp_path / "tree", train_only), cache_dir=cache)
    assert ds.val_carved and ds.test is None


def test_image_folder_png(tmp_path, faces, cache):
    folder = ff.write_tree(tmp_path / "fer", ff.tree_members(*faces))
    (folder / "README.txt").write_text("not part of the tree")
    (folder / "train" / ".DS_Store").write_bytes(b"\0")
    assert_usage_splits(load_fer2013(folder, cache_dir=cache), *faces)


def test_zip_of_jpegs_read_without_extracting(tmp_path, faces, cache):
    images, labels, usage = faces
    members = ff.tree_members(*faces, fmt="JPEG")
    path = ff.write_zip(tmp_path / "fer2013.zip", members)
    ds = load_fer2013(path, cache_dir=cache)
    expected = np.stack([ff.decoded(blob) for blob in members.values()])  # Pillow's reading of each JPEG
    names = list(members)
    for split, prefix in (("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")):
        keep = np.array([prefix in n for n in names])
        exp_labels = [CLASS_NAMES.index(n.split("/")[1]) for n in np.array(names)[keep]]
        assert_same_faces(getattr(ds, split), expected[keep], exp_labels)
    assert list(tmp_path.iterdir()) != [] and not (tmp_path / "train").exists()


def test_zip_with_a_top_folder_numeric_classes_and_mac_debris(tmp_path, faces, cache):
    members = {}
    for name, blob in ff.tree_members(*faces).items():
        split, cls, file = name.split("/")
        members[f"archive/{split}/{CLASS_NAMES.index(cls)}/{file}"] = blob
    members["__MACOSX/archive/train/._x.png"] = b"junk"
    members["archive/LICENSE"] = b"text"
    assert_usage_splits(load_fer2013(ff.write_zip(tmp_path / "a.zip", members), cache_dir=cache), *faces)


def test_image_folder_without_prefixes_carves_val_and_has_no_test(tmp_path, faces, cache, caplog):
    images, labels, usage = faces
    folder = ff.write_tree(tmp_path / "fer", ff.tree_members(*faces, prefixes=False))
    with caplog.at_level(logging.WARNING, logger="fer_utils.data"):
        ds = load_fer2013(folder, cache_dir=cache)
    train = usage == "Training"
    assert ds.test is None and ds.val_carved and len(ds.train) + len(ds.val) == train.sum()
    assert any("test/" in r.getMessage() for r in caplog.records)


def test_folder_with_a_known_csv_and_nested_tar_layout(tmp_path, faces, cache):
    ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces)
    assert_usage_splits(load_fer2013(tmp_path, cache_dir=cache), *faces)
    nested = tmp_path / "nested"
    (nested / "fer2013").mkdir(parents=True)
    ff.write_fer2013_csv(nested / "fer2013" / "fer2013.csv", *faces)
    assert load_fer2013(nested, cache_dir=cache).source == nested / "fer2013" / "fer2013.csv"


def test_folder_with_a_downloaded_zip_or_an_extracted_archive(tmp_path, faces, cache):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    ff.write_zip(downloads / "archive.zip", ff.tree_members(*faces))
    (downloads / "notes.txt").write_text("from Kaggle")
    assert_usage_splits(load_fer2013(downloads, cache_dir=cache), *faces)
    extracted = tmp_path / "extracted"
    ff.write_tree(extracted / "archive", ff.tree_members(*faces))
    assert load_fer2013(extracted, cache_dir=cache).source == extracted / "archive"


def test_kaggle_challenge_zip_and_tar_gz_with_the_csv_inside(tmp_path, faces, cache):
    csv_path = ff.write_icml_csv(tmp_path / "icml_face_data.csv", *faces)
    with zipfile.ZipFile(tmp_path / "challenge.zip", "w") as zf:
        zf.write(csv_path, "icml_face_data.csv")
        zf.writestr("test.csv", "pixels\n1 2 3\n")
    assert_usage_splits(load_fer2013(tmp_path / "challenge.zip", cache_dir=cache), *faces)
    csv_path = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces)
    with tarfile.open(tmp_path / "fer2013.tar.gz", "w:gz") as tf:
        tf.add(csv_path, "fer2013/fer2013.csv")
    assert_usage_splits(load_fer2013(tmp_path / "fer2013.tar.gz", cache_dir=cache), *faces)


def test_default_source_is_the_environment_variable_then_data_folder(tmp_path, faces, cache, monkeypatch):
    path = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces)
    monkeypatch.setenv(data.DATA_ENV, str(path))
    assert load_fer2013(cache_dir=cache).source == path
    monkeypatch.delenv(data.DATA_ENV)
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setattr(data, "PROJECT_DATA_DIR", empty)
    with pytest.raises(FileNotFoundError, match=data.DATA_ENV):
        load_fer2013(cache_dir=cache)
    ff.write_fer2013_csv(empty / "fer2013.csv", *faces)
    assert load_fer2013(cache_dir=cache).source == empty / "fer2013.csv"


def test_missing_path_lists_the_accepted_forms(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_fer2013(tmp_path / "nowhere.csv")
    assert "nowhere.csv" in str(err.value) and "fer2013.csv" in str(err.value) and data.DATA_ENV in str(err.value)


def test_simplejpeg_reads_the_same_pixels_as_pillow():
    rng = np.random.default_rng(1)
    for quality in (75, 95):
        face = rng.integers(0, 256, (48, 48), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(face).save(buf, "JPEG", quality=quality)
        np.testing.assert_array_equal(data.forms._decode_image(buf.getvalue(), "x"), ff.decoded(buf.getvalue()))


# --------------------------------------------------------------------------- bad input


def csv_with(tmp_path, faces, row: int, column: int, value: str, name="fer2013.csv"):
    rows = ff.fer2013_rows(*faces)
    rows[row][column] = value
    return ff.write_csv(tmp_path / name, ["emotion", "pixels", "Usage"], rows)


def pixels_with(faces, k: int, token: str) -> str:
    tokens = ff.pixel_text(faces[0][0]).split()
    tokens[k] = token
    return " ".join(tokens)


BAD_CSV = {  # case: (row, column, new value from the faces, expected words)
    "short pixel list": (1, 1, lambda f: " ".join(ff.pixel_text(f[0][1]).split()[:2303]), "2303 pixel values"),
    "not an integer": (2, 1, lambda f: pixels_with(f, 5, "abc"), "pixel 6 is 'abc'"),
    "float pixel": (2, 1, lambda f: pixels_with(f, 0, "12.5"), "pixel 1 is '12.5'"),
    "pixel above 255": (3, 1, lambda f: pixels_with(f, 9, "256"), "pixel 10 is 256, outside 0..255"),
    "negative pixel": (3, 1, lambda f: pixels_with(f, 9, "-1"), "pixel 10 is -1, outside 0..255"),
    "label 7": (4, 0, lambda f: "7", "label '7'"),
    "label text": (4, 0, lambda f: "happy", "label 'happy'"),
    "empty label": (4, 0, lambda f: "", "label ''"),
    "unknown usage": (5, 2, lambda f: "Validation", "unknown Usage 'Validation'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_rows_name_the_file_and_row(tmp_path, faces, cache, case):
    row, column, value, expected = BAD_CSV[case]
    path = csv_with(tmp_path, faces, row, column, value(faces))
    with pytest.raises(DataError) as err:
        load_fer2013(path, cache_dir=cache)
    message = str(err.value)
    assert str(path) in message and f"row {row + 1} (line {row + 2})" in message and expected in message
    assert "\n" not in message
    assert not cache.exists() or not any(cache.iterdir())  # nothing cached from a bad source


@pytest.mark.parametrize("header, expected", [
    (["emotion", "Usage"], "missing column pixels"),
    (["pixels", "Usage"], "missing column emotion"),
    (["emotion", "pixels", "Usage", "extra"], "unknown column 'extra'"),
    (["emotion", "pixels", "emotion"], "two label columns"),
])
def test_missing_or_unknown_columns(tmp_path, faces, header, expected):
    rows = [[str(i)] * len(header) for i in range(3)]
    path = ff.write_csv(tmp_path / "fer2013.csv", header, rows)
    with pytest.raises(DataError, match=expected) as err:
        load_fer2013(path, use_cache=False)
    assert str(path) in str(err.value)


def test_empty_and_header_only_csv(tmp_path):
    empty = tmp_path / "fer2013.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        load_fer2013(empty, use_cache=False)
    header_only = tmp_path / "train.csv"
    header_only.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no data rows"):
        load_fer2013(header_only, use_cache=False)


def test_truncated_csv_names_the_last_line(tmp_path, faces, cache):
    path = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 3000])  # cut inside the last row's pixels
    n = len(faces[1])
    with pytest.raises(DataError) as err:
        load_fer2013(path, cache_dir=cache)
    assert f"line {n + 1}" in str(err.value) and "truncated" in str(err.value)
    train = ff.write_train_csv(tmp_path / "train.csv", faces[0], faces[1])
    raw = train.read_bytes()
    train.write_bytes(raw[: len(raw) - 3000])
    with pytest.raises(DataError, match=rf"row {n} \(line {n + 1}, the last one: truncated file\?\): \d+ pixel "
                                        "values, expected 2304"):
        load_fer2013(train, cache_dir=cache)


def write_member_case(tmp_path, faces, change):
    members = ff.tree_members(*faces, fmt="JPEG")
    name = change(members)
    return ff.write_zip(tmp_path / "fer2013.zip", members), name


def _garbage(m):
    name = next(iter(m))
    m[name] = b"this is not an image"
    return name


def _truncated_jpeg(m):
    name = next(iter(m))
    m[name] = m[name][: len(m[name]) // 2]
    return name


def _big_image(m):
    name = next(iter(m))
    m[name] = ff.encode(np.zeros((64, 64), np.uint8), "JPEG")
    return name


def _renamed(old_part, new_part):
    def change(m):
        name = next(n for n in m if old_part in n)
        new = name.replace(old_part, new_part)
        m[new] = m.pop(name)
        return new
    return change


def _text_file(m):
    name = "train/angry/notes.txt"
    m[name] = b"hello"
    return name


def _deep(m):
    name = next(iter(m))
    folder, file = name.rsplit("/", 1)
    new = f"{folder}/sub/{file}"
    m[new] = m.pop(name)
    return new


BAD_MEMBERS = {
    "undecodable": (_garbage, "cannot decode image"),
    "truncated jpeg": (_truncated_jpeg, "cannot decode image"),
    "not 48x48": (_big_image, "is 64x64, expected 48x48"),
    "unknown class": (_renamed("/happy/", "/joy/"), "unknown class folder 'joy'"),
    "unknown split": (_renamed("train/", "validation/"), "unknown split folder 'validation'"),
    "usage against folder": (_renamed("test/angry/PublicTest_", "train/angry/PublicTest_"), "a PublicTest face"),
    "missing prefix": (_renamed("Training_", "face_"), "no Training_/PublicTest_/PrivateTest_ prefix"),
    "not an image": (_text_file, "not an image file"),
    "too deep": (_deep, "expected <split>/<class>/<image>"),
}


@pytest.mark.parametrize("case", sorted(BAD_MEMBERS))
def test_bad_zip_members_name_the_member(tmp_path, faces, cache, case):
    change, expected = BAD_MEMBERS[case]
    path, member = write_member_case(tmp_path, faces, change)
    with pytest.raises(DataError) as err:
        load_fer2013(path, cache_dir=cache)
    message = str(err.value)
    assert str(path) in message and expected in message and "\n" not in message
    if case not in ("missing prefix", "usage against folder"):
        assert member in message
    assert not cache.exists() or not any(cache.iterdir())


def test_bad_member_in_a_folder_names_the_file(tmp_path, faces):
    members = ff.tree_members(*faces)
    name = _garbage(members)
    folder = ff.write_tree(tmp_path / "fer", members)
    with pytest.raises(DataError, match=f"member {name}: cannot decode image"):
        load_fer2013(folder, use_cache=False)


def test_damaged_zips(tmp_path, faces):
    fake = tmp_path / "fer2013.zip"
    fake.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="not a zip file"):
        load_fer2013(fake, use_cache=False)
    good = ff.write_zip(tmp_path / "good.zip", ff.tree_members(*faces))
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.zip: not a zip file"):
        load_fer2013(cut, use_cache=False)
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(DataError, match="empty zip"):
        load_fer2013(empty, use_cache=False)
    other = ff.write_zip(tmp_path / "other.zip", {"notes/readme.md": b"hi"})
    with pytest.raises(DataError, match="neither train/<class>/ images nor"):
        load_fer2013(other, use_cache=False)


def test_truncated_compressed_csvs(tmp_path, faces):
    csv_path = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces)
    with tarfile.open(tmp_path / "full.tar.gz", "w:gz") as tf:
        tf.add(csv_path, "fer2013/fer2013.csv")
    cut_tar = tmp_path / "fer2013.tar.gz"
    cut_tar.write_bytes((tmp_path / "full.tar.gz").read_bytes()[:20000])
    with pytest.raises(DataError, match="fer2013.tar.gz: damaged or truncated archive"):
        load_fer2013(cut_tar, use_cache=False)
    cut_gz = tmp_path / "fer2013.csv.gz"
    cut_gz.write_bytes(gzip.compress(csv_path.read_bytes())[:20000])
    with pytest.raises(DataError, match="fer2013.csv.gz: "):
        load_fer2013(cut_gz, use_cache=False)


def test_damaged_member_data_in_a_zip(tmp_path, faces):
    members = ff.tree_members(*faces)
    path = ff.write_zip(tmp_path / "fer2013.zip", members)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[5]
    start = info.header_offset + 30 + len(info.filename.encode()) + 10
    raw[start:start + 40] = bytes(40)  # overwrite compressed bytes: the CRC check fails
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=f"member {info.filename}"):
        load_fer2013(path, use_cache=False)


def test_empty_and_foreign_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty folder"):
        load_fer2013(empty, use_cache=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("hi")
    with pytest.raises(DataError, match="no FER2013 form found"):
        load_fer2013(other, use_cache=False)
    tree = tmp_path / "tree"
    (tree / "train" / "angry").mkdir(parents=True)
    with pytest.raises(DataError, match="no images under"):
        load_fer2013(tree, use_cache=False)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "faces.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError, match="unknown file type"):
        load_fer2013(path, use_cache=False)


# --------------------------------------------------------------------------- the cache


def test_cache_is_used_then_rebuilt_when_stale_or_corrupt(tmp_path, faces, cache, monkeypatch, caplog):
    images, labels, usage = faces
    path = ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces)
    first = load_fer2013(path, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob(".partial-*"))

    real_read = data.forms.read_source
    monkeypatch.setattr(data.forms, "read_source", lambda p: pytest.fail("decoded again despite a valid cache"))
    cached = load_fer2013(path, cache_dir=cache)
    np.testing.assert_array_equal(cached.test.images, first.test.images)
    monkeypatch.setattr(data.forms, "read_source", real_read)

    # a changed source (new size and mtime) is decoded again, never served from the old cache
    ff.write_fer2013_csv(path, images[::-1].copy(), labels[::-1].copy(), usage[::-1].copy(), crlf=True)
    os.utime(path, ns=(1, 1))
    changed = load_fer2013(path, cache_dir=cache)
    np.testing.assert_array_equal(changed.train.images, images[::-1][usage[::-1] == "Training"])

    # a damaged cache file is ignored and rewritten
    for f in cache.glob("*.npz"):
        f.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="fer_utils.data"):
        again = load_fer2013(path, cache_dir=cache)
    assert any("unreadable cache" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(again.train.images, changed.train.images)
    assert all(np.load(f)["train_images"].shape[1:] == (48, 48) for f in cache.glob("*.npz"))


def test_cache_of_an_image_folder_notices_a_changed_file(tmp_path, faces, cache):
    folder = ff.write_tree(tmp_path / "fer", ff.tree_members(*faces))
    load_fer2013(folder, cache_dir=cache)
    victim = sorted((folder / "train").rglob("*.png"))[0]
    victim.write_bytes(ff.encode(np.full((48, 48), 7, np.uint8)))
    ds = load_fer2013(folder, cache_dir=cache)
    assert (ds.train.images == 7).all(axis=(1, 2)).sum() == 1


# --------------------------------------------------------------------------- helpers


def test_subsample_and_limit_are_stratified_and_reproducible(tmp_path, faces, cache):
    ds = load_fer2013(ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces), cache_dir=cache)
    small = data.limit(ds, train_limit=14, eval_limit=7, seed=3)
    assert (len(small.train), len(small.val), len(small.test)) == (14, 7, 7)
    assert np.bincount(small.train.labels).tolist() == [2] * 7
    again = data.limit(ds, 14, 7, seed=3)
    np.testing.assert_array_equal(again.train.images, small.train.images)
    assert data.limit(ds, 0, 0, seed=3).train is ds.train


def test_class_counts_table(tmp_path, faces, cache):
    ds = load_fer2013(ff.write_fer2013_csv(tmp_path / "fer2013.csv", *faces), cache_dir=cache)
    table = data.class_counts(ds)
    assert list(table.index) == ["train", "val", "test", "all"]
    assert list(table.columns) == [*CLASS_NAMES, "total"]
    assert table.loc["all", "total"] == len(faces[1]) and (table.loc["train", list(CLASS_NAMES)] == 3).all()


def test_blank_images_and_placeholders_are_found_and_faces_are_not():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    face_like = np.clip(120 + 60 * np.sin(xx / 7) * np.cos(yy / 9) + rng.normal(0, 12, (48, 48)), 0, 255)
    dark_background = face_like.copy()
    dark_background[:, :12] = 0  # a face on a black ground: dark, but not a non-face
    notice = np.full((48, 48), 250.0)
    notice[10:14, 5:40] = 30  # a line of text on a bright ground
    notice[20:24, 5:30] = 30
    sign = np.zeros((48, 48))
    sign[8:40, 10:38] = 255  # a white sign on black
    images = np.stack([face_like, dark_background, np.zeros((48, 48)), np.full((48, 48), 128.0), notice, sign])
    found = data.non_faces(images.astype(np.uint8))
    assert found["blank"].tolist() == [False, False, True, True, False, False]
    assert found["placeholder"].tolist() == [False, False, False, False, True, True]
    assert data.is_face(images.astype(np.uint8)).tolist() == [True, True, False, False, False, False]
