from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ml.checkpoint import read_card
from ml.train import OrdinalCostLoss, Schedule, make_mixing, mixed, start_average, train, training_step
from tests.conftest import tiny_config


def test_one_training_epoch_writes_history_and_curves(tiny_run: Path) -> None:
    history = json.loads((tiny_run / "history.json").read_text())
    assert len(history) == 1
    expected = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy"}
    assert expected <= set(history[0])
    assert (tiny_run / "training_curves.png").stat().st_size > 1000


def test_training_ships_a_calibrated_card_with_test_metrics(tiny_checkpoint: Path) -> None:
    card = read_card(tiny_checkpoint)
    assert card["architecture"] == "vit_tiny_patch16_224"
    assert card["classes"] == ["No DR", "Mild", "Proliferative"]
    assert card["image_size"] == 64
    assert card["temperature"] > 0
    assert {"val_ece_before", "val_ece_after"} <= set(card["calibration"])
    assert card["test_metrics"]["n"] >= 1
    assert len(card["sha256"]) == 64
    assert card["data"]["train"]["images"] >= 1


def test_training_continues_from_a_checkpoint_with_its_head_and_names_it(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    # A learning rate of zero leaves the weights as loaded: what is saved must be the checkpoint itself.
    train(tiny_config(tmp_path / "run", init=str(tiny_checkpoint), lr=0.0))
    start, saved = load_file(str(tiny_checkpoint)), load_file(str(tmp_path / "run" / "best.safetensors"))
    assert start.keys() == saved.keys()
    for name, tensor in start.items():
        assert torch.equal(tensor.float(), saved[name].float()), name
    # The starting file is usually the shipped one, which the new run replaces: its card keeps the trail.
    started_from, training = read_card(tiny_checkpoint), read_card(tmp_path / "run" / "model.safetensors")["training"]
    assert training["continued_from"]["sha256"] == started_from["sha256"]
    assert training["continued_from"]["version"] == started_from["version"]
    assert training["continued_from"]["training"] == started_from["training"]
    assert training["photographs"] == "original"


def test_weight_averaging_keeps_the_mean_of_the_starting_and_the_trained_weights(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    # The same seeded CPU run twice, once plain and once averaging from the start: the averaged run must
    # keep (start + trained) / 2, and report the average's validation beside the live model's.
    plain = train(tiny_config(tmp_path / "plain", init=str(tiny_checkpoint), lr=1e-3, threads=1))
    averaged = train(tiny_config(tmp_path / "swa", init=str(tiny_checkpoint), lr=1e-3, threads=1, average_from=0))
    start, trained = load_file(str(tiny_checkpoint)), load_file(str(tmp_path / "plain" / "best.safetensors"))
    kept = load_file(str(tmp_path / "swa" / "best.safetensors"))
    moved = [name for name in start if not torch.equal(start[name].float(), trained[name])]
    assert moved, "the plain run must have changed some weights, or the mean proves nothing"
    for name in start:
        torch.testing.assert_close(kept[name], (start[name].float() + trained[name]) / 2, rtol=1e-5, atol=1e-6)
    row = json.loads((tmp_path / "swa" / "history.json").read_text())[0]
    assert row["swa_members"] == 2
    assert {"swa_val_balanced_accuracy", "val_balanced_accuracy"} <= set(row)
    assert averaged["training"]["average_from"] == 0 and plain["training"]["average_from"] is None


def test_a_batch_normalised_models_average_keeps_the_mean_of_its_statistics_too(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    average = start_average(model, tiny_config(tmp_path, average_from=0))
    assert average is not None
    start = model[1].running_mean.clone()
    model.train()
    model(torch.randn(8, 3, 16, 16) + 3.0)  # moves the running statistics
    average.update_parameters(model)
    expected = (start + model[1].running_mean) / 2
    torch.testing.assert_close(average.module[1].running_mean, expected)


def test_a_run_that_ends_before_its_averaging_begins_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="before weight averaging began at epoch 3"):
        train(tiny_config(tmp_path / "run", average_from=3))


def test_a_constant_schedule_holds_the_peak_rate_after_warm_up() -> None:
    schedule = Schedule(1e-3, warmup_steps=4, total_steps=100, budget_s=None, constant=True)
    assert schedule.lr(1) == pytest.approx(5e-4)
    assert schedule.lr(4) == schedule.lr(99) == 1e-3
    assert Schedule(1e-3, 4, 100, None).lr(99) < 1e-5  # the default still decays


def test_continuing_refuses_a_checkpoint_of_another_shape(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="--init"):
        train(tiny_config(tmp_path / "run", init=str(tiny_checkpoint), image_size=32))


def _step_parts() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.nn.Module]:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    return model, torch.optim.AdamW(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss()


def test_a_step_with_a_non_finite_loss_leaves_the_weights_untouched() -> None:
    model, optimizer, criterion = _step_parts()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.full((2, 3, 2, 2), float("nan"))
    _, _, applied = training_step(model, x, torch.tensor([0, 1]), optimizer, criterion, grad_clip=1.0)
    assert not applied
    for old, new in zip(before, model.parameters(), strict=True):
        assert torch.equal(old, new)


def test_a_finite_step_updates_the_weights() -> None:
    model, optimizer, criterion = _step_parts()
    before = [p.detach().clone() for p in model.parameters()]
    _, loss, applied = training_step(model, torch.randn(2, 3, 2, 2), torch.tensor([0, 1]), optimizer, criterion, 1.0)
    assert applied and torch.isfinite(loss)
    assert any(not torch.equal(old, new) for old, new in zip(before, model.parameters(), strict=True))


def test_the_ordinal_cost_is_plain_cross_entropy_at_weight_zero() -> None:
    logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    expected = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    assert torch.allclose(OrdinalCostLoss(0.1, 0.0)(logits, labels), expected)


def test_the_ordinal_cost_charges_a_distant_grade_four_times_a_neighbouring_one() -> None:
    # All the probability on one wrong class: cross-entropy is the same either way, the cost is not.
    certain = 30.0
    called_mild = torch.tensor([[0.0, certain, 0.0]])
    called_proliferative = torch.tensor([[0.0, 0.0, certain]])
    no_dr = torch.tensor([0])
    ce = OrdinalCostLoss(0.0, 0.0)
    assert torch.allclose(ce(called_mild, no_dr), ce(called_proliferative, no_dr))
    ordinal = OrdinalCostLoss(0.0, 1.0)
    near = ordinal(called_mild, no_dr) - ce(called_mild, no_dr)
    far = ordinal(called_proliferative, no_dr) - ce(called_proliferative, no_dr)
    assert torch.allclose(near, torch.tensor(0.25), atol=1e-6)
    assert torch.allclose(far, torch.tensor(1.0), atol=1e-6)
    assert float(ordinal(torch.tensor([[certain, 0.0, 0.0]]), no_dr)) < 1e-6


def test_the_ordinal_cost_has_gradients_for_every_logit() -> None:
    logits = torch.zeros(2, 3, requires_grad=True)
    OrdinalCostLoss(0.1, 1.0)(logits, torch.tensor([0, 2])).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_a_run_whose_steps_are_mostly_non_finite_stops_and_says_why(tmp_path: Path) -> None:
    # At learning rate 1e4 the first step throws the weights so far that most later steps are non-finite:
    # the run stops after that epoch instead of burning its budget, and keeps its best checkpoint.
    card = train(tiny_config(tmp_path, lr=1e4, epochs=3, samples_per_epoch=16, warmup_epochs=0))
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history) == 1 and history[0]["skipped_steps"] == 3
    assert card["training"]["stopped"].startswith("unstable: 3 of 4 steps non-finite")
    assert (tmp_path / "model.safetensors").is_file()


def test_a_normal_run_records_why_it_stopped(tiny_checkpoint: Path) -> None:
    assert read_card(tiny_checkpoint)["training"]["stopped"]


def test_a_one_hot_target_costs_what_its_class_index_costs() -> None:
    # Mixed photographs come as target distributions; an unmixed one written that way must train the same.
    logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    smoothed = torch.nn.functional.one_hot(labels, 3).float() * 0.9 + 0.1 / 3  # timm's smoothing of 0.1
    assert torch.allclose(OrdinalCostLoss(0.1, 0.0)(logits, smoothed), OrdinalCostLoss(0.1, 0.0)(logits, labels))
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(OrdinalCostLoss(0.0, 1.0)(logits, one_hot), OrdinalCostLoss(0.0, 1.0)(logits, labels))


def test_a_mixed_target_costs_the_mix_of_its_two_classes_costs() -> None:
    logits, a, b, lam = torch.randn(4, 3), torch.tensor([0, 0, 2, 1]), torch.tensor([2, 1, 0, 1]), 0.3
    mix = lam * torch.nn.functional.one_hot(a, 3).float() + (1 - lam) * torch.nn.functional.one_hot(b, 3).float()
    loss = OrdinalCostLoss(0.0, 1.0)
    assert torch.allclose(loss(logits, mix), lam * loss(logits, a) + (1 - lam) * loss(logits, b))


def test_mixing_is_off_by_default_and_refuses_a_negative_alpha(tmp_path: Path) -> None:
    assert make_mixing(tiny_config(tmp_path)) is None
    with pytest.raises(ValueError, match="Beta alphas"):
        tiny_config(tmp_path, cutmix=-1.0)


def test_mixup_blends_each_photograph_with_the_batch_reversed_and_says_how_much() -> None:
    np.random.seed(0)
    mixing = make_mixing(tiny_config(Path("unused"), mixup=0.4, label_smoothing=0.0))
    x, labels = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 2])
    mixed_x, targets = mixed(mixing, x.clone(), labels)
    lam = float(targets[0, 0])  # photograph 0 (No DR) with photograph 3 (Proliferative)
    assert 0 < lam < 1 and torch.allclose(targets.sum(1), torch.ones(4))
    assert torch.allclose(targets[0], torch.tensor([lam, 0.0, 1 - lam]))
    torch.testing.assert_close(mixed_x[0], lam * x[0] + (1 - lam) * x[3])


def test_cutmix_pastes_a_rectangle_and_weighs_the_labels_by_its_area() -> None:
    mixing = make_mixing(tiny_config(Path("unused"), cutmix=1.0, label_smoothing=0.0))
    x, labels = torch.zeros(2, 1, 16, 16), torch.tensor([0, 2])
    x[1] = 1.0
    shares = []
    for seed in range(10):  # a drawn rectangle can fall off the image: then nothing is pasted, and lam is 1
        np.random.seed(seed)
        mixed_x, targets = mixed(mixing, x.clone(), labels)
        pasted = float(mixed_x[0].mean())  # the share of photograph 0 now taken from photograph 1
        assert torch.allclose(targets[0], torch.tensor([1 - pasted, 0.0, pasted]))
        shares.append(pasted)
    assert any(0 < share < 1 for share in shares)


def test_an_odd_sized_batch_goes_unmixed_with_its_plain_labels() -> None:
    mixing = make_mixing(tiny_config(Path("unused"), mixup=0.4))
    x, labels = torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 2])
    mixed_x, targets = mixed(mixing, x.clone(), labels)
    assert torch.equal(mixed_x, x) and torch.equal(targets, labels)


def test_a_mixing_run_trains_records_its_alphas_and_repeats_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CACHE_DIR", str(tmp_path / "cache"))
    runs = [tmp_path / "first", tmp_path / "second", tmp_path / "unmixed"]
    cards = [train(tiny_config(run, threads=1, mixup=0.4, cutmix=1.0)) for run in runs[:2]]
    train(tiny_config(runs[2], threads=1))
    assert cards[0]["training"]["mixup"] == 0.4 and cards[0]["training"]["cutmix"] == 1.0
    first, second, unmixed = (load_file(str(run / "best.safetensors")) for run in runs)
    assert all(torch.equal(first[name], second[name]) for name in first)  # the mixing draws are seeded
    assert any(not torch.equal(first[name], unmixed[name]) for name in first)  # and the mixing did something
