"""Every configuration key of partreid, with its default and what it means.

YAML files only override these keys (`_BASE_` inheritance); a key that is not
declared here is rejected with its name. Projects add their own keys through an
`add_<project>_config(cfg)` function before the YAML is merged.

Units: every schedule length (training length, LR steps, warm-up, evaluation and
checkpoint periods, mixer start) is given in *epochs*; the trainer converts them to
iterations in one place (`partreid.solver.schedule.EpochSchedule`) and logs the result.
"""
from .config import CfgNode as CN

_C = CN()

# Config format version; bumped when a key is renamed or its meaning changes, and
# old files are upgraded in `partreid.config.config.upgrade_config`.
_C.VERSION = 4

# Python modules imported before the rest of the config is merged, so that a method
# project can register its components and add its keys (e.g. ["my_project"]). A module may
# define `add_config(cfg)`; the core never imports a project by itself.
_C.PROJECTS = []

# Global seed for python, numpy, torch and the samplers. A negative value draws a
# seed from the OS and logs it, so that the run can still be reproduced.
_C.SEED = 0
# Where logs, config.yaml, metrics.json and checkpoints go.
_C.OUTPUT_DIR = "./output"
# Ask cuDNN to autotune convolutions (faster on fixed input sizes; not bit-reproducible).
_C.CUDNN_BENCHMARK = True
# Bitwise-repeatable runs: torch.use_deterministic_algorithms, cuDNN without autotuning and, on
# CUDA, cuBLAS's fixed workspace (CUBLAS_WORKSPACE_CONFIG). The log says whether a run is
# deterministic. On the CPU the built-in models repeat exactly without it at a fixed thread count;
# it costs little there (BENCHMARKS.md) and is on in the SynthVI configs. On CUDA it is slower.
_C.DETERMINISTIC = False

# -----------------------------------------------------------------------------
# Model
# -----------------------------------------------------------------------------
_C.MODEL = CN()
# Registered META_ARCH name.
_C.MODEL.META_ARCHITECTURE = "PartBaseline"
# "auto" (CUDA when available, else CPU), "cpu" or "cuda".
_C.MODEL.DEVICE = "auto"
# A checkpoint (.pth) whose "model" weights are loaded before training or evaluation. It is read
# with torch.load(weights_only=True): a file that would run code to load is refused. Every tensor
# must fit the model (none missing, unexpected or of another shape), or loading is an error.
_C.MODEL.WEIGHTS = ""
# Training from MODEL.WEIGHTS only (fine-tuning; not --resume, --eval-only or the tools): regular
# expressions of tensor names (matched at the start of the name) that may be missing from the
# checkpoint, unexpected in it or of another shape; each one skipped is logged. E.g.
# ["classifier\\.", "part_classifiers\\."] starts from a model trained on other identities.
_C.MODEL.WEIGHTS_MAY_SKIP = []
# Per-channel pixel statistics in 0..255 scale (ImageNet); the loader yields uint8
# images and the model normalises on its device, which keeps host->device copies small.
_C.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
_C.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]
# Number of training identities; 0 takes it from the training dataset.
_C.MODEL.NUM_CLASSES = 0
# Train with channels_last memory format (faster convolutions on tensor cores).
_C.MODEL.CHANNELS_LAST = True

_C.MODEL.BACKBONE = CN()
# Registered BACKBONE name.
_C.MODEL.BACKBONE.NAME = "ResNet"
# ResNet depth: 18, 34, 50 or 101.
_C.MODEL.BACKBONE.DEPTH = 50
# Stride of the last stage; 1 keeps a 24x8 map at 384x128 input (standard in ReID).
_C.MODEL.BACKBONE.LAST_STRIDE = 1
# ResNet stages used: 4 (the whole network) or 3 (stop after layer3: half the channels and, with
# LAST_STRIDE 1, maps of stride 8, e.g. 16x8 at 128x64, for less computation than 4 stages).
_C.MODEL.BACKBONE.NUM_STAGES = 4
# ImageNet weights of the backbone: a torchvision-format state dict (.pth), or
# "torchvision://<arch>[/<weights>]" resolved in the torch hub cache
# (torch.hub.get_dir()/checkpoints), e.g. "torchvision://resnet50" = IMAGENET1K_V1, the weights
# the VI-ReID papers started from. Empty = random init (see ALLOW_RANDOM_INIT). Not loaded when
# MODEL.WEIGHTS is set: those weights replace the backbone's.
_C.MODEL.BACKBONE.PRETRAIN_PATH = ""
# Whether an empty PRETRAIN_PATH may start from random weights (with a warning). The paper
# configs (configs/Base-VIReID.yaml) set False: a run meant to reproduce a paper must not train
# from scratch by accident.
_C.MODEL.BACKBONE.ALLOW_RANDOM_INIT = True
# Fetch a "torchvision://" PRETRAIN_PATH that is not in the torch hub cache (once, with a
# progress bar). False: a missing file is an error that says how to get it.
_C.MODEL.BACKBONE.ALLOW_DOWNLOAD = False
# ResNet stages (1..4; MPANet uses 3 and 4) followed by MPANet's modality-alleviation module
# (a learned channel gate between x and InstanceNorm(x)). Empty = none.
_C.MODEL.BACKBONE.MODALITY_ALLEVIATION = []
# "BN" or "SyncBN" (multi-GPU).
_C.MODEL.BACKBONE.NORM = "BN"
# How the padded convolutions (and the stem's max pooling) extend the image past its border:
# "zeros" (torchvision, MPANet), "reflect", "replicate" or "circular". Zero padding lets the
# features encode absolute position; "circular" makes the backbone equivariant to cyclic shifts
# by multiples of its stride, so a part map cannot sit at a fixed place in every image.
_C.MODEL.BACKBONE.PADDING_MODE = "zeros"

_C.MODEL.PART_HEAD = CN()
# Registered PART_HEAD name: "PartDetector" (learned part maps) or "Stripes" (PCB).
_C.MODEL.PART_HEAD.NAME = "PartDetector"
# Number of parts M.
_C.MODEL.PART_HEAD.NUM_PARTS = 6

_C.MODEL.CLASSIFIER = CN()
# Momentum of the EMA "mean" modality classifiers used by the modality learning loss:
# mean <- MOMENTUM * mean + (1 - MOMENTUM) * classifier, every training step (MPANet's
# update_rate 0.2 on SYSU-MM01 and RegDB).
_C.MODEL.CLASSIFIER.MEAN_MOMENTUM = 0.8
# > 0: the EMA's rate (1 - MEAN_MOMENTUM) shrinks late in training, scaled by
# min(1, MEAN_RATE_DECAY / (epoch + 2)) at 0-based epoch `epoch`. MPANet uses 100
# (engine/__init__.py: min(100 / (epoch + 1), 1) with its 1-based epoch): a constant rate up to epoch
# 98, then 0.2 x 100/101, ... down to 0.2 x 100/141 in the last of 140 epochs. 0: a constant rate.
_C.MODEL.CLASSIFIER.MEAN_RATE_DECAY = 0.0

# Losses: one node per loss (the loss class's CONFIG_NODE), each with its ENABLED switch, its WEIGHT
# and its settings. The model sums the enabled losses' terms in the order the nodes are declared:
# these, then each project's, in the order of PROJECTS. MODEL.LOSSES.TRIPLET.ENABLED True adds one.
_C.MODEL.LOSSES = CN()
# Losses (registered class names of enabled losses) that see the part maps as constants: their
# gradient still trains the backbone, the classifiers and the BN-neck, but does not move the maps
# (neither the part head's detector nor the features the maps are computed from). Their outputs have the same values; only
# where the gradient flows changes. Needs a part head with a pool(maps, features) method
# (PartDetector). Empty (MPANet): every loss moves the maps. Losses that pull the maps off the
# person onto the background belong here.
_C.MODEL.LOSSES.DETACH_MAPS = []
_C.MODEL.LOSSES.ID = CN()
_C.MODEL.LOSSES.ID.ENABLED = True
_C.MODEL.LOSSES.ID.WEIGHT = 1.0
# Label smoothing epsilon of the identity cross-entropy (0 = plain CE).
_C.MODEL.LOSSES.ID.LABEL_SMOOTHING = 0.0
# "mean": CE averaged over the batch (MPANet's code); "per_modality": supplementary eq. 4,
# the visible mean plus the infrared mean (twice "mean" on a modality-balanced batch).
_C.MODEL.LOSSES.ID.REDUCTION = "mean"
_C.MODEL.LOSSES.SID = CN()
_C.MODEL.LOSSES.SID.ENABLED = True
_C.MODEL.LOSSES.SID.WEIGHT = 0.5
# MPANet's code adds the modality-specific CE twice (effective weight 2x WEIGHT);
# False follows the supplementary's formula.
_C.MODEL.LOSSES.SID.COUNT_TWICE = False
_C.MODEL.LOSSES.ML = CN()
_C.MODEL.LOSSES.ML.ENABLED = True
_C.MODEL.LOSSES.ML.WEIGHT = 2.5
_C.MODEL.LOSSES.CC = CN()
_C.MODEL.LOSSES.CC.ENABLED = True
_C.MODEL.LOSSES.CC.WEIGHT = 1.0
# Least margin rho between identity centres.
_C.MODEL.LOSSES.CC.MARGIN = 0.7
_C.MODEL.LOSSES.SEP = CN()
_C.MODEL.LOSSES.SEP.ENABLED = True
_C.MODEL.LOSSES.SEP.WEIGHT = 0.5
# False: the raw inner product of two maps (MPANet), which also falls when the maps fade out;
# True: their cosine similarity, which only asks them to lie apart.
_C.MODEL.LOSSES.SEP.NORMALIZE = False
_C.MODEL.LOSSES.TRIPLET = CN()
_C.MODEL.LOSSES.TRIPLET.ENABLED = False
_C.MODEL.LOSSES.TRIPLET.WEIGHT = 1.0
_C.MODEL.LOSSES.TRIPLET.MARGIN = 0.3

# Regularisers that mix samples during training (MixUp, CutMix, part-level mixing, ...).
_C.MODEL.MIXER = CN()
# Registered MIXER name; "NoMix" trains the plain baseline.
_C.MODEL.MIXER.NAME = "NoMix"
# Epoch from which the mixer is active (before it: the baseline warm-up).
_C.MODEL.MIXER.START_EPOCH = 0
# Probability of mixing a given batch.
_C.MODEL.MIXER.PROB = 1.0
# Beta(ALPHA, ALPHA) for the mixing ratio of MixUp / Manifold MixUp / CutMix.
_C.MODEL.MIXER.ALPHA = 1.0
# ResNet stages (0 = input stem output .. 4) among which Manifold MixUp draws its layer.
_C.MODEL.MIXER.MANIFOLD_STAGES = [1, 2, 3]

# -----------------------------------------------------------------------------
# Input pipeline
# -----------------------------------------------------------------------------
_C.INPUT = CN()
# (height, width) of training and test images.
_C.INPUT.SIZE_TRAIN = [384, 128]
_C.INPUT.SIZE_TEST = [384, 128]
# Padding (pixels per side) before the random crop back to SIZE_TRAIN, and the value (0..255, every
# channel) it is filled with: 0 (black), or 127 as MPANet's T.Pad(10, fill=127) (data/__init__.py:37).
_C.INPUT.PADDING = 10
_C.INPUT.PADDING_FILL = 0
# How images are resized to SIZE_TRAIN / SIZE_TEST, bilinear either way: "opencv" (cv2.INTER_LINEAR:
# fast, no antialiasing when shrinking) or "pil" (PIL's bilinear filter, which widens its support
# when shrinking, as torchvision's Resize on PIL images in MPANet, data/__init__.py:28).
_C.INPUT.RESIZE_BACKEND = "opencv"
_C.INPUT.FLIP_PROB = 0.5
_C.INPUT.RANDOM_ERASING = CN()
_C.INPUT.RANDOM_ERASING.ENABLED = True
_C.INPUT.RANDOM_ERASING.PROB = 0.5
# Erased fraction of the image area (low, high) and the smallest aspect ratio of the
# rectangle (ratios are drawn log-uniformly in [MIN_ASPECT, MAX_ASPECT]); Zhong et al.'s values.
_C.INPUT.RANDOM_ERASING.AREA_RANGE = [0.02, 0.4]
_C.INPUT.RANDOM_ERASING.MIN_ASPECT = 0.3
# The largest aspect ratio; 0 = 1 / MIN_ASPECT. torchvision's RandomErasing() (MPANet) uses 3.3.
_C.INPUT.RANDOM_ERASING.MAX_ASPECT = 0.0
# Rectangles drawn before giving up (a rectangle must fit inside the image): 100 (Zhong et al.'s
# code, fast-reid) or 10 (torchvision's RandomErasing, MPANet).
_C.INPUT.RANDOM_ERASING.ATTEMPTS = 100
# What fills the rectangle: "noise" (uniform random values per pixel, Zhong et al.) or
# "pixel_mean" (MODEL.PIXEL_MEAN rounded to integers, i.e. about 0 after normalisation: torchvision's
# RandomErasing() default value=0 applied after Normalize, as MPANet does, data/__init__.py:41-42).
_C.INPUT.RANDOM_ERASING.FILL = "noise"
# Image decoder: "opencv" (faster) or "pil".
_C.INPUT.DECODER = "opencv"
# Keep the decoded, resized training images in host memory, read once (in NUM_WORKERS threads) and
# shared by the loader's workers: N x H x W x 3 bytes (SYSU-MM01 at 384x128: 5.0 GB).
_C.INPUT.CACHE_IMAGES = False

# -----------------------------------------------------------------------------
# Datasets
# -----------------------------------------------------------------------------
_C.DATASETS = CN()
# Registered DATASET names.
_C.DATASETS.TRAIN = "SynthVI"
_C.DATASETS.TEST = "SynthVI"
# Folder that holds one sub-folder per dataset (see datasets/README.md).
_C.DATASETS.ROOT = "datasets"
# RegDB split trial (1..10); each trial is a separate model in the protocol.
_C.DATASETS.REGDB_TRIAL = 1
_C.DATASETS.SYNTHVI = CN()
# Generate SynthVI under DATASETS.ROOT when it is missing.
_C.DATASETS.SYNTHVI.AUTO_GENERATE = True
# Identities (train+val / test) and images per identity per camera for generation.
_C.DATASETS.SYNTHVI.NUM_TRAIN_IDS = 64
_C.DATASETS.SYNTHVI.NUM_TEST_IDS = 32
_C.DATASETS.SYNTHVI.IMAGES_PER_CAMERA = 4
# Size (height, width) of the generated crops.
_C.DATASETS.SYNTHVI.IMAGE_SIZE = [128, 64]
# Generator seed (the data is a pure function of these keys).
_C.DATASETS.SYNTHVI.SEED = 0

# -----------------------------------------------------------------------------
# Data loader
# -----------------------------------------------------------------------------
_C.DATALOADER = CN()
# Registered SAMPLER name.
_C.DATALOADER.SAMPLER = "CrossModalitySampler"
# P identities x K instances per batch (K/2 visible + K/2 infrared for the
# cross-modality sampler); the batch size is P*K.
_C.DATALOADER.NUM_IDENTITIES = 16
_C.DATALOADER.NUM_INSTANCES = 8
# Iterations per epoch; 0 lets the sampler size it (CrossModalityPassSampler: see PASS_EPOCH), or
# else derives it from the dataset (number of training images of the smaller modality //
# (P*K/2)). Pin it to make a schedule independent of the data.
_C.DATALOADER.ITERS_PER_EPOCH = 0
# CrossModalityPassSampler (MPANet's sampler) with ITERS_PER_EPOCH 0: "pass" makes every epoch
# one pass of the sampler, each pass its own length, computed from SEED before training (MPANet
# under pytorch-ignite 0.2.1, its README's version); "length_estimate" makes every epoch MPANet's
# estimate of the pass length, the passes running on across epoch ends (MPANet under later ignite
# versions, which take len(loader) before the first pass: about half the training on SYSU-MM01,
# MPANet's issue #11).
_C.DATALOADER.PASS_EPOCH = "pass"
_C.DATALOADER.NUM_WORKERS = 4
_C.DATALOADER.PIN_MEMORY = True
# Keep the decoded, resized training images on the model's device and crop, flip and erase them
# there (partreid/data/device_cache.py): the same batches as the CPU loader, bit for bit, with no
# worker processes; the host only draws each sample's random choices. Needs N x H x W x 3 bytes of
# device memory (SYSU-MM01 at 384x128: 5.0 GB). NUM_WORKERS threads decode the images once.
_C.DATALOADER.DEVICE_CACHE = False

# -----------------------------------------------------------------------------
# Solver
# -----------------------------------------------------------------------------
_C.SOLVER = CN()
# Registered OPTIMIZER (partreid/solver/build.py): "Adam", "AdamW", "SGD" or a project's.
_C.SOLVER.OPTIMIZER = "Adam"
_C.SOLVER.BASE_LR = 3.5e-4
_C.SOLVER.WEIGHT_DECAY = 5e-4
# Weight decay of normalisation layers' weight and bias (BatchNorm, InstanceNorm, GroupNorm,
# LayerNorm, RMSNorm), and of every other bias. -1 = the same as WEIGHT_DECAY: a float marker
# rather than None (yacs keys keep the type of their default) or a copy of WEIGHT_DECAY's value
# (a config changing WEIGHT_DECAY would then leave these behind).
_C.SOLVER.WEIGHT_DECAY_NORM = -1.0
_C.SOLVER.WEIGHT_DECAY_BIAS = -1.0
# SGD only: momentum, and Nesterov momentum.
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
# LR of the backbone (parameters under model.backbone) relative to BASE_LR.
_C.SOLVER.BACKBONE_LR_FACTOR = 1.0
# LR of everything else (part head, BN-neck, classifiers, loss parameters) relative to BASE_LR.
_C.SOLVER.HEAD_LR_FACTOR = 1.0
# Extra LR factor of every bias (normalisation layers' included), times the factor above.
_C.SOLVER.BIAS_LR_FACTOR = 1.0
# Training length in epochs.
_C.SOLVER.MAX_EPOCHS = 120
# Registered LR_SCHEDULER (partreid/solver/build.py), stepped every iteration:
# "WarmupMultiStepLR" (warm-up, then x GAMMA at each of STEPS) or "WarmupCosineLR" (warm-up x a
# cosine decay from BASE_LR to BASE_LR x COSINE_END_FACTOR at the end of training).
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
# WarmupMultiStepLR: epochs at which the LR is multiplied by GAMMA.
_C.SOLVER.STEPS = [80, 120]
_C.SOLVER.GAMMA = 0.1
# WarmupCosineLR: the LR factor reached at the end of training, in [0, 1].
_C.SOLVER.COSINE_END_FACTOR = 0.0
# Linear LR warm-up (both schedules): length in epochs and the starting factor.
_C.SOLVER.WARMUP_EPOCHS = 0.0
_C.SOLVER.WARMUP_FACTOR = 0.01
# Clip the global gradient norm (0 = off).
_C.SOLVER.CLIP_GRAD_NORM = 0.0
# Checkpoint period in epochs, and how many periodic checkpoints to keep.
_C.SOLVER.CHECKPOINT_PERIOD = 10
_C.SOLVER.MAX_TO_KEEP = 3
# Console/metrics.json logging period in iterations. Loss values are read back from the device
# only then, and the loss is checked for NaN/inf then (and before every checkpoint): a step in
# between costs no host sync, and a non-finite loss stops training within one period.
_C.SOLVER.LOG_PERIOD = 20

_C.SOLVER.AMP = CN()
# Mixed precision on CUDA (ignored on the CPU).
_C.SOLVER.AMP.ENABLED = True
# "auto" (bf16 where supported, else fp16 with a grad scaler), "bf16" or "fp16".
_C.SOLVER.AMP.DTYPE = "auto"
# Compile the model with torch.compile (CUDA only; first iterations are slow).
_C.SOLVER.COMPILE = False

# -----------------------------------------------------------------------------
# Test
# -----------------------------------------------------------------------------
_C.TEST = CN()
# Evaluation period in epochs (0 = only after training).
_C.TEST.EVAL_PERIOD = 10
_C.TEST.IMS_PER_BATCH = 128
# Registered EVALUATOR name; empty = the test dataset's default evaluator.
_C.TEST.EVALUATOR = ""
# Metric that selects model_best.pth ("Rank-1", "mAP", "mINP").
_C.TEST.BEST_METRIC = "mAP"
# Results this config is known to reach, so that a run ending far from them says so in its
# summary: a list of [metric, mean, std] over seeds, each metric named as in metrics.json without
# its "eval/" prefix (e.g. "sysu_all_single/Rank-1"), and where they were measured (seeds, CPU or
# GPU, date). A final value more than TOLERANCE_STD standard deviations from its mean is flagged.
_C.TEST.EXPECTED = CN()
_C.TEST.EXPECTED.RESULTS = []
_C.TEST.EXPECTED.MEASURED_ON = ""
_C.TEST.EXPECTED.TOLERANCE_STD = 3.0
# Combine the features of the image and of its horizontal flip (see FLIP_FUSION).
_C.TEST.FLIP_FEATURES = False
# How FLIP_FEATURES combines the two views: "mean" averages them and ranks by cosine distance;
# "sum_normalized" is DEEN's test script (also LLCM's): the sum of the two L2-normalised
# features, not normalised again, ranked by dot product (the sum's length, i.e. how much the two
# views agree, then weighs in the score).
_C.TEST.FLIP_FUSION = "mean"
# Number of random gallery draws averaged by the SYSU-MM01 / LLCM protocols.
_C.TEST.NUM_TRIALS = 10
# Batch of queries ranked at once (bounds the memory of the distance matrix).
_C.TEST.RANK_BATCH = 1024
_C.TEST.SYSU = CN()
# Search modes to report: "all" and/or "indoor".
_C.TEST.SYSU.MODES = ["all", "indoor"]
# Gallery images per identity per camera: 1 (single-shot) and/or 10 (multi-shot). Both by
# default, as the papers' SYSU-MM01 tables report them (the first is the primary group).
_C.TEST.SYSU.SHOTS = [1, 10]
# Gallery draws. "official": the official draws of DATASETS.ROOT/<sysu>/exp/rand_perm_cam.mat,
# or the seeded draws (with a warning) when the file is absent. "seeded": always seed = trial
# index, which for single-shot reproduces AGW's and DEEN's galleries (random.seed(trial), then
# random.choice per identity and camera) even when the .mat file is present; multi-shot seeded
# draws are partreid's own (no public script draws them). Each result records its draw
# ("official", "agw_seeded" or "partreid_seeded") under the metric name "draw".
_C.TEST.SYSU.DRAWS = "official"
_C.TEST.REGDB = CN()
# Search directions to report, the first being the primary group (TEST.BEST_METRIC):
# "visible_to_thermal" and/or "thermal_to_visible".
_C.TEST.REGDB.DIRECTIONS = ["visible_to_thermal", "thermal_to_visible"]
_C.TEST.LLCM = CN()
# Search directions, primary first: "infrared_to_visible" and/or "visible_to_infrared".
_C.TEST.LLCM.DIRECTIONS = ["infrared_to_visible", "visible_to_infrared"]
# LLCM's released test script scores "VIS to IR" by ranking the drawn IR images against
# all visible images (transposed distances); True keeps that to compare with published
# numbers, False ranks all visible queries against the drawn IR gallery.
_C.TEST.LLCM.VIS_TO_IR_AS_RELEASED = True
_C.TEST.RERANK = CN()
# k-reciprocal re-ranking (Zhong et al. 2017) of the query-gallery distances.
_C.TEST.RERANK.ENABLED = False
_C.TEST.RERANK.K1 = 20
_C.TEST.RERANK.K2 = 6
_C.TEST.RERANK.LAMBDA = 0.3
# Precise BN (fvcore's update_bn_stats): before every evaluation, re-estimate the BatchNorm
# running statistics as true averages over NUM_ITER training batches. Off in MPANet's recipe.
_C.TEST.PRECISE_BN = CN()
_C.TEST.PRECISE_BN.ENABLED = False
_C.TEST.PRECISE_BN.NUM_ITER = 50
# Part discovery: where the test set has ground-truth part masks (SynthVI), every evaluation
# also scores the learned part maps against them (PartDiscoveryEvaluator, run beside the
# protocol's evaluator; the "part_discovery" group: alive maps, matched part and purity per map,
# coverage, overlap; see partreid/evaluation/part_discovery.py).
_C.TEST.PART_DISCOVERY = CN()
# False skips it, and the extra forward pass over the test images it costs.
_C.TEST.PART_DISCOVERY.ENABLED = True
# A map is alive on an image when its mean activation exceeds this: 0.01 is a map at full
# strength on 1% of the image, less than any SynthVI body part covers (feet, the smallest: 1.3%).
_C.TEST.PART_DISCOVERY.ALIVE_THRESHOLD = 0.01
# ... and alive overall when it is alive on at least this fraction of the test images.
_C.TEST.PART_DISCOVERY.ALIVE_MIN_FRACTION = 0.5
