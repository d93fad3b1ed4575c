"""The batch/outputs contract (partreid.modeling.meta_arch.contract) is what the code produces."""
import torch

from partreid.config import get_cfg
from partreid.data import build_dataset, build_train_loader
from partreid.modeling.meta_arch.build import build_model
from partreid.modeling.meta_arch.contract import BATCH_KEYS, OUTPUT_KEYS, TrainingBatch
from partreid.utils.testing import tiny_model_cfg, tiny_synthvi_opts, toy_training_batch


def test_loader_batches_hold_the_contract_keys_the_trainer_completes(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_list(tiny_synthvi_opts(str(tmp_path / "data"), str(tmp_path / "out")))
    cfg.DATASETS.TRAIN = "SynthVI"
    batch = next(iter(build_train_loader(cfg, build_dataset(cfg, "SynthVI"))))
    # the trainer adds epoch and iteration (SimpleTrainer.run_step)
    assert sorted([*batch, "epoch", "iteration"]) == BATCH_KEYS
    n = cfg.DATALOADER.NUM_IDENTITIES * cfg.DATALOADER.NUM_INSTANCES
    assert batch["images"].dtype == torch.uint8 and batch["images"].shape == (n, 3, 64, 32)
    for key in ("targets", "camids", "modalities", "indices"):
        assert batch[key].dtype == torch.int64 and batch[key].shape == (n,), key


def test_training_outputs_hold_exactly_the_contract_keys():
    cfg = tiny_model_cfg()
    model = build_model(cfg).train()
    batch: TrainingBatch = toy_training_batch(epoch=0, iteration=0)
    outputs = model.training_outputs(model.preprocess(batch["images"]), batch)
    assert sorted(outputs) == OUTPUT_KEYS
    n, m, k = 8, cfg.MODEL.PART_HEAD.NUM_PARTS, cfg.MODEL.NUM_CLASSES
    c = outputs["global_descriptor"].shape[1]
    assert outputs["part_descriptors"].shape == (n, m, c)
    assert outputs["descriptors"].shape == outputs["bn_descriptors"].shape == (n, (m + 1) * c)
    assert outputs["part_logits"].shape == (n, m, k)
    for key in ("logits", "logits_visible", "logits_infrared", "mean_logits_visible", "mean_logits_infrared"):
        assert outputs[key].shape == (n, k), key
    assert outputs["mixed_targets"] is None
    # the part slots' contributions and the global slot's make up the shared logits
    width = c
    global_part = outputs["bn_descriptors"][:, m * width:] @ model.classifier.weight[:, m * width:].t()
    torch.testing.assert_close(outputs["part_logits"].sum(1) + global_part, outputs["logits"], atol=1e-5, rtol=1e-5)
