"""Teaching it one's voice on the command line: ``personalise DIR --out PROFILE.json`` and
``analyze --voice``, on a withheld RAVDESS actor's real takes; bad folders, and profiles of
another model or changed by hand, refused with the reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app import personal
from app.__main__ import main
from app.bundle import load
from tests.data import datasets

LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
ACTOR = "09"  # a withheld test speaker whom the general model often gets wrong


def ravdess(statement: str) -> list[Path]:
    return sorted(
        (datasets() / "ravdess" / f"Actor_{ACTOR}").glob(f"03-01-??-??-{statement}-??-??.*")
    )


def emotion(path: Path) -> str:
    return LABELS[int(path.name.split("-")[2]) - 1]


@pytest.fixture
def takes(tmp_path: Path) -> Path:
    """The actor's statement 01, in a folder per emotion; WAV and FLAC mixed as people have."""
    import soundfile as sf

    root = tmp_path / "takes"
    for i, clip in enumerate(ravdess("01")):
        folder = root / emotion(clip)
        folder.mkdir(parents=True, exist_ok=True)
        if i % 2:
            audio, rate = sf.read(clip)
            sf.write(folder / f"{clip.stem}.wav", audio, rate)
        else:
            shutil.copy(clip, folder)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_personalise_says_before_and_after_and_analyze_judges_with_it(
    takes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "me.json"
    rc, out, err = run(capsys, "personalise", str(takes), "--out", str(profile), "--name", "Me")
    assert rc == 0, err
    assert (
        "takes: neutral 2, calm 4, happy 4, sad 4, angry 4, fearful 4, disgust 4, surprised 4"
        in out
    )
    before, after = (
        float(x) for x in out.split("leave-one-take-out: ")[1].split(" (")[0].split(" → ")
    )
    assert after > before
    assert f"saved the voice 'Me' to {profile}" in out
    saved = json.loads(profile.read_text())
    assert saved["name"] == "Me" and saved["takes"]["calm"] == 4
    assert not {"audio", "takes_audio"} & set(saved)  # only what the model needs

    tests = ravdess("02")
    rc, out, err = run(capsys, "analyze", *map(str, tests), "--voice", str(profile), "--jobs", "2")
    assert rc == 0, err
    judged = json.loads(out)
    assert {r["normalisation"]["mode"] for r in judged} == {"personal"}
    assert {r["normalisation"]["voice"] for r in judged} == {"Me"}
    rc, out, _ = run(capsys, "analyze", *map(str, tests))
    cold = json.loads(out)
    right = lambda results: sum(r["emotion"] == emotion(Path(r["file"])) for r in results)  # noqa: E731
    assert right(judged) > right(cold)  # on sentences it was not taught


def test_a_voice_worse_than_the_general_model_is_not_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same take three times as angry and three times as sad: far too alike."""
    root = tmp_path / "takes"
    clip = next(c for c in ravdess("01") if c.name.startswith("03-01-05-02-01-01"))  # heard angry
    for label in ("angry", "sad"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            shutil.copy(clip, root / label / f"{i}.flac")
    profile = tmp_path / "me.json"
    rc, out, _ = run(capsys, "personalise", str(root), "--out", str(profile))
    assert rc == 1
    assert "Not kept" in out and "too alike" in out and not profile.exists()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda d: (d / "angry").rename(d / "furious"), "furious: not an emotion this model knows"),
        (
            lambda d: [p.unlink() for p in sorted((d / "sad").iterdir())[1:]],
            "at least 2 takes, and these have fewer: sad (1)",
        ),
        (lambda d: (d / "happy" / "notes.wav").write_text("not audio"), "notes.wav"),
        (lambda d: [shutil.rmtree(p) for p in d.iterdir()], "has no emotion folders"),
    ],
    ids=["unknown emotion", "one take", "unreadable file", "no folders"],
)
def test_bad_folders_are_refused_with_the_reason(
    takes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, said: str
) -> None:
    damage(takes)
    profile = tmp_path / "me.json"
    rc, _, err = run(capsys, "personalise", str(takes), "--out", str(profile))
    assert rc == 2
    assert said in err
    assert not profile.exists()


@pytest.fixture
def profile(takes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "me.json"
    assert run(capsys, "personalise", str(takes), "--out", str(path))[0] == 0
    return path


def test_a_profile_of_another_model_or_changed_by_hand_is_refused(
    profile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(ravdess("02")[0])
    data = json.loads(profile.read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**data, "model": "0" * 64}))  # its own checksum no longer fits
    rc, _, err = run(capsys, "analyze", clip, "--voice", str(other))
    assert rc == 2 and "was changed after it was saved" in err

    bundle = load()
    head = personal.load_for(profile, bundle).head
    teaching = personal.Teaching(head, {}, 0.5, 0.9, np.zeros((0, 0)), np.zeros((0, 0)), 9, 0)
    personal.save(other, "theirs", teaching, "0" * 64)  # taught to another model's files
    rc, _, err = run(capsys, "analyze", clip, "--voice", str(other))
    assert rc == 2 and "was taught to another model" in err

    data["bias"][0] += 1.0
    other.write_text(json.dumps(data))
    rc, _, err = run(capsys, "analyze", clip, "--voice", str(other))
    assert rc == 2 and "was changed after it was saved" in err

    other.write_text("{not json")
    rc, _, err = run(capsys, "analyze", clip, "--voice", str(other))
    assert rc == 2 and "Cannot read the voice" in err


def test_a_voice_stays_near_the_general_model_where_it_learnt_little() -> None:
    """With a strong penalty the personal probabilities are the general model's, and emotions
    not enrolled keep the general model's probabilities."""
    rng = np.random.default_rng(0)
    labels = list(LABELS)
    takes = [
        personal.Take(label, rng.normal(size=16).astype(np.float32), np.full(8, 1 / 8, np.float32))
        for label in ("angry", "sad") * 3
    ]
    head = personal.fit(takes, labels, penalty=1e9)
    p = rng.dirichlet(np.ones(8)).astype(np.float32)
    judged = head.judge(rng.normal(size=16), p)
    assert np.allclose(judged, p, atol=1e-4)
    free = personal.fit(takes, labels, penalty=1.0).judge(takes[0].embedding, p)
    others = [i for i, x in enumerate(labels) if x not in ("angry", "sad")]
    assert np.allclose(free[others], p[others], atol=1e-5)
    assert free[labels.index("angry")] > p[labels.index("angry")]


def test_the_app_judges_with_a_taught_voice_live_and_in_the_inspector(
    qtbot, profile: Path, tmp_path: Path, engine
) -> None:
    from app.ui.driver import Driver
    from tests.test_ui import make_window, wait_analysis

    window = make_window(qtbot, tmp_path / "s.ini", engine)
    driver = Driver(window)
    driver.voices_dir = tmp_path / "voices"
    driver.voices_dir.mkdir()
    saved = Path(shutil.copy(profile, driver.voices_dir / "me.json"))
    window.voices._list_saved()  # what the Voice menu shows when opened
    assert [a.text() for a in window.voices_menu.actions()] == ["me"]
    assert driver.use_voice(saved)
    assert window.voice_label.text() == "voice: me (taught)"
    clip = ravdess("02")[0]
    driver.open_file(clip)
    wait_analysis(qtbot, window)
    assert window.inspector.analysis.to_dict()["normalisation"]["voice"] == "me"
    assert driver.start_file_input(clip, speed=2.0)
    assert driver.worker.analyzer.personal is window.voices.personal
    qtbot.waitUntil(lambda: any(r.raw is not None for r in driver.session), timeout=15_000)
    driver.stop_live()
    renamed = window.voices.rename(saved, "Mine")
    assert renamed == driver.voices_dir / "Mine.json" and not saved.exists()
    assert window.voices.personal is not None and window.voices.personal.name == "Mine"
    assert window.voices.delete(renamed, ask=False)
    assert not renamed.exists() and window.voices.personal is None
    window.close()
