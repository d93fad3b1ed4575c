"""What a training script needs: argument parser, config set-up, and the DefaultTrainer
that wires data, model, optimizer, schedule, checkpoints, evaluation and writers."""
import argparse
import functools
import json
import logging
import os
import sys
import time
import warnings
from collections import OrderedDict

import torch

with warnings.catch_warnings():
    # fvcore.nn's package init scripts a loss with the deprecated torch.jit.script; only the
    # parameter table is used here, so keep that FutureWarning out of every run's output
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import parameter_count_table

from ..checkpoint import ReidCheckpointer, atomic_write_bytes, load_checkpoint_file
from ..checkpoint.checkpointer import fsync_directory, remove_stale_temporaries
from ..config import setup_cfg  # noqa: F401  (re-exported for scripts)
from ..data import build_dataset, build_test_loader, build_train_loader, epoch_lengths
from ..evaluation import build_evaluator, flatten_results, inference_on_dataset
from .. import modeling  # noqa: F401  (registers the built-in components)
from ..modeling.meta_arch.build import build_model
from ..solver import EpochSchedule, build_lr_scheduler, build_optimizer
from ..utils import comm
from ..utils.env import collect_env_info, configure_determinism, resolve_device, seed_all_rng
from ..utils.errors import CheckpointError, ConfigError
from ..utils.events import default_writers
from ..utils.logger import setup_logger
from . import hooks, run_folder
from .train_loop import SimpleTrainer, amp_settings

logger = logging.getLogger(__name__)

# What --eval-only writes beside eval_results.json: the config it evaluated with.
EVAL_CONFIG_NAME = "eval_config.yaml"


def num_classes_in_checkpoint(path: str) -> int:
    """The number of identities a checkpoint was trained on: the rows of its identity classifier."""
    state = load_checkpoint_file(path)
    weights = state.get("model", state).get("classifier.weight") if isinstance(state, dict) else None
    if weights is None:
        raise CheckpointError(f"{path} has no 'classifier.weight' to count the training identities from; "
                              "set MODEL.NUM_CLASSES to the number the model was trained with")
    return int(weights.shape[0])


class _FlagsAnywhereParser(argparse.ArgumentParser):
    """Flags may come before, between or after the KEY VALUE overrides (`CFG KEY VALUE --resume`):
    every token that is not one of the parser's flags or a flag's value is an override, in order,
    so that override values such as -1e-4 pass through untouched."""

    def parse_known_args(self, args=None, namespace=None):
        tokens = sys.argv[1:] if args is None else list(args)
        flags, overrides = [], []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            action = self._option_string_actions.get(token.split("=", 1)[0])
            i += 1
            if action is None:
                if token.startswith("--"):
                    self.error(f"unknown flag {token}; flags are {', '.join(sorted(self._option_string_actions))}, "
                               "and everything else is read as KEY VALUE config overrides")
                overrides.append(token)
                continue
            flags.append(token)
            if "=" not in token and action.nargs != 0 and i < len(tokens):
                flags.append(tokens[i])
                i += 1
        return super().parse_known_args(flags + (["--", *overrides] if overrides else []), namespace)


def default_argument_parser(description="partreid training") -> argparse.ArgumentParser:
    parser = _FlagsAnywhereParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  tools/train_net.py --config-file configs/synthvi_baseline.yaml\n"
        "  tools/train_net.py --config-file CFG --resume              # continue where the run stopped\n"
        "  tools/train_net.py --eval-only MODEL.WEIGHTS output/model_final.pth   # with output/config.yaml\n"
        "  tools/train_net.py --config-file CFG SOLVER.BASE_LR 1e-4 OUTPUT_DIR output/lr1e-4\n"
        "  tools/train_net.py --config-file CFG --num-gpus 8 --num-machines 2 --machine-rank 0 \\\n"
        "      --dist-url tcp://10.0.0.1:29500        # and --machine-rank 1 on the second machine",
    )
    parser.add_argument("--config-file", default="", metavar="FILE",
                        help="YAML config; with --eval-only it defaults to the config.yaml of the run folder that "
                             "holds MODEL.WEIGHTS")
    parser.add_argument("--resume", action="store_true", help="resume from OUTPUT_DIR/last_checkpoint if it exists")
    parser.add_argument("--eval-only", action="store_true", help="evaluate MODEL.WEIGHTS and exit")
    parser.add_argument("--print-recipe", action="store_true",
                        help="print the recipe card (epochs, iterations, LR steps, losses, augmentation, sampler, "
                             "evaluation, each with its source) and exit without training")
    parser.add_argument("--overwrite", action="store_true",
                        help="start from scratch in an OUTPUT_DIR that holds an earlier run's checkpoints, deleting "
                             "them (without it, such a run is refused)")
    parser.add_argument("--num-gpus", type=int, default=1,
                        help="processes to launch on this machine (one per GPU; gloo processes on the CPU when "
                             "there is no GPU)")
    parser.add_argument("--num-machines", type=int, default=1, help="machines in the job (each runs this command)")
    parser.add_argument("--machine-rank", type=int, default=0, help="this machine's rank, 0 .. num-machines - 1")
    parser.add_argument("--dist-url", default="auto",
                        help="where the processes meet: tcp://HOST:PORT of machine 0 (the same on every machine); "
                             "'auto' picks a free local port (one machine only)")
    parser.add_argument("opts", default=[], nargs="*",
                        help="config overrides as KEY VALUE pairs, e.g. SOLVER.BASE_LR 1e-4 (flags may come "
                             "before or after them)")
    return parser


def default_setup(cfg, args=None, write_config: bool = True):
    """Output dir, logger, environment and config in the log, config.yaml, seeding.

    OUTPUT_DIR is locked for the life of the process (`run_folder`) and cleared of the
    temporary files a killed process left. With `args` (the command line): a run from scratch
    (no --resume, no --eval-only) is refused in a folder holding another run's checkpoints
    unless --overwrite; config.yaml, the config the weights are trained with, is written when
    training starts from scratch and checked on a resume (`record_training_config`);
    --eval-only and `write_config=False` (evaluation, extraction, export) leave it alone."""
    rank = comm.get_rank()
    out = cfg.OUTPUT_DIR
    resume, eval_only = getattr(args, "resume", False), getattr(args, "eval_only", False)
    if resume and getattr(args, "overwrite", False):
        raise ConfigError("--resume continues the run in OUTPUT_DIR and --overwrite deletes it: choose one")
    notes = []
    if comm.is_main_process():
        os.makedirs(out, exist_ok=True)
        notes += run_folder.lock_run_folder(out)
        stale = remove_stale_temporaries(out)
        if stale:
            notes.append(f"Removed the temporary files of writes a killed process left: {', '.join(stale)}")
        if args is not None and not resume and not eval_only:
            notes += run_folder.prepare_fresh_run(out, getattr(args, "overwrite", False))
    comm.synchronize()
    setup_logger(out, distributed_rank=rank)
    for note in notes:
        logger.warning(note)
    logger.info(f"Rank of current process: {rank}. World size: {comm.get_world_size()}")
    # before collect_env_info, which starts CUDA: cuBLAS's workspace must be set before that
    logger.info(configure_determinism(cfg.DETERMINISTIC, cfg.CUDNN_BENCHMARK, resolve_device(cfg).type))
    logger.info("Environment info:\n" + collect_env_info())
    if args is not None:
        logger.info(f"Command line arguments: {args}")
        if getattr(args, "config_file", ""):
            logger.info(f"Config file {args.config_file}")
    if comm.is_main_process() and write_config and not eval_only:
        record_training_config(cfg, resume=resume)
    seed = seed_all_rng(cfg.SEED)
    if cfg.SEED < 0:
        cfg.defrost()
        cfg.SEED = seed
        cfg.freeze()
    logger.info(f"Using seed {seed}" + (" (drawn at random; set SEED to reproduce)" if cfg.SEED != seed else ""))
    return cfg


def record_training_config(cfg, resume: bool) -> None:
    """OUTPUT_DIR/config.yaml is the config the weights are trained with. A run from scratch
    writes it. A resume from a checkpoint keeps it: overrides that change the training
    (`run_folder.changes_training`) are refused, listing them, since the weights would no longer
    match any one config; those that do not (where the data is, evaluation settings) are used,
    logged as a warning and saved with this session's whole config beside it, as
    config.resume-<time>.yaml."""
    out = cfg.OUTPUT_DIR
    path = os.path.join(out, "config.yaml")
    if not (resume and os.path.isfile(os.path.join(out, "last_checkpoint")) and os.path.isfile(path)):
        atomic_write_bytes(path, lambda f: f.write(cfg.dump().encode()))
        logger.info(f"Full config saved to {path}")
        return
    with open(path) as f:
        changes = run_folder.config_changes(f.read(), cfg)
    if not changes:
        return
    listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())
    training = [k for k in changes if run_folder.changes_training(k)]
    if training:
        raise run_folder.RunFolderError(
            f"--resume: {', '.join(training)} would change the training of the run in {out}, trained with {path} "
            f"(differences: {listed}). Resume with the run's own config (--config-file {path}), or start a new "
            "OUTPUT_DIR (MODEL.WEIGHTS can start it from a checkpoint of this run).")
    side = os.path.join(out, f"config.resume-{time.strftime('%Y%m%d-%H%M%S')}.yaml")
    atomic_write_bytes(side, lambda f: f.write(cfg.dump().encode()))
    logger.warning(f"--resume with settings that differ from {path} (kept: it is the training config) in keys that "
                   f"do not change the training: {listed}. This session's config is saved to {side}")


class DefaultTrainer:
    """Builds everything from the config and trains with the default hooks.

    Every part comes from an overridable classmethod, as in detectron2: a fork subclasses the
    trainer and replaces `build_model`, `build_optimizer`, `build_lr_scheduler`,
    `build_train_loader`, `build_test_loader`, `build_evaluator`, `build_writers`,
    `build_hooks` or `test`, and keeps the rest. `last_eval_results` holds the latest
    evaluation.

    The run's length is fixed here once: the epochs' lengths come from
    `partreid.data.epoch_lengths` and every epoch-valued key goes through an
    EpochSchedule; the log states iterations/epoch, total iterations and images seen.
    """

    def __init__(self, cfg):
        self.train_dataset = self.build_train_dataset(cfg)
        if cfg.MODEL.NUM_CLASSES == 0:
            cfg.defrost()
            cfg.MODEL.NUM_CLASSES = self.train_dataset.num_train_pids
            cfg.freeze()
            logger.info(f"MODEL.NUM_CLASSES set to {cfg.MODEL.NUM_CLASSES} from {cfg.DATASETS.TRAIN}")
        self.cfg = cfg
        seed_all_rng(cfg.SEED)  # identical initial weights for the same seed, whatever was built before
        model = self.build_model(cfg)
        self.device = resolve_device(cfg)
        logger.info("Model:\n" + parameter_count_table(model, max_depth=2))
        self.optimizer = self.build_optimizer(cfg, model)

        self.schedule = EpochSchedule.from_epoch_lengths(epoch_lengths(cfg, self.train_dataset), cfg.SOLVER.MAX_EPOCHS)
        batch = cfg.DATALOADER.NUM_IDENTITIES * cfg.DATALOADER.NUM_INSTANCES
        logger.info(
            f"Schedule: {self.schedule.describe(batch)} "
            f"({'pinned by DATALOADER.ITERS_PER_EPOCH' if cfg.DATALOADER.ITERS_PER_EPOCH > 0 else 'derived from the dataset'}; "
            f"{len(self.train_dataset.train)} training images, {self.train_dataset.num_train_pids} identities)"
        )

        self.plain_model = model
        self.model = self._compile(self._wrap_ddp(model))
        self.scheduler = self.build_lr_scheduler(cfg, self.optimizer, self.schedule)
        amp_dtype, needs_scaler = amp_settings(cfg, self.device)
        if amp_dtype is not None:
            logger.info(f"Mixed precision: {amp_dtype}" + (" with a gradient scaler" if needs_scaler else ""))
        self.trainer = SimpleTrainer(
            self.model,
            self._train_loader_factory(),
            self.optimizer,
            seed=cfg.SEED,
            rank=comm.get_rank(),
            amp_dtype=amp_dtype,
            grad_scaler=torch.amp.GradScaler("cuda") if needs_scaler else None,
            clip_grad_norm=cfg.SOLVER.CLIP_GRAD_NORM,
            epoch_of=self.schedule.epoch_of,
            check_period=cfg.SOLVER.LOG_PERIOD,
        )
        self.checkpointer = ReidCheckpointer(
            model, cfg.OUTPUT_DIR, save_to_disk=comm.is_main_process(), optimizer=self.optimizer, trainer=self.trainer
        )
        self.start_iter = 0
        self.max_iter = self.schedule.max_iter
        self.trainer.register_hooks(self.build_hooks())

    def _train_loader_factory(self):
        """start_iter -> training loader, for the trainer and precise BN. It holds the config
        and the dataset, not this trainer: a reference back to it from the SimpleTrainer it owns
        would make a cycle that only a garbage collection frees."""
        return functools.partial(self.build_train_loader, self.cfg, self.train_dataset)

    @classmethod
    def build_train_dataset(cls, cfg):
        """The dataset named by DATASETS.TRAIN (its training split feeds the loader)."""
        return build_dataset(cfg, cfg.DATASETS.TRAIN)

    @classmethod
    def build_model(cls, cfg):
        """The model of MODEL.META_ARCHITECTURE on MODEL.DEVICE."""
        return build_model(cfg)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer, schedule: EpochSchedule):
        """A torch LR scheduler stepped once per iteration (its state is checkpointed)."""
        return build_lr_scheduler(cfg, optimizer, schedule)

    @classmethod
    def build_train_loader(cls, cfg, dataset, start_iter: int = 0):
        """An iterable of training batches (dicts; see partreid.modeling.meta_arch.contract)
        whose n-th batch is the batch of iteration start_iter + n: a resumed run needs it."""
        return build_train_loader(cfg, dataset, start_iter=start_iter)

    @classmethod
    def build_test_loader(cls, cfg, dataset):
        return build_test_loader(cfg, dataset)

    @classmethod
    def build_evaluator(cls, cfg, dataset):
        return build_evaluator(cfg, dataset)

    def build_writers(self):
        """Console, OUTPUT_DIR/metrics.json and (when installed) TensorBoard, on the main process."""
        if not comm.is_main_process():
            return []
        return default_writers(self.cfg.OUTPUT_DIR, self.max_iter, self.schedule.iters_per_epoch)

    def _wrap_ddp(self, model):
        """DDP over the process group (after SyncBN conversion when MODEL.BACKBONE.NORM is
        "SyncBN" on CUDA); the model itself in a single process. The conversion happens in
        place, so `self.plain_model` (what checkpoints save) stays the converted module."""
        world_size = comm.get_world_size()
        if self.cfg.MODEL.BACKBONE.NORM == "SyncBN":
            if world_size > 1 and self.device.type == "cuda":
                torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place: keeps the optimizer's parameters
                logger.info(f"SyncBN: batch statistics are synchronised over {world_size} processes")
            elif world_size > 1:
                logger.warning("MODEL.BACKBONE.NORM=SyncBN needs CUDA (NCCL); on the CPU (gloo) every process "
                               "keeps plain BatchNorm with its own batch statistics")
        if world_size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [torch.cuda.current_device()] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False,
                                       find_unused_parameters=True)

    def _compile(self, model):
        """torch.compile of the training forward when SOLVER.COMPILE (CUDA only). Evaluation
        and checkpoints use the uncompiled `self.plain_model`, whose parameters are shared."""
        if not self.cfg.SOLVER.COMPILE:
            return model
        if self.device.type != "cuda":
            logger.warning(f"SOLVER.COMPILE=True is ignored on {self.device.type}: torch.compile is used on CUDA only")
            return model
        logger.info("SOLVER.COMPILE: compiling the training forward with torch.compile "
                    "(the first iterations include compilation time)")
        return torch.compile(model)

    def build_hooks(self):
        """The default hooks, in the order they run after each step: LR, (precise BN,) writers,
        periodic checkpoint, evaluation, best checkpoint. The checkpoint comes before the
        evaluation of its iteration, so a crash in an evaluation loses no training; the
        writers come before the checkpoint (and write at every checkpoint), so a run killed right
        after a checkpoint has logged that iteration, which a resume does not repeat. An
        evaluation saves model_best.pth and writes its metrics row before it is recorded in
        evaluations.json (EvalHook): a run killed before that evaluates again on resume."""
        cfg = self.cfg
        eval_period = self.schedule.period(cfg.TEST.EVAL_PERIOD)
        checkpoint_period = self.schedule.period(cfg.SOLVER.CHECKPOINT_PERIOD) or self.max_iter
        writer = hooks.PeriodicWriter(
            self.build_writers(), cfg.SOLVER.LOG_PERIOD,
            also_at=lambda done: done % checkpoint_period == 0 or hooks.is_evaluation_step(done, eval_period,
                                                                                           self.max_iter))
        # an evaluation's metrics row is written before the evaluation is recorded as done
        eval_hook = hooks.EvalHook(eval_period, lambda: self.test(cfg, self.plain_model, self._test_dataset()),
                                   flatten_results, history_path=os.path.join(cfg.OUTPUT_DIR, "evaluations.json"),
                                   before_record=[writer.write])
        best_hook = hooks.BestCheckpointer(eval_hook, self.checkpointer, cfg.TEST.BEST_METRIC)
        precise_bn = None
        if cfg.TEST.PRECISE_BN.ENABLED:
            precise_bn = hooks.PreciseBN(
                eval_period, self.plain_model, _bn_forward(self.plain_model),
                self._train_loader_factory(),
                cfg.TEST.PRECISE_BN.NUM_ITER,
            )
        images_per_iter = cfg.DATALOADER.NUM_IDENTITIES * cfg.DATALOADER.NUM_INSTANCES
        return [
            hooks.IterationTimer(),
            hooks.LRScheduler(self.optimizer, self.scheduler),
            precise_bn,
            writer,
            hooks.PeriodicCheckpointer(self.checkpointer, checkpoint_period, self.max_iter, cfg.SOLVER.MAX_TO_KEEP),
            eval_hook,
            best_hook,
            hooks.RunSummary(eval_hook, best_hook, images_per_iter, cfg.OUTPUT_DIR, flatten=flatten_results,
                             expected=cfg.TEST.EXPECTED.RESULTS, measured_on=cfg.TEST.EXPECTED.MEASURED_ON,
                             tolerance_std=cfg.TEST.EXPECTED.TOLERANCE_STD),
        ]

    @property
    def last_eval_results(self):
        """The results of the latest evaluation ({group: {metric: value}}), None before any;
        after a resume, the latest one recorded in OUTPUT_DIR/evaluations.json."""
        for hook in self.trainer.hooks:
            if isinstance(hook, hooks.EvalHook):
                return hook.last_results
        return None

    def _test_dataset(self):
        if self.cfg.DATASETS.TEST == self.cfg.DATASETS.TRAIN:
            return self.train_dataset
        if getattr(self, "_cached_test_dataset", None) is None:
            self._cached_test_dataset = build_dataset(self.cfg, self.cfg.DATASETS.TEST)
        return self._cached_test_dataset

    def resume_or_load(self, resume: bool = True):
        """With resume and a checkpoint in OUTPUT_DIR: restore everything and continue after
        its iteration. Otherwise load MODEL.WEIGHTS (model only) if given."""
        if resume and self.checkpointer.has_checkpoint():
            self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=True)
            self.start_iter = self.trainer.iter + 1  # iterations done
            logger.info(f"Resuming after iteration {self.start_iter} of {self.max_iter} "
                        f"(epoch {self.schedule.epoch_of(self.start_iter)})")
            self._set_aside_metrics_after(self.start_iter)
        else:
            if resume:
                logger.info(f"--resume: no checkpoint in {self.cfg.OUTPUT_DIR}; starting from scratch")
            # fine-tuning from other weights: the only load that may leave tensors out, as the config says
            self.checkpointer.may_skip = list(self.cfg.MODEL.WEIGHTS_MAY_SKIP)
            try:
                self.checkpointer.load(self.cfg.MODEL.WEIGHTS, checkpointables=[])
            finally:
                self.checkpointer.may_skip = []
            self.start_iter = 0
            self._set_aside_previous_metrics()

    def _set_aside_previous_metrics(self):
        """A fresh run in a used OUTPUT_DIR must not append to the old run's metrics.json or
        evaluations.json (curves, best-metric and resume readers would mix two runs): rename
        the old files, keep them."""
        for name in ("metrics.json", "evaluations.json"):
            path = os.path.join(self.cfg.OUTPUT_DIR, name)
            if comm.is_main_process() and os.path.exists(path):
                kept = _unused_name(f"{path}.{time.strftime('%Y%m%d-%H%M%S', time.localtime(os.path.getmtime(path)))}")
                os.replace(path, kept)
                fsync_directory(self.cfg.OUTPUT_DIR)
                logger.warning(f"{path} belonged to an earlier run in this OUTPUT_DIR (not resumed); kept as {kept}")

    def _set_aside_metrics_after(self, done: int):
        """A resumed run repeats the iterations after its checkpoint (iteration `done`), and an
        evaluation not recorded in evaluations.json. Their rows, written before the stop, move
        from metrics.json to metrics.json.repeated-<time> (kept, never dropped), so that
        metrics.json holds every row once. The side file is written before metrics.json is
        replaced: a crash in between duplicates rows but loses none."""
        path = os.path.join(self.cfg.OUTPUT_DIR, "metrics.json")
        if not comm.is_main_process() or not os.path.exists(path):
            return
        history_path = os.path.join(self.cfg.OUTPUT_DIR, "evaluations.json")
        evaluated = set()
        if os.path.exists(history_path):
            with open(history_path) as f:
                evaluated = {e["iteration"] for e in json.load(f)}
        kept, repeated = [], []
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    iteration = row["iteration"]
                except (ValueError, KeyError, TypeError):
                    row, iteration = {}, None  # a line cut short by the stop: it belongs to the repeated part
                unrecorded_evaluation = iteration not in evaluated and any(k.startswith("eval/") for k in row)
                keep = iteration is not None and iteration <= done and not unrecorded_evaluation
                (kept if keep else repeated).append(line if line.endswith("\n") else line + "\n")
        if not repeated:
            return
        side = _unused_name(f"{path}.repeated-{time.strftime('%Y%m%d-%H%M%S')}")
        atomic_write_bytes(side, lambda f: f.write("".join(repeated).encode()))
        atomic_write_bytes(path, lambda f: f.write("".join(kept).encode()))
        logger.info(f"metrics.json: {len(repeated)} rows after iteration {done} or of an evaluation not recorded, "
                    f"written before the stop, moved to {side}; this run writes them again")

    def train(self):
        """Train to the end; returns the last evaluation results. A run that had already
        finished trains nothing (not an error) but still completes what the process died
        before finishing: its final evaluation, model_best.pth, model_final.pth."""
        if self.start_iter >= self.max_iter:
            logger.info(f"Training already finished ({self.max_iter} iterations); nothing to train.")
        self.trainer.train(self.start_iter, self.max_iter)
        return self.last_eval_results or OrderedDict()

    @classmethod
    def evaluate_weights(cls, cfg):
        """--eval-only: test the checkpoint MODEL.WEIGHTS and write the results to
        OUTPUT_DIR/eval_results.json, and the config they were measured with to
        OUTPUT_DIR/eval_config.yaml (a run folder's config.yaml stays the training record). The
        number of classes comes from the checkpoint's identity classifier, so the training set
        need not be on this machine. Every tensor of the checkpoint must fit the model."""
        if not cfg.MODEL.WEIGHTS:
            raise ConfigError("--eval-only needs MODEL.WEIGHTS (a checkpoint .pth) on the command line or in the "
                              "config.")
        if cfg.MODEL.NUM_CLASSES == 0:
            cfg.defrost()
            cfg.MODEL.NUM_CLASSES = num_classes_in_checkpoint(cfg.MODEL.WEIGHTS)
        cfg.freeze()
        model = cls.build_model(cfg)
        ReidCheckpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
        results = cls.test(cfg, model)
        if comm.is_main_process():
            config_path = os.path.join(cfg.OUTPUT_DIR, EVAL_CONFIG_NAME)
            atomic_write_bytes(config_path, lambda f: f.write(cfg.dump().encode()))
            path = os.path.join(cfg.OUTPUT_DIR, "eval_results.json")
            payload = {"weights": cfg.MODEL.WEIGHTS, "config": EVAL_CONFIG_NAME, "results": results}
            atomic_write_bytes(path, lambda f: f.write(json.dumps(payload, indent=1).encode()))
            logger.info(f"Evaluation results written to {path}, its config to {config_path}")
        return results

    @classmethod
    def test(cls, cfg, model, dataset=None):
        """Evaluate `model` on DATASETS.TEST (or `dataset`) with `build_evaluator`'s evaluator (the
        protocol's, with part discovery beside it where the dataset knows its body parts)."""
        dataset = dataset or build_dataset(cfg, cfg.DATASETS.TEST)
        loader = cls.build_test_loader(cfg, dataset)
        evaluator = cls.build_evaluator(cfg, dataset)
        return inference_on_dataset(model, loader, evaluator)


def _unused_name(path: str) -> str:
    """`path`, or `path`-2, -3, ... when it exists (two stops within a second keep both files)."""
    candidate, n = path, 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}-{n}"
    return candidate


def _bn_forward(model):
    """The forward PreciseBN re-estimates statistics with: the meta-architecture's `embed(images)`
    (no losses, no mixing, no EMA updates)."""
    if not callable(getattr(model, "embed", None)):
        raise TypeError(f"TEST.PRECISE_BN.ENABLED needs a meta-architecture with an embed(images) method; "
                        f"{type(model).__name__} has none. Override DefaultTrainer.build_hooks to use it.")
    return lambda batch: model.embed(batch["images"])
