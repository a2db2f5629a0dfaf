import json
import logging
import shutil
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from omarc.datamodules.datamodule import OmniQADataModule
from omarc.datamodules.generate import PALETTE, generate_benchmark, write_av
from omarc.datamodules.media import decode_media
from omarc.datamodules.records import NO_AUDIO_TRACK, SHORT_CLIP, QARecord
from omarc.modules.backbones.families import FAMILIES
from omarc.modules.backbones.inputs import InputBuilder
from omarc.modules.backbones.loading import load_backbone
from omarc.datamodules.dataset import MEDIA_FLAGS_KEY, PromptInputs
from omarc.modules.backbones.default_model import DEFAULT_MODEL, DEFAULT_MODEL_DIR
from omarc.modules.evaluation.evaluator import OmniQAEvaluator, evidence_tokens
from omarc.modules.evaluation.runs import Compression, RunFolderError
from omarc.modules.evaluation.predictions import PredictionRow, PredictionWriter
from omarc.strategies import Modality, TokenSequence
from omarc.strategies.budget import retained

N_VIDEOS, QUESTIONS = 2, 4  # generate_benchmark asks 2 questions per video
SHORT_S = 0.4  # a clip under one 1-fps bin


@pytest.fixture(scope="module")
def dailyomni(tmp_path_factory) -> Path:
    """A real DailyOmni-layout folder: 2 generated 4-s mp4 clips with audio, 4 questions."""
    return generate_benchmark(tmp_path_factory.mktemp("data") / "dailyomni", "dailyomni", n_videos=N_VIDEOS, seconds=4)


def write_clip(path: Path, seconds: float, fps: int, sound: bool = True) -> Path:
    """A real mp4 of ``seconds`` (a multiple of 1/fps): one colour per frame, a 440 Hz tone when ``sound``."""
    colours = list(PALETTE.values())
    frames = [np.full((56, 56, 3), colours[i % len(colours)], np.uint8) for i in range(round(seconds * fps))]
    wave = (0.3 * np.sin(2 * np.pi * 440.0 * np.arange(round(seconds * 16000)) / 16000)).astype(np.float32)
    return write_av(path, frames, fps, wave if sound else None, 16000)


@pytest.fixture(scope="module")
def lacking(tmp_path_factory) -> tuple[Path, list[str]]:
    """A WorldSense-layout folder of 3 videos (2 questions each): the generated one with sound, one
    without an audio track, one of 0.4 s; and the video ids in that order."""
    root = generate_benchmark(tmp_path_factory.mktemp("data") / "worldsense", "worldsense", n_videos=3, seconds=4)
    videos = sorted((root / "videos").glob("*.mp4"))
    write_clip(videos[1], 4, fps=4, sound=False)
    write_clip(videos[2], SHORT_S, fps=10)
    return root, [v.stem for v in videos]


@pytest.fixture(scope="module")
def default_inputs() -> InputBuilder:
    """The default model's processor step: what the command line hands the data module from the evaluator."""
    _, processor, family = load_backbone(DEFAULT_MODEL, device="cpu")
    return InputBuilder(processor, family)


@pytest.fixture
def datamodule(default_inputs):
    """``datamodule(folder, **kwargs)``: a DailyOmni-layout folder's data module with the default model's inputs."""
    def make(folder: Path, **kwargs) -> OmniQADataModule:
        return OmniQADataModule(benchmarks=["dailyomni"], paths={"dailyomni": str(folder)}, generated=False,
                                inputs=default_inputs, **kwargs)
    return make


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    kwargs.setdefault("logger", False)
    return pl.Trainer(accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, **kwargs)


def rows_of(out: Path, stage: str = "test") -> list[PredictionRow]:
    return PredictionWriter(out / stage / "predictions.jsonl").read()


# The decoded answer each generated question gets in the test run below (the tiny model's own text is
# noise), with the letter it must parse to. The generated answers are A, B, C, D in question order
# (generate_benchmark's answer_slot = (2 * video + question) % 4); q0 is a forward question with the
# options yellow/red/green/blue, q2 a "both" question whose option C is "yellow and mid tone".
SCRIPTED = {
    "date000000_0": ("<think>It is B.</think><answer>A</answer>", "A"),  # the <answer> span wins: right
    "date000000_1": ("The answer is (C).", "C"),  # true answer B: wrong
    "date000001_0": ("yellow and mid tone", "C"),  # q2 (a "both" question)'s option C is that pair: right
    "date000001_1": ("I cannot tell from the video.", None),  # a refusal: wrong
}


@pytest.mark.slow
def test_test_run_writes_rows_metrics_results_and_tensorboard(tmp_path, dailyomni, monkeypatch, datamodule):
    out = tmp_path / "run"
    model = OmniQAEvaluator(strategy="omac", ratio=0.7, output_dir=str(out))
    answer = OmniQAEvaluator.answer

    def scripted_text(self, records, inputs):  # the model still runs; only its decoded text is replaced
        monkeypatch.setattr(self.processor.tokenizer, "batch_decode",
                            lambda *args, **kwargs: [SCRIPTED[r.id][0] for r in records])
        return answer(self, records, inputs)

    monkeypatch.setattr(OmniQAEvaluator, "answer", scripted_text)
    logger = TensorBoardLogger(tmp_path, name="tb")
    trainer(tmp_path, logger=logger).test(model, datamodule=datamodule(dailyomni))

    rows = rows_of(out)
    assert len(rows) == QUESTIONS and len({r.id for r in rows}) == QUESTIONS
    for row in rows:
        assert row.error is None
        assert row.tokens_out["video"] == retained(row.tokens_in["video"], 0.7)  # exact budgets
        assert row.tokens_out["audio"] == retained(row.tokens_in["audio"], 0.7)
        assert row.tokens_out["text"] == row.tokens_in["text"]
        assert (row.prediction, row.parsed) == SCRIPTED[row.id]
        assert 0 < row.prefill_seconds < row.e2e_seconds and row.peak_memory_mb is None
        assert row.extra["duration_group"]  # DailyOmni's 30s / 60s sub-score group travels with the row

    assert {r.id: r.correct for r in rows} == {
        "date000000_0": True, "date000000_1": False, "date000001_0": True, "date000001_1": False}

    results = json.loads((out / "test" / "results.json").read_text())
    accuracy = 0.5  # 2 of the 4 scripted answers are right
    evidence = results["overall"].pop("evidence")
    assert results["overall"] == {"accuracy": pytest.approx(accuracy), "count": QUESTIONS, "failed": 0}
    # Every generated question has its evidence in one second, for audio and video: the figures are the rows'.
    for m in ("audio", "video"):
        assert all(r.evidence_in[m] > 0 for r in rows)
        kept = [r for r in rows if r.evidence_kept[m] > 0]
        dropped = [r for r in rows if r.evidence_kept[m] == 0]
        figures = {"recall": sum(r.evidence_kept[m] for r in rows) / sum(r.evidence_in[m] for r in rows),
                   "tokens": sum(r.evidence_in[m] for r in rows), "kept_tokens": sum(r.evidence_kept[m] for r in rows),
                   "samples": QUESTIONS, "kept_samples": len(kept), "dropped_samples": len(dropped)}
        figures.update({f"{label}_accuracy": sum(r.correct for r in group) / len(group)
                        for label, group in (("kept", kept), ("dropped", dropped)) if group})
        assert evidence[m] == pytest.approx(figures)
        assert results["benchmarks"]["dailyomni"]["evidence"][m] == pytest.approx(figures)
    assert sum(c["count"] for c in results["benchmarks"]["dailyomni"]["categories"].values()) == QUESTIONS
    # DailyOmni's official sub-scores, per task type and per duration group, from the rows.
    for group, value_of in (("Type", lambda r: r.category), ("video_duration", lambda r: r.extra["duration_group"])):
        outcomes = {}
        for r in rows:
            outcomes.setdefault(value_of(r), []).append(r.correct)
        assert results["official"]["dailyomni"][group] == {
            v: {"accuracy": pytest.approx(sum(c) / len(c)), "count": len(c)} for v, c in outcomes.items()}
    assert results["means"]["tokens_out_audio"] == pytest.approx(sum(r.tokens_out["audio"] for r in rows) / QUESTIONS)
    assert model.results["test"]["accuracy"] == pytest.approx(accuracy)

    events = EventAccumulator(logger.log_dir)
    events.Reload()
    assert {"accuracy", "accuracy/dailyomni", "mean/tokens_out_video"} <= set(events.Tags()["scalars"])
    assert events.Scalars("accuracy")[0].value == pytest.approx(accuracy)


@pytest.mark.slow
def test_ratio_zero_and_batching_answer_like_full_tokens_one_by_one(tmp_path, dailyomni, datamodule):
    outputs = {}
    for strategy in ("full", "omac"):
        model = OmniQAEvaluator(strategy=strategy, ratio=0.0, output_dir=str(tmp_path / strategy))
        trainer(tmp_path).test(model, datamodule=datamodule(dailyomni))
        outputs[strategy] = [(r.id, r.prediction, r.tokens_out) for r in rows_of(tmp_path / strategy)]
    assert len(outputs["full"]) == QUESTIONS
    assert outputs["omac"] == outputs["full"]

    # Both clips' four questions in one left-padded batch: same rows, in the same order, as clip by clip.
    out = tmp_path / "batched"
    model = OmniQAEvaluator(strategy="full", output_dir=str(out))
    trainer(tmp_path, limit_test_batches=1).test(model, datamodule=datamodule(dailyomni, batch_size=2))
    assert [(r.id, r.prediction, r.tokens_out) for r in rows_of(out)] == outputs["full"]
    assert [r.batch_size for r in rows_of(out)] == [4, 4, 4, 4]
    assert [r.batch_size for r in rows_of(tmp_path / "full")] == [2, 2, 2, 2]  # a clip's questions share a batch


@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing_finished_samples(tmp_path, dailyomni, datamodule):
    out = tmp_path / "run"
    trainer(tmp_path, limit_test_batches=1).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(dailyomni))
    path = out / "test" / "predictions.jsonl"
    first = path.read_text()
    path.write_text(first + '{"id": "half-writt')  # killed in the middle of a row

    dm = datamodule(dailyomni)
    model = OmniQAEvaluator(output_dir=str(out))
    trainer(tmp_path).test(model, datamodule=dm)

    assert dm.excluded == {r.id for r in PredictionWriter(path).read()[:2]}  # skipped before decoding
    text = path.read_text()
    assert text.startswith(first) and "half-writt" not in text
    rows = rows_of(out)
    assert len(rows) == QUESTIONS and len({r.id for r in rows}) == QUESTIONS
    assert model.results["test"]["count"] == QUESTIONS  # resumed rows count in the final metrics

    # Nothing left: no loop runs, the results still come from the file.
    again = OmniQAEvaluator(output_dir=str(out))
    trainer(tmp_path).test(again, datamodule=datamodule(dailyomni))
    assert len(rows_of(out)) == QUESTIONS
    assert again.results["test"] == pytest.approx(model.results["test"], nan_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["", "\n"], ids=["no-newline", "newline"])
def test_torn_last_row_is_dropped_with_a_warning_and_its_sample_runs_again(tmp_path, dailyomni, caplog, ending, datamodule):
    out = tmp_path / "run"
    trainer(tmp_path, limit_test_batches=1).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(dailyomni))
    path = out / "test" / "predictions.jsonl"
    first, second = path.read_text().splitlines(keepends=True)
    path.write_text(first + second[: len(second) // 2] + ending)  # killed while writing the second row

    dm = datamodule(dailyomni)
    with caplog.at_level(logging.WARNING, logger="omarc.modules.evaluation.predictions"):
        trainer(tmp_path).test(OmniQAEvaluator(output_dir=str(out)), datamodule=dm)

    assert f"{path}:2: torn last line" in caplog.text
    assert dm.excluded == {json.loads(first)["id"]}  # the finished sample is not run again
    rows = rows_of(out)
    assert path.read_text().startswith(first) and len(rows) == QUESTIONS and len({r.id for r in rows}) == QUESTIONS
    assert json.loads(second)["id"] in {r.id for r in rows[1:]}  # the torn one is


@pytest.mark.slow
def test_audio_less_video_and_short_clip_are_evaluated_flagged_and_counted(tmp_path, lacking, default_inputs):
    folder, (sound, mute, short) = lacking
    out = tmp_path / "run"

    def data() -> OmniQADataModule:  # batches of 2 clips mix sound with no track, then the short clip alone
        return OmniQADataModule(benchmarks=["worldsense"], paths={"worldsense": str(folder)}, generated=False,
                                batch_size=2, inputs=default_inputs)

    trainer(tmp_path, limit_test_batches=1).test(OmniQAEvaluator(output_dir=str(out)), datamodule=data())
    model = OmniQAEvaluator(output_dir=str(out))
    trainer(tmp_path).test(model, datamodule=data())  # resumed: the first batch's rows count too

    rows = rows_of(out)
    assert [r.error for r in rows] == [None] * 6 and [r.batch_size for r in rows] == [4] * 4 + [2] * 2
    expected = {sound: [], mute: [NO_AUDIO_TRACK], short: [SHORT_CLIP]}
    assert {r.id: r.media_flags for r in rows} == {f"{v}_task{k}": f for v, f in expected.items() for k in (0, 1)}
    assert all(r.tokens_in["audio"] > 0 for r in rows)  # silence stands in for the missing track
    results = json.loads((out / "test" / "results.json").read_text())
    assert results["media"] == {"worldsense": {NO_AUDIO_TRACK: 2, SHORT_CLIP: 2}}
    assert results["overall"]["count"] == 6 and results["overall"]["failed"] == 0
    assert model.results["test"][f"media/worldsense/{NO_AUDIO_TRACK}"] == 2


@pytest.mark.parametrize("model", ["tiny", "tiny-qwen3"])
def test_clips_lacking_media_batch_with_a_whole_one_through_each_family(tmp_path, model):
    backbone, processor, family = load_backbone(model, device="cpu")
    clips = [write_clip(tmp_path / "sound.mp4", 2, fps=4), write_clip(tmp_path / "mute.mp4", 2, fps=4, sound=False),
             write_clip(tmp_path / "short.mp4", SHORT_S, fps=10)]
    record = QARecord(id="q", benchmark="worldsense", video_path=clips[0], question="Which colour?",
                      options=["red", "green"], answer="A")
    transform = PromptInputs(InputBuilder(processor, family), "official")
    media = [decode_media(clip, factor=FAMILIES[family].patch_size * 2) for clip in clips]
    batch = transform.collate([transform(record, m) for m in media])

    assert batch[MEDIA_FLAGS_KEY] == [[], [NO_AUDIO_TRACK], [SHORT_CLIP]] and batch["use_audio_in_video"] is True
    audio = (batch["input_ids"] == processor.audio_token_id).sum(1)
    assert audio[2] < audio[1] == audio[0]  # 0.4 s of audio against 2 s (silence counts as audio)
    generation = backbone.generate(backbone.encode(batch, audio_saliency=True), max_new_tokens=2)
    assert generation.tokens.shape[0] == 3


ANSWER_FIELDS = ("id", "prediction", "parsed", "correct", "tokens_in", "tokens_out", "evidence_in", "evidence_kept")


def answers_of(out: Path) -> list[tuple]:
    return [tuple(getattr(r, f) for f in ANSWER_FIELDS) for r in rows_of(out)]


@pytest.mark.slow
def test_several_compressions_in_one_pass_write_what_single_runs_write(tmp_path, dailyomni, datamodule, monkeypatch):
    settings = {"omac": {"strategy": "omac", "ratio": 0.7}, "uniform": {"strategy": "uniform", "ratio": 0.55},
                "omnizip": {"strategy": "omnizip", "ratio": 0.7, "strategy_options": {"split": "offset"}}}
    for name, options in settings.items():
        trainer(tmp_path).test(OmniQAEvaluator(**options, output_dir=str(tmp_path / "single" / name)),
                               datamodule=datamodule(dailyomni))
    more = [Compression(**options, output_dir=str(tmp_path / "pass" / name)) for name, options in settings.items()
            if name != "omac"]
    model = OmniQAEvaluator(**settings["omac"], compressions=more, output_dir=str(tmp_path / "pass" / "omac"))
    encoded = []
    encode = model.backbone.encode
    monkeypatch.setattr(model.backbone, "encode", lambda inputs, **kw: encoded.append(kw) or encode(inputs, **kw))
    trainer(tmp_path).test(model, datamodule=datamodule(dailyomni))

    assert len(encoded) == N_VIDEOS and all(kw["audio_saliency"] for kw in encoded)  # once per clip, for all three
    for name in settings:
        single, shared = tmp_path / "single" / name, tmp_path / "pass" / name
        assert answers_of(shared) == answers_of(single) and len(answers_of(single)) == QUESTIONS
        assert (shared / "run.json").read_text() == (single / "run.json").read_text()
        assert sorted(p.name for p in (shared / "test").glob("keep_map_*.png")) == ["keep_map_date000000_0.png"]
    assert [run.results["test"]["count"] for run in model.runs] == [QUESTIONS] * 3

    # Each configuration resumes on its own: only uniform's torn-off last question runs again.
    path = tmp_path / "pass" / "uniform" / "test" / "predictions.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))
    before = {name: (tmp_path / "pass" / name / "test" / "predictions.jsonl").read_text() for name in settings}
    encoded.clear()
    again = OmniQAEvaluator(**settings["omac"], compressions=more, output_dir=str(tmp_path / "pass" / "omac"))
    monkeypatch.setattr(again.backbone, "encode", lambda inputs, **kw: encoded.append(kw) or encode(inputs, **kw))
    trainer(tmp_path).test(again, datamodule=datamodule(dailyomni))
    assert len(encoded) == 1 and not encoded[0]["audio_saliency"]  # one clip left, for uniform alone
    assert answers_of(tmp_path / "pass" / "uniform") == answers_of(tmp_path / "single" / "uniform")
    for name in ("omac", "omnizip"):
        assert (tmp_path / "pass" / name / "test" / "predictions.jsonl").read_text() == before[name]

    # decode_together: one prefill and decoding loop per batch for all three configurations, the same answers
    # here (in general equal up to float rounding, like another batch size).
    together = [Compression(**options, output_dir=str(tmp_path / "together" / name)) for name, options in settings.items()
                if name != "omac"]
    model = OmniQAEvaluator(**settings["omac"], compressions=together, output_dir=str(tmp_path / "together" / "omac"),
                            decode_together=True)
    generated = []
    generate = model.backbone.generate
    monkeypatch.setattr(model.backbone, "generate", lambda seq, **kw: generated.append(seq.batch_size) or generate(seq, **kw))
    trainer(tmp_path).test(model, datamodule=datamodule(dailyomni))
    assert sum(generated) == 3 * QUESTIONS and len(generated) == N_VIDEOS  # three configurations per batch
    for name in settings:
        assert answers_of(tmp_path / "together" / name) == answers_of(tmp_path / "single" / name)
        rows = rows_of(tmp_path / "together" / name)
        assert {r.batch_size for r in rows} == {3 * QUESTIONS // N_VIDEOS}


def test_two_configurations_in_one_folder_are_refused(tmp_path, dailyomni, datamodule):
    model = OmniQAEvaluator(strategy="omac", compressions=[Compression("uniform", 0.7, output_dir=str(tmp_path))],
                            output_dir=str(tmp_path))
    with pytest.raises(RunFolderError, match="give each its own output_dir"):
        trainer(tmp_path).test(model, datamodule=datamodule(dailyomni))
    # Left to their default folders, the same configuration twice would share one too.
    model = OmniQAEvaluator(strategy="omac", compressions=[Compression("omac", 0.7, strategy_options={"guidance": 1.0})])
    with pytest.raises(RunFolderError, match="give each its own output_dir"):
        trainer(tmp_path).test(model, datamodule=datamodule(dailyomni))


@pytest.mark.slow
def test_changed_settings_refuse_to_resume(tmp_path, dailyomni, datamodule):
    out = tmp_path / "run"
    trainer(tmp_path, limit_test_batches=1).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(dailyomni))
    with pytest.raises(RunFolderError, match=r"changed: model.strategy\); pass another --model.output_dir "):
        trainer(tmp_path).test(OmniQAEvaluator(strategy="full", output_dir=str(out)), datamodule=datamodule(dailyomni))
    with pytest.raises(RunFolderError, match="data.media"):
        trainer(tmp_path).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(dailyomni, fps=2.0))


@pytest.mark.slow
def test_clips_regenerated_by_another_generator_refuse_to_resume(tmp_path, datamodule, monkeypatch):
    folder, out = tmp_path / "dailyomni", tmp_path / "run"
    generate_benchmark(folder, "dailyomni", n_videos=1, seconds=4)
    trainer(tmp_path).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(folder))
    monkeypatch.setattr("omarc.datamodules.generate.GENERATED_VERSION", "v-next")
    generate_benchmark(folder, "dailyomni", n_videos=1, seconds=4)  # the same questions, the clips encoded anew
    with pytest.raises(RunFolderError, match=r"changed: data.generated\)"):
        trainer(tmp_path).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(folder))


@pytest.mark.slow
def test_a_run_that_failed_before_its_first_row_does_not_block_the_next(tmp_path, dailyomni, datamodule, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(OmniQAEvaluator, "answer", lambda self, records, inputs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            trainer(tmp_path).test(OmniQAEvaluator(output_dir=str(out)), datamodule=datamodule(dailyomni))
    assert (out / "run.json").is_file() and not rows_of(out)
    # Other settings into the same folder: it holds no row, so the new run takes it.
    trainer(tmp_path, limit_test_batches=1).test(OmniQAEvaluator(strategy="full", output_dir=str(out)),
                                                 datamodule=datamodule(dailyomni))
    assert len(rows_of(out)) == 2 and json.loads((out / "run.json").read_text())["model"]["strategy"] == "full"


def default_folder(tmp_path: Path, data: Path, make_datamodule, **options) -> tuple[Path, list[PredictionRow]]:
    """The folder a one-batch run of ``options`` writes by default (under the working directory), and its rows."""
    model = OmniQAEvaluator(**options)
    trainer(tmp_path, limit_test_batches=1).test(model, datamodule=make_datamodule(data))
    folder = model.output_dir()
    assert folder == model.runs[0].folder and not folder.is_absolute()
    return folder, rows_of(folder)


@pytest.mark.slow
def test_default_run_folders_are_named_by_model_data_strategy_and_options(tmp_path, dailyomni, datamodule, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    first, second = tmp_path / "a" / "hf", tmp_path / "b" / "hf"  # two checkpoints, both called hf
    for copy in (first, second):
        shutil.copytree(DEFAULT_MODEL_DIR, copy)
    shutil.copytree(dailyomni, tmp_path / "copy" / "dailyomni")  # a second copy of the benchmark

    folder, rows = default_folder(tmp_path, dailyomni, datamodule, model=str(first))
    assert folder.parts[0] == "runs" and folder.parts[1].startswith("dailyomni-")
    assert folder.parts[2].startswith("hf-") and folder.name == "omac-r0.7" and len(rows) == 2
    runs = {
        "other checkpoint": default_folder(tmp_path, dailyomni, datamodule, model=str(second))[0],
        "other copy of the data": default_folder(tmp_path, tmp_path / "copy" / "dailyomni", datamodule, model=str(first))[0],
        "other option": default_folder(tmp_path, dailyomni, datamodule, model=str(first), strategy_options={"guidance": 0.0})[0],
        "other ratio": default_folder(tmp_path, dailyomni, datamodule, model=str(first), ratio=0.55, audio_ratio=0.5)[0],
    }
    assert len({folder, *runs.values()}) == 5, runs
    assert runs["other checkpoint"].parts[2].startswith("hf-") and runs["other checkpoint"].parts[2] != folder.parts[2]
    assert runs["other copy of the data"].parts[1] != folder.parts[1]
    assert runs["other option"].name == "omac-r0.7-guidance=0.0"
    assert runs["other ratio"].name == "omac-r0.55-a0.5"
    # The same run again, with the checkpoint spelled another way and an option at its default: same folder, resumed.
    with caplog.at_level(logging.WARNING, logger="omarc.modules.evaluation.evaluator"):
        again, rows = default_folder(tmp_path, dailyomni, datamodule, model="a/../a/hf", strategy_options={"guidance": 1.0})
    assert again == folder and len(rows) == 4 and "resuming: 2 finished sample(s)" in caplog.text
    # The packaged model and the generated default keep readable names.
    assert default_folder(tmp_path, dailyomni, datamodule)[0].parts[2] == "default"


def test_undecodable_video_is_a_failed_wrong_sample(tmp_path, dailyomni, datamodule):
    broken = tmp_path / "dailyomni"
    for src in dailyomni.rglob("*"):
        if src.is_file():
            dst = broken / src.relative_to(dailyomni)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    bad = sorted(broken.rglob("*_video.mp4"))[0]
    bad.write_bytes(b"not an mp4")
    out = tmp_path / "run"
    model = OmniQAEvaluator(strategy="full", output_dir=str(out))
    trainer(tmp_path).test(model, datamodule=datamodule(broken))

    failed = [r for r in rows_of(out) if r.failed]
    assert len(failed) == 2  # both questions on that video
    assert all(bad.name in r.error and not r.correct for r in failed)
    assert model.results["test"]["failed"] == 2 and model.results["test"]["count"] == QUESTIONS


@pytest.mark.slow
def test_validate_and_predict(tmp_path, dailyomni, datamodule):
    out = tmp_path / "run"
    t = trainer(tmp_path, limit_val_batches=1, limit_predict_batches=1)
    t.validate(OmniQAEvaluator(strategy="omnizip", output_dir=str(out)), datamodule=datamodule(dailyomni))
    assert len(rows_of(out, "validate")) == 2 and (out / "validate" / "results.json").is_file()  # one clip's questions
    predicted = t.predict(OmniQAEvaluator(strategy="omnizip", output_dir=str(out)), datamodule=datamodule(dailyomni))
    assert [row["id"] for batch in predicted for row in batch] == [r.id for r in rows_of(out, "predict")]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="prompt_style"):
        OmniQADataModule(prompt_style="chatty")
    with pytest.raises(ValueError, match="unknown strategy 'omak'"):
        OmniQAEvaluator(strategy="omak")
    with pytest.raises(ValueError, match="ratio"):
        OmniQAEvaluator(ratio=1.5)
    with pytest.raises(ValueError, match="dtype"):
        OmniQAEvaluator(dtype="float33")


def test_prediction_file_with_a_foreign_line_is_named(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": "a", "benchmark": "b"}\n{"nonsense": 1}\n')
    with pytest.raises(ValueError, match=r"predictions.jsonl:2"):
        PredictionWriter(path).read()
    path.write_text('{"id": "a", "benchmark": "b"}\n{"id": "c", "bench\n{"id": "d", "benchmark": "b"}\n')
    with pytest.raises(ValueError, match=r"predictions.jsonl:2: not a prediction row"):  # torn, but not last
        PredictionWriter(path).read()


@pytest.mark.parametrize("torn", [b'{"id": "c", "bench', b'{"id": "c", "bench\n', b'{"id": "c", "question": "caf\xc3',
                                  b"\0\0\0\0\0\0\n\n"], ids=["no-newline", "newline", "mid-character", "zeros"])
def test_torn_last_line_is_left_out_then_cut_off(tmp_path, caplog, torn):
    path = tmp_path / "predictions.jsonl"
    whole = b'{"id": "a", "benchmark": "b"}\n{"id": "b", "benchmark": "b"}\n'  # rows of an older version
    path.write_bytes(whole + torn)
    writer = PredictionWriter(path)
    with caplog.at_level(logging.WARNING, logger="omarc.modules.evaluation.predictions"):
        rows = writer.read()
    assert [(r.id, r.media_flags) for r in rows] == [("a", []), ("b", [])]
    assert f"{path}:3: torn last line" in caplog.text
    writer.repair()
    assert path.read_bytes() == whole
    writer.write(PredictionRow(id="c", benchmark="b", media_flags=[SHORT_CLIP]))
    assert [(r.id, r.media_flags) for r in writer.read()] == [("a", []), ("b", []), ("c", [SHORT_CLIP])]


@pytest.mark.slow
def test_a_batch_the_model_fails_on_is_failed_and_the_run_goes_on(tmp_path, dailyomni, monkeypatch, datamodule):
    out = tmp_path / "run"
    model = OmniQAEvaluator(strategy="omac", output_dir=str(out))
    encode = model.backbone.encode
    calls = []

    def first_batch_out_of_memory(inputs, **kwargs):
        calls.append(len(inputs["input_ids"]))
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return encode(inputs, **kwargs)

    monkeypatch.setattr(model.backbone, "encode", first_batch_out_of_memory)
    trainer(tmp_path).test(model, datamodule=datamodule(dailyomni))
    rows = rows_of(out)
    failed = [r for r in rows if r.failed]
    assert len(rows) == QUESTIONS and len(failed) == calls[0]
    assert all("OutOfMemoryError" in r.error and not r.correct for r in failed)
    assert model.results["test"]["failed"] == calls[0] and model.results["test"]["count"] == QUESTIONS


@pytest.mark.slow
def test_keep_maps_are_drawn_from_the_frames_decoded_once(tmp_path, dailyomni, monkeypatch, datamodule):
    decoded = []

    def counting_decode(path, **kwargs):
        decoded.append(Path(path).name)
        return decode_media(path, **kwargs)

    monkeypatch.setattr("omarc.datamodules.datamodule.decode_media", counting_decode)
    out = tmp_path / "run"
    trainer(tmp_path).test(OmniQAEvaluator(strategy="omac", ratio=0.7, output_dir=str(out), keep_maps=3),
                           datamodule=datamodule(dailyomni, batch_size=2))
    ids = [r.id for r in rows_of(out)]
    assert sorted(p.name for p in (out / "test").glob("keep_map_*.png")) == sorted(f"keep_map_{i}.png" for i in ids[:3])
    assert len(decoded) == N_VIDEOS, "each clip is decoded once for all its questions, pictures included"


def test_evidence_tokens_are_counted_per_modality_in_their_seconds():
    """Hand counts: evidence second [1, 2) holds video tokens 2, 3 and audio tokens 6, 7 (end excluded)."""
    V, A, X = int(Modality.VIDEO), int(Modality.AUDIO), int(Modality.TEXT)
    modality = torch.tensor([[X, V, V, V, V, A, A, A, A, X]])
    time = torch.tensor([[0.0, 0.0, 1.0, 1.0, 2.0, 0.5, 1.0, 1.5, 2.0, 0.0]])
    n = modality.shape[1]
    sample = TokenSequence(
        embeds=torch.zeros(1, n, 4), positions=torch.zeros(3, 1, n, dtype=torch.long),
        attention_mask=torch.ones(1, n, dtype=torch.bool), modality=modality,
        frame=torch.tensor([[-1, 0, 1, 1, 2, -1, -1, -1, -1, -1]]), time=time,
        patch_hw=torch.zeros(1, n, 2, dtype=torch.long), query_mask=torch.zeros(1, n, dtype=torch.bool),
    )
    keep = torch.tensor([True, True, False, True, True, True, False, False, True, True])
    span = [(1.0, 2.0)]
    assert evidence_tokens(sample, keep, {"audio": span, "video": span}) == ({"audio": 2, "video": 2},
                                                                            {"audio": 0, "video": 1})
    assert evidence_tokens(sample, keep, {"video": [(0.0, 1.0), (2.0, 3.0)]}) == ({"video": 2}, {"video": 2})
    # A video token covers its grid up to the next one's start: [0, 1) overlaps [0.5, 0.8), [2, 3) the last.
    assert evidence_tokens(sample, keep, {"video": [(0.5, 0.8)]}) == ({"video": 1}, {"video": 1})
    assert evidence_tokens(sample, keep, {"video": [(2.5, 9.0)]}) == ({"video": 1}, {"video": 1})
    assert evidence_tokens(sample, keep, {"audio": [(0.5, 0.8)]}) == ({"audio": 1}, {"audio": 1})  # audio: points
    assert evidence_tokens(sample, None, {"audio": span}) == ({"audio": 2}, {"audio": 2})  # no mask: all kept
    assert evidence_tokens(sample, keep, {}) == ({}, {})  # no evidence spans: no counts


def test_rows_of_files_without_evidence_fields_read_back(tmp_path):
    writer = PredictionWriter(tmp_path / "p.jsonl")
    writer.path.write_text(json.dumps({"id": "a", "benchmark": "b", "correct": True}) + "\n")
    (row,) = writer.read()
    assert row.evidence_in == {} and row.evidence_kept == {}


def test_configurations_that_differ_only_in_options_get_their_own_labels():
    """The label prefixes a configuration's TensorBoard tags in a shared pass: options must tell them apart."""
    labels = [Compression("omac", 0.7).label, Compression("omac", 0.7, strategy_options={"coverage": 0.0}).label,
              Compression("omac", 0.7, strategy_options={"coverage": 0.75}).label, Compression("omac", 0.55).label]
    assert labels == ["omac-r0.7", "omac-r0.7-coverage=0.0", "omac-r0.7", "omac-r0.55"]
