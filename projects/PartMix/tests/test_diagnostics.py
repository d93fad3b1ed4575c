"""PartMix's training diagnostics: the statistics against direct computations, the gradient
norms against separate backward passes, and a training step that is bitwise the same with and
without them."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from partmix.mixer import NEAR_COPY_COSINE
from partreid.config.config import setup_cfg
from partreid.modeling.meta_arch.build import build_model
from partreid.utils.events import EventStorage
from partreid.utils.testing import toy_training_batch

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "synthvi_partmix.yaml")


def _model(period=1, **opts):
    extra = [x for kv in opts.items() for x in kv]
    cfg = setup_cfg(CONFIG, ["MODEL.NUM_CLASSES", 4, "MODEL.DEVICE", "cpu", "PARTMIX.NUM_NEG", 6,
                             "PARTMIX.DIAGNOSTICS_PERIOD", period, *extra])
    torch.manual_seed(0)
    return build_model(cfg).train(), cfg


def _entropy(logits):
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


@pytest.mark.parametrize("mining", ["entropy", "random"])
def test_statistics_agree_with_the_built_samples(mining):
    model, cfg = _model(**{"PARTMIX.MINING": mining})
    batch = toy_training_batch(cfg.MODEL.MIXER.START_EPOCH, 0)
    with torch.no_grad():
        outputs = model.training_outputs(model.preprocess(batch["images"]), batch)
    stats = model.mixer.statistics(outputs, model)

    pos_valid, neg_valid = outputs["partmix_positive_mask"], outputs["partmix_negative_mask"]
    pos_entropy = _entropy(outputs["partmix_positive_logits"])[pos_valid]
    neg_entropy = _entropy(model.classifier(outputs["partmix_negatives_bn"]))[neg_valid]
    assert stats["entropy_pos"] == pytest.approx(pos_entropy.mean().item(), rel=1e-4)
    assert stats["entropy_neg"] == pytest.approx(neg_entropy.mean().item(), rel=1e-4)
    if mining == "entropy":  # lowest-entropy positives, highest-entropy negatives
        assert stats["entropy_pos"] <= stats["entropy_random_pos"]
        assert stats["entropy_neg"] >= stats["entropy_random_neg"]

    anchors = outputs["bn_descriptors"][:, None]
    cosine = F.cosine_similarity(anchors, outputs["partmix_positives_bn"], dim=-1)[pos_valid]
    assert stats["cosine_pos"] == pytest.approx(cosine.mean().item(), rel=1e-4)
    assert stats["near_copy_share"] == pytest.approx((cosine > NEAR_COPY_COSINE).float().mean().item())

    # NUM_SWAP 1: candidate j * M + r swaps exactly slot r
    num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
    for kind, name, valid in (("pos", "positive", pos_valid), ("neg", "negative", neg_valid)):
        slots = (outputs[f"partmix_{name}_index"] % num_parts)[valid]
        expected = torch.bincount(slots, minlength=num_parts).float() / len(slots)
        assert [stats[f"swap_{kind}_slot{m}"] for m in range(num_parts)] == pytest.approx(expected.tolist())


def test_diagnostics_are_logged_with_the_right_gradient_norms():
    model, cfg = _model(period=2)
    batch = toy_training_batch(cfg.MODEL.MIXER.START_EPOCH, iteration=3)
    with EventStorage(3) as storage:
        terms = model(batch)
        logged = {k: v for k, (v, _) in storage.latest().items() if k.startswith("partmix/")}
    assert {"partmix/entropy_pos", "partmix/entropy_random_neg", "partmix/near_copy_share",
            "partmix/swap_pos_slot0", "partmix/gradnorm_mix", "partmix/gradnorm_id"} <= set(logged)
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated

    # the module the config names (the SynthVI configs' backbone ends at layer3)
    watched = list(model.get_submodule(cfg.PARTMIX.DIAGNOSTICS_MODULE).parameters())
    for key, loss in (("gradnorm_mix", terms["loss_cont"] + terms["loss_aid"]), ("gradnorm_id", terms["loss_id"])):
        model.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        norm = torch.stack([p.grad.pow(2).sum() for p in watched if p.grad is not None]).sum().sqrt().item()
        assert logged[f"partmix/{key}"] == pytest.approx(norm, rel=1e-4)

    with EventStorage(4) as storage:  # (4 + 1) % 2 != 0: not a diagnostics iteration
        model(toy_training_batch(cfg.MODEL.MIXER.START_EPOCH, iteration=4))
        assert not any(k.startswith("partmix/") for k in storage.latest())


@pytest.mark.slow
def test_training_is_bitwise_the_same_with_and_without_diagnostics():
    results = []
    for period in (1, 0):
        model, cfg = _model(period=period)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        with EventStorage(0):
            for it in range(2):
                loss = sum(model(toy_training_batch(cfg.MODEL.MIXER.START_EPOCH, it)).values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        results.append(model.state_dict())
    on, off = results
    assert all(torch.equal(on[k], off[k]) for k in on)


def test_an_unknown_diagnostics_module_is_named():
    with pytest.raises(ValueError, match="PARTMIX.DIAGNOSTICS_MODULE='backbone.layer9'"):
        _model(**{"PARTMIX.DIAGNOSTICS_MODULE": "backbone.layer9"})


@pytest.mark.parametrize("inter, intra", [(True, True), (True, False), (False, True)])
def test_intra_modality_share_of_the_mined_samples(inter, intra):
    model, cfg = _model(**{"PARTMIX.INTER": inter, "PARTMIX.INTRA": intra})
    batch = toy_training_batch(cfg.MODEL.MIXER.START_EPOCH, 0)
    with torch.no_grad():
        outputs = model.training_outputs(model.preprocess(batch["images"]), batch)
    stats = model.mixer.statistics(outputs, model)
    num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
    modalities, targets = batch["modalities"], batch["targets"]
    n = len(targets)
    for kind, name in (("pos", "positive"), ("neg", "negative")):
        index, valid = outputs[f"partmix_{name}_index"], outputs[f"partmix_{name}_mask"]
        same = [modalities[i] == modalities[index[i, t] // num_parts]
                for i in range(n) for t in range(index.shape[1]) if valid[i, t]]
        assert stats[f"{kind}_intra_share"] == pytest.approx(sum(same).item() / len(same))
        allowed = [modalities[i] == modalities[j] for i in range(n) for j in range(n)
                   if (targets[i] == targets[j]) == (kind == "pos") and i != j
                   and (inter if modalities[i] != modalities[j] else intra)]
        assert stats[f"{kind}_intra_share_allowed"] == pytest.approx(sum(allowed).item() / len(allowed))
        if not intra:
            assert stats[f"{kind}_intra_share"] == 0.0
        if not inter:
            assert stats[f"{kind}_intra_share"] == 1.0
