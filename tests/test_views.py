"""Test-time views: a shifted view is the face moved with its edge rows repeated, the crop views move the centre
crop to the corners, and views predicted in chunks equal views predicted one by one."""

from __future__ import annotations

import numpy as np
import pytest

from fer_utils import views


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_shifted_view_is_the_face_moved_with_its_edge_rows_repeated(k):
    x = np.random.default_rng(k).normal(size=(3, 48, 48, 1)).astype("float32")
    down = views.view(x, k, 0, False)  # the window moves down: the face moves up by k rows
    np.testing.assert_array_equal(down[:, :48 - k], x[:, k:])
    np.testing.assert_array_equal(down[:, 48 - k:], np.repeat(x[:, 47:], k, axis=1))
    left = views.view(x, 0, -k, False)  # the window moves left: the face moves right by k columns
    np.testing.assert_array_equal(left[:, :, k:], x[:, :, :48 - k])
    np.testing.assert_array_equal(left[:, :, :k], np.repeat(x[:, :, :1], k, axis=2))
    diagonal = views.view(x, -k, k, True)  # up and right, then mirrored
    np.testing.assert_array_equal(diagonal[:, k:, k:], x[:, :48 - k, k:][:, :, ::-1])
    np.testing.assert_array_equal(diagonal[:, :k], np.repeat(diagonal[:, k:k + 1], k, axis=1))  # the top row


def test_crop_views_move_the_centre_crop_to_the_corners_and_mirror():
    x = np.random.default_rng(0).normal(size=(2, 48, 48, 1)).astype("float32")
    crops = [views.view(x, *v)[:, 3:45, 3:45] for v in views.views_of("mirror x 5 crops")]
    np.testing.assert_array_equal(crops[0], x[:, 3:45, 3:45])
    np.testing.assert_array_equal(crops[1], x[:, 3:45, 3:45][:, :, ::-1])
    np.testing.assert_array_equal(crops[2], x[:, 0:42, 0:42])
    np.testing.assert_array_equal(crops[8], x[:, 6:48, 6:48])
    np.testing.assert_array_equal(crops[9], x[:, 6:48, 6:48][:, :, ::-1])
    with pytest.raises(ValueError, match="unknown test views 'ten crops'; choose one of plain, mirror"):
        views.views_of("ten crops")


class PixelModel:
    """A stand-in for a Keras model whose class scores are linear in the pixels, so that every view gives
    other outputs (probabilities, or SVM-like scores)."""

    def __init__(self, scores: bool = False):
        self.weights = np.random.default_rng(5).normal(0, 0.02, size=(48 * 48, 7)).astype(np.float32)
        self.scores = scores

    def predict(self, x, batch_size=None, verbose=0):
        logits = x.reshape(len(x), -1) @ self.weights
        if self.scores:
            return logits
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict_on_batch(self, x):
        return self.predict(x)


def test_views_are_predicted_in_chunks_as_one_by_one(monkeypatch):
    x = np.random.default_rng(1).normal(size=(50, 48, 48, 1)).astype("float32")
    model, chosen = PixelModel(), views.views_of("mirror x 9 shifts")
    monkeypatch.setattr(views, "CHUNK", 7 * len(chosen))  # 8 calls of 7 faces' views, the last of 1
    together = views.predict_views(model, x, chosen)
    one_by_one = np.stack([model.predict(views.view(x, *v)) for v in chosen])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-6)
