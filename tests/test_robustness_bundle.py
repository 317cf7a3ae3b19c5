"""Model bundles that are missing, damaged or inconsistent: a clear BundleError, and the window
still opens and shows files' spectrograms without a model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app import bundle as bundles
from app.bundle import BundleError
from app.engine import Engine
from app.ui import theme
from app.ui.driver import Driver
from app.ui.main_window import MainWindow, load_engine
from tests.data import datasets
from tests.robustness import Report, report_fixture  # noqa: F401  (the fixture)

CLIP = ("ravdess", "Actor_01", "03-01-05-02-01-01-01.flac")


def copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(bundles.load().path, target)
    return target


def edit_meta(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    meta = json.loads((path / bundles.META_FILE).read_text())
    change(meta)
    (path / bundles.META_FILE).write_text(json.dumps(meta))


def missing(path: Path) -> None:
    shutil.rmtree(path)


def truncated(path: Path) -> None:
    data = (path / bundles.TFLITE_FILE).read_bytes()
    (path / bundles.TFLITE_FILE).write_bytes(data[: len(data) // 3])


def truncated_unchecked(path: Path) -> None:
    """Damaged, and the checksums that would have caught it gone from the metadata (with the
    familiarity reference, which is refused without its own)."""
    truncated(path)
    edit_meta(path, lambda m: [m.pop(k, None) for k in ("files", "familiarity")])


def entry_deleted(name: str):
    """A weight lightly changed (one byte in the middle) and its checksum entry deleted."""

    def damage(path: Path) -> None:
        data = bytearray((path / name).read_bytes())
        data[len(data) // 2] ^= 1
        (path / name).write_bytes(bytes(data))
        edit_meta(path, lambda m: m["files"].pop(name))

    return damage


def labels_missing(path: Path) -> None:
    edit_meta(path, lambda m: m.pop("labels"))


def fewer_labels(path: Path) -> None:
    edit_meta(path, lambda m: m.update(labels=m["labels"][:-1]))


def other_window(path: Path) -> None:
    edit_meta(path, lambda m: m.update(window_seconds=m["window_seconds"] / 2))


def other_outputs(path: Path) -> None:
    edit_meta(path, lambda m: m.update(outputs={"emotion": "x", "attention": "y"}))


CASES = {  # case: (damage, words of the message)
    "bundle folder missing": (missing, "No emotion model found"),
    "tflite truncated to a third": (truncated, "changed or damaged"),
    "tflite truncated, its checksum not in the metadata": (truncated_unchecked, "is damaged"),
    "tflite lightly changed, its checksum entry deleted": (
        entry_deleted(bundles.TFLITE_FILE),
        "no checksum for emotion.tflite",
    ),
    "encoder lightly changed, its checksum entry deleted": (
        entry_deleted("encoder.tflite"),
        "no checksum for encoder.tflite",
    ),
    "labels missing from the metadata": (labels_missing, "lacks 'labels'"),
    "metadata names fewer labels than the model has": (fewer_labels, "does not match"),
    "metadata window disagrees with the model's input": (other_window, "shapes disagree"),
    "metadata names outputs the model lacks": (other_outputs, "inputs or outputs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_bundle_is_a_message_and_the_inspector_still_works(
    case: str, qtbot, tmp_path: Path, report: Report
) -> None:
    damage, words = CASES[case]
    path = copy(tmp_path)
    damage(path)
    with pytest.raises(BundleError, match=words) as caught:
        Engine(bundles.load(path))
    engine, problem = load_engine(path)
    assert engine is None and problem == str(caught.value)
    theme.apply(cast(QApplication, QApplication.instance()))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(None, problem, settings)
    driver = Driver(window)
    qtbot.addWidget(window)
    window.show()
    assert problem in driver.last_error
    assert not driver.start_live()  # refused with a message, not a crash
    driver.open_file(datasets().joinpath(*CLIP))
    qtbot.waitUntil(lambda: driver.job is None, timeout=20_000)
    shown = window.inspector.analysis
    assert shown is not None and len(shown.spectrogram) > 100 and not len(shown.ends)
    window.close()
    report(
        "Model bundle",
        case,
        f"message: “{caught.value}”; live analysis off, the inspector shows the spectrogram",
    )


def test_keras_file_with_a_lambda_layer_is_refused_clearly(tmp_path: Path, report: Report):
    keras = pytest.importorskip("keras")
    from model_training import model as models

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "emotion.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(models.ModelFileError, match="Lambda layer") as caught:
        models.load(path)
    assert isinstance(caught.value, FileNotFoundError)  # the CLI prints it as "error: ..."
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(models.ModelFileError, match=r"damaged|not a usable"):
        models.load(path)
    report(
        "Model bundle", ".keras with a Lambda layer (safe_mode=True)", f"message: “{caught.value}”"
    )


FUZZ_EXAMPLES = 200


def fuzz_value() -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats() | st.text(max_size=8)
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=8,
    )


class Real:
    """The shipped bundle's metadata and model bytes (with a short repr for hypothesis)."""

    def __init__(self) -> None:
        b = bundles.load()
        self.meta = json.loads((b.path / bundles.META_FILE).read_text())
        self.files = {p.name: p.read_bytes() for p in (b.tflite_path, b.encoder_path) if p}

    def __repr__(self) -> str:
        return "Real()"


@pytest.fixture(scope="module")
def real() -> Real:
    return Real()


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fuzzed_bundles_raise_only_bundle_error(data, real: Real, tmp_path: Path, report: Report):
    """The real metadata with a random key replaced, dropped or retyped (at the top or one level
    down), or random text; the real model, cut, with bytes overwritten, or random bytes. Only
    BundleError escapes; a bundle that loads also predicts, and with the real model's bytes gives a
    distribution."""
    report(
        "Fuzzing",
        "bundle loader (bundle.load + Engine): metadata values replaced/dropped/retyped, "
        "tflite cut/overwritten/random",
        f"{FUZZ_EXAMPLES} examples per run (hypothesis): only BundleError escapes; "
        "a bundle that loads also predicts",
    )
    meta_in, files = real.meta, dict(real.files)
    damaged = data.draw(st.sampled_from(sorted(files)))
    model = files[damaged]
    meta: Any = json.loads(json.dumps(meta_in))
    how = data.draw(st.sampled_from(["replace", "drop", "nested", "text", "keep"]))
    key = data.draw(st.sampled_from(sorted(meta)))
    if how == "replace":
        meta[key] = data.draw(fuzz_value())
    elif how == "drop":
        del meta[key]
    elif how == "nested" and isinstance(meta[key], dict) and meta[key]:
        inner = data.draw(st.sampled_from(sorted(meta[key])))
        meta[key][inner] = data.draw(fuzz_value())
    text = data.draw(st.text(max_size=50)) if how == "text" else json.dumps(meta)
    blob = data.draw(st.sampled_from(["same", "cut", "overwrite", "random"]))
    if blob == "cut":
        model = model[: data.draw(st.integers(0, len(model)))]
    elif blob == "overwrite":
        at = data.draw(st.integers(0, len(model) - 8))
        model = model[:at] + data.draw(st.binary(min_size=8, max_size=8)) + model[at + 8 :]
    elif blob == "random":
        model = data.draw(st.binary(max_size=300))
    (tmp_path / bundles.META_FILE).write_text(text, encoding="utf-8")
    for name, content in {**files, damaged: model}.items():
        (tmp_path / name).write_bytes(content)
    try:
        engine = Engine(bundles.load(tmp_path))
    except BundleError:
        return
    b = engine.bundle
    window = np.zeros((b.window_frames, b.features.n_features), np.float32)
    p = engine.predict_features(window).probabilities
    if blob == "same":  # overwritten weights may well compute nonsense: no crash is the point
        assert np.isfinite(p).all() and abs(float(p.sum()) - 1) < 1e-3
