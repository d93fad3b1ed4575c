"""SynthVIVal: SynthVI's validation split (train on exp/train_id.txt, test on exp/val_id.txt), so
that settings can be chosen without the test identities."""
import os

from partreid.data.datasets import SynthVI, SynthVIVal
from partreid.data.datasets.layout import read_id_line

PARAMS = {"num_train_ids": 20, "num_test_ids": 4, "images_per_camera": 1, "image_size": [32, 16], "seed": 0}


def _folder_pid(item):
    return int(os.path.basename(os.path.dirname(item.path)))


def test_validation_split_holds_out_the_val_identities(tmp_path):
    root = str(tmp_path / "SynthVI")
    full, val = SynthVI(root=root, params=PARAMS), SynthVIVal(root=root, params=PARAMS)
    val_ids = set(read_id_line(os.path.join(root, "exp", "val_id.txt"), ""))
    train_ids = set(read_id_line(os.path.join(root, "exp", "train_id.txt"), ""))
    assert len(val_ids) == 2 and not val_ids & train_ids

    assert {_folder_pid(item) for item in val.test} == val_ids
    assert {_folder_pid(item) for item in val.train} == train_ids
    assert val.num_train_pids == full.num_train_pids - len(val_ids) == len(train_ids)
    assert not val_ids & {_folder_pid(item) for item in full.test}  # never the test identities
