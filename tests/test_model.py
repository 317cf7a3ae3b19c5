"""The encoder head's centring: a window's frames less their mean, so an offset the speaker,
the language or the microphone adds to every frame cannot move the emotion."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from model_training import model as models

STEPS, WIDTH, LABELS = 150, 512, 8


def frames(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(4, STEPS, WIDTH)).astype(np.float32)


@pytest.mark.parametrize("centre", [True, False])
def test_an_offset_on_every_frame_moves_only_the_plain_head(centre: bool) -> None:
    keras.utils.set_random_seed(0)
    head = models.build_head(STEPS, WIDTH, LABELS, centre)
    x = frames(1)
    offset = 3 * np.random.default_rng(2).normal(size=(4, 1, WIDTH)).astype(np.float32)
    before, after = (np.asarray(head.predict(v, verbose=0)[0]) for v in (x, x + offset))
    moved = float(np.abs(before - after).max())
    assert (moved < 1e-4) if centre else (moved > 1e-2)
    assert models.centred(head) is centre


def test_a_saved_centred_head_loads_centred_and_safe(tmp_path: Path) -> None:
    head = models.build_head(STEPS, WIDTH, LABELS, centre=True)
    head.save(tmp_path / "head.keras")
    loaded = models.load(tmp_path / "head.keras")  # safe_mode: no Lambda, a registered layer
    assert models.centred(loaded)
    x = frames(3)
    assert np.allclose(head.predict(x, verbose=0)[0], loaded.predict(x, verbose=0)[0], atol=1e-6)


def test_a_speakers_offset_in_the_encoder_space_is_taken_out() -> None:
    """Two speakers saying the same, one with every frame moved: after each is moved by their
    other clips' mean onto the training voices', they are the same."""
    from model_training.corpora import Clip
    from model_training.encoder_run import Encoded, speaker_shifted

    rng = np.random.default_rng(0)
    said = [rng.normal(size=(2, 6, 4)).astype(np.float16) for _ in range(3)]
    offset = rng.normal(size=4).astype(np.float16) * 4
    clips = [
        Clip(Path(f"{s}{i}.wav"), "sad", s, "x", None) for s in ("x:a", "x:b") for i in range(3)
    ]
    clips.append(Clip(Path("alone.wav"), "sad", "x:c", "x", None))
    test = Encoded(clips, [[w] for w in said] + [[w + offset] for w in said] + [[said[0]]])
    train = Encoded(clips[:1], [[rng.normal(size=(2, 6, 4)).astype(np.float16)]])
    moved = speaker_shifted(train, test).clean
    for a, b in zip(moved[:3], moved[3:6], strict=True):
        assert np.allclose(a, b, atol=0.02)  # float16
    assert not np.allclose(moved[0], said[0], atol=0.1)
    assert np.array_equal(moved[6], said[0])  # one clip: nothing else to learn the voice from


def test_a_head_can_train_on_voices_moved_onto_the_training_mean() -> None:
    """``speaker_fraction``: that share of the head's examples carry their speaker's offset."""
    from model_training.augment import AugmentSettings
    from model_training.corpora import Clip
    from model_training.train import HeadBatches, TrainSettings, mean_frame, speaker_offsets

    rng = np.random.default_rng(1)
    clips = [
        Clip(Path(f"{s}{i}.wav"), "sad", s, "x", None) for s in ("x:a", "x:b") for i in range(2)
    ]
    windows = [[rng.normal(size=(1, 6, 4)).astype(np.float16)] for _ in clips]
    clean = [w[0] for w in windows]
    offsets = speaker_offsets(mean_frame(clean), clips, clean)
    y = np.zeros(len(clips), np.int64)
    plain = AugmentSettings(variants=0, shift=False, mixup=0.0)
    for fraction, moved in ((1.0, True), (0.0, False)):
        settings = TrainSettings(speaker_fraction=fraction, batch_size=4)
        batches = HeadBatches(windows, ["x"] * 4, y, 8, plain, settings, offsets)
        for i in range(len(clips)):
            expect = clean[i][0].astype(np.float32) + (offsets[i] if moved else 0)
            assert np.allclose(batches.example(i), expect, atol=1e-3)
