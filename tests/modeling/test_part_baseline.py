"""PartBaseline: training and eval forward, EMA mean classifiers, mixer hooks, extract."""
import pytest
import torch

from partreid.modeling import build_model
from partreid.modeling.losses import enable_losses
from partreid.modeling.mixers import Mixer

ALL_LOSSES = [
    "IdentityLoss",
    "ModalitySpecificIDLoss",
    "ModalityLearningLoss",
    "CenterClusterLoss",
    "TripletLoss",
    "PartSeparationLoss",
]
TERMS = {"loss_id", "loss_sid", "loss_ml", "loss_cc", "loss_triplet", "loss_sep"}

def test_train_forward_returns_the_configured_finite_terms(tiny_cfg, tiny_batch):
    enable_losses(tiny_cfg, ALL_LOSSES)
    tiny_cfg.MODEL.BACKBONE.MODALITY_ALLEVIATION = [3, 4]
    model = build_model(tiny_cfg).train()
    terms = model(tiny_batch)
    assert set(terms) == TERMS
    assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())
    sum(terms.values()).backward()
    assert model.bn_neck.bias.grad is None and torch.all(model.bn_neck.bias == 0)
    assert model.part_head.detector.weight.grad.abs().sum() > 0
    assert model.backbone.modality_alleviation["3"].gate[0].weight.grad is not None

def test_only_configured_losses_run(tiny_cfg, tiny_batch):
    enable_losses(tiny_cfg, ["IdentityLoss", "TripletLoss"])
    assert set(build_model(tiny_cfg)(tiny_batch)) == {"loss_id", "loss_triplet"}

@pytest.mark.parametrize("head", ["PartDetector", "Stripes"])
def test_eval_forward_returns_bn_necked_descriptor(tiny_cfg, tiny_batch, head):
    tiny_cfg.MODEL.PART_HEAD.NAME = head
    model = build_model(tiny_cfg).eval()
    with torch.no_grad():
        features = model(tiny_batch)
        extracted = model.extract(tiny_batch["images"])
    assert features.shape == (8, 3 * 512)
    torch.testing.assert_close(features, extracted["features"])
    assert extracted["part_maps"].shape == (8, 2, 4, 2)
    assert extracted["part_descriptors"].shape == (8, 2, 512)
    assert extracted["global_descriptor"].shape == (8, 512)

def test_extract_restores_training_mode(tiny_cfg, tiny_batch):
    model = build_model(tiny_cfg).train()
    model.extract(tiny_batch["images"][:2])
    assert model.training and model.backbone.training

def test_mean_classifiers_follow_an_ema(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.CLASSIFIER.MEAN_MOMENTUM = 0.8
    model = build_model(tiny_cfg).train()
    torch.testing.assert_close(model.mean_classifier_visible, model.classifier_visible.weight.detach())
    with torch.no_grad():
        model.classifier_visible.weight.add_(1.0)
    before = model.mean_classifier_visible.clone()
    current = model.classifier_visible.weight.detach().clone()
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
    torch.testing.assert_close(model.mean_classifier_visible, 0.8 * before + 0.2 * current)
    assert not outputs["mean_logits_visible"].requires_grad
    assert "mean_classifier_visible" in model.state_dict()
    assert all(p is not model.mean_classifier_visible for p in model.parameters())

def test_outputs_follow_the_contract(tiny_cfg, tiny_batch):
    model = build_model(tiny_cfg).train()
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
    assert outputs["part_descriptors"].shape == (8, 2, 512)
    assert outputs["descriptors"].shape == outputs["bn_descriptors"].shape == (8, 1536)
    torch.testing.assert_close(outputs["descriptors"][:, 512:1024], outputs["part_descriptors"][:, 1])
    torch.testing.assert_close(outputs["descriptors"][:, 1024:], outputs["global_descriptor"])
    for key in ("logits", "logits_visible", "logits_infrared", "mean_logits_visible", "mean_logits_infrared"):
        assert outputs[key].shape == (8, 4)
    assert outputs["mixed_targets"] is None

class RecordingMixer(Mixer):
    """Counts its calls and adds an entry that a loss must see."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.calls = 0

    def mix_descriptors(self, outputs, batch, model):
        self.calls += 1
        assert model.bn_neck is not None and "logits" in outputs
        return {"recorded": outputs["descriptors"].sum()}

def test_mixer_descriptors_reach_the_losses_from_start_epoch(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.MIXER.START_EPOCH = 2
    model = build_model(tiny_cfg).train()
    model.mixer = RecordingMixer(tiny_cfg)
    seen = []
    model.losses = [lambda outputs, batch: seen.append("recorded" in outputs) or {"loss_zero": outputs["logits"].sum()}]
    model(dict(tiny_batch, epoch=1))
    model(dict(tiny_batch, epoch=2))
    assert model.mixer.calls == 1 and seen == [False, True]

def test_mixed_batch_trains(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.MIXER.NAME = "CutMix"
    model = build_model(tiny_cfg).train()
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), dict(tiny_batch, iteration=3))
    assert outputs["mixed_targets"] is not None
    terms = model.losses_from(outputs, tiny_batch)
    assert all(torch.isfinite(v) for v in terms.values())

def test_mixer_probability_zero_never_mixes(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.MIXER.NAME = "MixUp"
    tiny_cfg.MODEL.MIXER.PROB = 0.0
    model = build_model(tiny_cfg).train()
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
    assert outputs["mixed_targets"] is None

def test_num_classes_must_be_set(tiny_cfg):
    tiny_cfg.MODEL.NUM_CLASSES = 0
    with pytest.raises(ValueError, match="MODEL.NUM_CLASSES"):
        build_model(tiny_cfg)

def test_training_batch_needs_epoch(tiny_cfg, tiny_batch):
    model = build_model(tiny_cfg).train()
    del tiny_batch["epoch"]
    with pytest.raises(KeyError, match="epoch"):
        model(tiny_batch)

def test_detached_map_losses_keep_their_values_but_do_not_move_the_maps(tiny_cfg, tiny_batch):
    enable_losses(tiny_cfg, ["IdentityLoss", "CenterClusterLoss", "ModalityLearningLoss", "PartSeparationLoss"])
    attached = build_model(tiny_cfg).train()
    tiny_cfg.MODEL.LOSSES.DETACH_MAPS = ["CenterClusterLoss", "ModalityLearningLoss"]
    detached = build_model(tiny_cfg).train()
    detached.load_state_dict(attached.state_dict())

    def terms_and_maps(model):
        outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
        return model.losses_from(outputs, tiny_batch), outputs["part_maps"]

    (terms_a, maps_a), (terms_d, maps_d) = terms_and_maps(attached), terms_and_maps(detached)
    assert set(terms_a) == set(terms_d) == {"loss_id", "loss_cc", "loss_ml", "loss_sep"}
    for name in terms_a:  # the same values: only the gradient's path changes
        torch.testing.assert_close(terms_d[name], terms_a[name], rtol=1e-6, atol=1e-7)
    for name in ("loss_cc", "loss_ml"):
        grad_a, = torch.autograd.grad(terms_a[name], maps_a, retain_graph=True)
        grad_d, = torch.autograd.grad(terms_d[name], maps_d, retain_graph=True, allow_unused=True)
        assert grad_a.abs().sum() > 0 and grad_d is None
    detached.zero_grad()
    (terms_d["loss_cc"] + terms_d["loss_ml"]).backward(retain_graph=True)
    head = detached.part_head
    assert head.detector.weight.grad is None or not head.detector.weight.grad.any()
    assert detached.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0  # the features still learn from them
    assert detached.classifier_visible.weight.grad.abs().sum() > 0
    detached.zero_grad()
    (terms_d["loss_id"] + terms_d["loss_sep"]).backward()  # the other losses still move the maps
    assert head.detector.weight.grad.abs().sum() > 0

def test_detach_maps_names_losses_of_the_model_and_needs_a_pooling_head(tiny_cfg):
    enable_losses(tiny_cfg, ["IdentityLoss", "CenterClusterLoss"])
    tiny_cfg.MODEL.LOSSES.DETACH_MAPS = ["TripletLoss"]
    with pytest.raises(ValueError, match=r"MODEL.LOSSES.DETACH_MAPS=\['TripletLoss'\]: \['TripletLoss'\] not among "
                                         r"the enabled losses"):
        build_model(tiny_cfg)
    tiny_cfg.MODEL.LOSSES.DETACH_MAPS = ["CenterClusterLoss"]
    tiny_cfg.MODEL.PART_HEAD.NAME = "Stripes"
    with pytest.raises(ValueError, match="MODEL.LOSSES.DETACH_MAPS.*Stripes has no pool"):
        build_model(tiny_cfg)

def test_mean_classifier_rate_shrinks_late_as_mpanet(tiny_cfg, tiny_batch):
    """MEAN_RATE_DECAY 100: MPANet's rate 0.2 x min(1, 100 / (1-based epoch + 1)) at each epoch."""
    tiny_cfg.MODEL.CLASSIFIER.MEAN_MOMENTUM = 0.8
    tiny_cfg.MODEL.CLASSIFIER.MEAN_RATE_DECAY = 100.0
    model = build_model(tiny_cfg).train()
    for epoch in (0, 50, 98, 99, 119, 139):
        mpanet_epoch = epoch + 1  # ignite counts epochs from 1
        assert model.mean_rate(epoch) == pytest.approx(min(100 / (mpanet_epoch + 1), 1.0) * 0.2)
    with torch.no_grad():
        model.classifier_visible.weight.add_(1.0)
    before = model.mean_classifier_visible.clone()
    current = model.classifier_visible.weight.detach().clone()
    model.training_outputs(model.preprocess(tiny_batch["images"]), {**tiny_batch, "epoch": 139})
    rate = 0.2 * 100 / 141
    torch.testing.assert_close(model.mean_classifier_visible, (1 - rate) * before + rate * current)
    tiny_cfg.MODEL.CLASSIFIER.MEAN_RATE_DECAY = -1.0
    with pytest.raises(ValueError, match="MODEL.CLASSIFIER.MEAN_RATE_DECAY"):
        build_model(tiny_cfg)

def test_losses_compute_in_float32_under_bf16_autocast(tiny_cfg, tiny_batch):
    """Every loss computes and reduces in float32 inside the trainer's autocast: the same model
    outputs give the same terms with bf16 autocast on as off (matmuls of float32 inputs would
    otherwise run in bf16: the centre distances, the triplet distances, the maps' products)."""
    enable_losses(tiny_cfg, ALL_LOSSES)
    model = build_model(tiny_cfg).train()
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
    reference = model.losses_from(outputs, tiny_batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = model.losses_from(outputs, tiny_batch)
    assert set(autocast) == set(reference) and len(reference) == len(ALL_LOSSES)
    for name, value in autocast.items():
        assert value.dtype == torch.float32, name
        assert torch.equal(value, reference[name]), name
