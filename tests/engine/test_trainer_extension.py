"""DefaultTrainer as a fork uses it: overridable builders, the public last results, and the
hooks' guarantees around evaluation (checkpoint first; a resume re-runs a lost evaluation)."""
import json
import os

import pytest
import torch

from partreid.checkpoint import load_checkpoint_file
from partreid.config import get_cfg
from partreid.engine import DefaultTrainer, hooks
from partreid.engine.defaults import default_setup
from partreid.utils.testing import tiny_synthvi_opts


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def tiny_cfg(data_root, out_dir, **overrides):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthvi_baseline.yaml"))
    cfg.merge_from_list(tiny_synthvi_opts(data_root, str(out_dir), **overrides))
    return cfg


class SGDWithFixedBatches(DefaultTrainer):
    """A fork's trainer: its own optimizer, and a loader that repeats one recorded batch."""

    built = {}

    @classmethod
    def build_optimizer(cls, cfg, model):
        cls.built["optimizer"] = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.0)
        return cls.built["optimizer"]

    @classmethod
    def build_train_loader(cls, cfg, dataset, start_iter=0):
        first = next(iter(super().build_train_loader(cfg, dataset, start_iter=0)))
        cls.built.setdefault("loader_starts", []).append(start_iter)

        def repeat():
            while True:
                yield {k: (v.clone() if torch.is_tensor(v) else v) for k, v in first.items()}

        return repeat()


@pytest.mark.slow
def test_subclass_replaces_optimizer_and_train_loader(data_root, tmp_path):
    cfg = tiny_cfg(data_root, tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 2, "TEST.EVAL_PERIOD": 2})
    default_setup(cfg)
    cfg.freeze()
    trainer = SGDWithFixedBatches(cfg)
    assert trainer.optimizer is SGDWithFixedBatches.built["optimizer"]
    before = {k: v.clone() for k, v in trainer.plain_model.state_dict().items()}
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    assert SGDWithFixedBatches.built["loader_starts"] == [0]
    # plain SGD without momentum keeps no state; the LR scheduler still drives its LR
    assert not trainer.optimizer.state_dict()["state"]
    changed = [k for k, v in trainer.plain_model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("backbone.") for k in changed)
    assert results and results is trainer.last_eval_results


@pytest.mark.slow
def test_last_eval_results_and_evaluation_history(data_root, tmp_path):
    cfg = tiny_cfg(data_root, tmp_path)
    default_setup(cfg)
    cfg.freeze()
    trainer = DefaultTrainer(cfg)
    assert trainer.last_eval_results is None
    trainer.resume_or_load(resume=False)
    results = trainer.train()
    assert results == trainer.last_eval_results
    with open(tmp_path / "evaluations.json") as f:
        history = json.load(f)
    assert [e["iteration"] for e in history] == [2, 4]
    group = next(iter(results))
    assert history[-1]["results"][group]["mAP"] == pytest.approx(results[group]["mAP"])


@pytest.mark.slow
def test_checkpoint_is_written_before_the_evaluation_of_its_iteration(data_root, tmp_path):
    cfg = tiny_cfg(data_root, tmp_path)
    default_setup(cfg)
    cfg.freeze()
    trainer = DefaultTrainer(cfg)
    names = [type(h).__name__ for h in trainer.trainer.hooks]
    assert names.index("PeriodicWriter") < names.index("PeriodicCheckpointer") < names.index("EvalHook")

    seen = []
    original = trainer.test

    def test_and_record(cfg_, model, dataset=None):
        seen.append(sorted(f for f in os.listdir(tmp_path) if f.startswith("model_")))
        return original(cfg_, model, dataset)

    trainer.test = test_and_record
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert "model_0000002.pth" in seen[0]
    assert "model_final.pth" in seen[1]


@pytest.mark.slow
def test_resume_reruns_an_evaluation_lost_in_a_crash(data_root, tmp_path):
    """The run dies in the evaluation after iteration 2 (its checkpoint is on disk); --resume
    evaluates that checkpoint first, then trains on, and ends as an uninterrupted run."""
    full = tmp_path / "full"
    cfg = tiny_cfg(data_root, full)
    default_setup(cfg)
    cfg.freeze()
    reference = DefaultTrainer(cfg)
    reference.resume_or_load(resume=False)
    reference.train()

    crashed = tmp_path / "crashed"
    evaluated_iters = []

    class Crashing(DefaultTrainer):
        def build_hooks(self):
            hook_list = super().build_hooks()
            eval_hook = next(h for h in hook_list if isinstance(h, hooks.EvalHook))
            inner = eval_hook._func

            def func():
                evaluated_iters.append(self.trainer.iter)  # the step just done, counted from 0
                if self.trainer.iter == 1 and len(evaluated_iters) == 1:
                    raise RuntimeError("killed during evaluation")
                return inner()

            eval_hook._func = func
            return hook_list

    cfg = tiny_cfg(data_root, crashed)
    default_setup(cfg)
    cfg.freeze()
    first = Crashing(cfg)
    first.resume_or_load(resume=False)
    with pytest.raises(RuntimeError, match="killed during evaluation"):
        first.train()
    assert (crashed / "model_0000002.pth").exists() and not (crashed / "evaluations.json").exists()

    resumed = Crashing(cfg)
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 2
    results = resumed.train()
    assert evaluated_iters == [1, 1, 3]
    with open(crashed / "evaluations.json") as f:
        history = json.load(f)
    with open(full / "evaluations.json") as f:
        reference_history = json.load(f)
    assert [e["iteration"] for e in history] == [2, 4]
    assert json.dumps(history, sort_keys=True) == json.dumps(reference_history, sort_keys=True)
    assert results == reference.last_eval_results
    # the lost evaluation is in metrics.json once, at its iteration
    with open(crashed / "metrics.json") as f:
        rows = [json.loads(line) for line in f]
    assert [r["iteration"] for r in rows if any(k.startswith("eval/") for k in r)] == [2, 4]

    # resuming a finished run trains nothing and evaluates nothing again
    again = Crashing(cfg)
    again.resume_or_load(resume=True)
    assert again.train() == results
    assert evaluated_iters == [1, 1, 3]


@pytest.mark.slow
def test_precise_bn_reestimates_statistics_before_each_evaluation(data_root, tmp_path):
    cfg = tiny_cfg(data_root, tmp_path, **{"TEST.PRECISE_BN.ENABLED": True, "TEST.PRECISE_BN.NUM_ITER": 3})
    default_setup(cfg)
    cfg.freeze()
    trainer = DefaultTrainer(cfg)
    names = [type(h).__name__ for h in trainer.trainer.hooks]
    assert names.index("PreciseBN") < names.index("PeriodicCheckpointer")
    precise = next(h for h in trainer.trainer.hooks if isinstance(h, hooks.PreciseBN))
    calls = []
    original = precise.update_stats
    precise.update_stats = lambda: (calls.append(trainer.trainer.iter), original())[1]
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert calls == [1, 3]
    bn = trainer.plain_model.bn_neck
    # fvcore's update_bn_stats leaves the true average over its batches, not a momentum average:
    # re-running it on the same batches from the final weights gives the same statistics
    saved = bn.running_mean.clone()
    trainer.trainer.iter = 3
    original()
    torch.testing.assert_close(bn.running_mean, saved)
    checkpoint = load_checkpoint_file(tmp_path / "model_final.pth")
    torch.testing.assert_close(checkpoint["model"]["bn_neck.running_mean"], saved)
