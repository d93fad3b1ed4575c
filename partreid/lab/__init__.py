"""Paired multi-seed comparisons of training configs ("arms"), outside the engine.

Every arm trains once per seed (`python -m partreid.engine.train_net --resume`, in a child
process) in its own folder OUTPUT_DIR/<arm>/seed<k>. SEED fixes the initial weights, the batches
and their augmentations; mixers draw from their own generator. Two arms at the same seed
therefore differ only in what the arm changes, and an arm's effect is estimated from its
per-seed differences to a reference arm, with a t-interval over the seeds.

- `runs`: one (arm, seed) run: its record, training, resuming, reading its metrics back.
- `warmup`: which arms may start from the reference's warm-up, decided from what they do.
- `statistics`: per-arm means, paired differences and t-intervals, the pairing check.
- `report`: compare.md, compare.json and runs.csv.
- `comparison`: `run_comparison`, the whole loop (tools/compare_mixers.py).
"""
from .comparison import run_comparison
from .runs import arm_name, ensure_run, is_finished, run_state, summarise_run
from .statistics import paired_differences, pairing_check, summarise, t_interval
from .warmup import warmup_mismatch

__all__ = ["run_comparison", "arm_name", "ensure_run", "is_finished", "run_state", "summarise_run",
           "paired_differences", "pairing_check", "summarise", "t_interval", "warmup_mismatch"]
