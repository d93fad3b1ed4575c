"""Registered datasets (one file each); importing the package registers them."""
from .base import INFRARED, VISIBLE, ReidDataset, ReidItem
from .layout import DatasetLayoutError
from .llcm import LLCM
from .regdb import RegDB
from .sysu_mm01 import SYSUMM01
from .synthvi import SynthVI, SynthVIVal

__all__ = ["INFRARED", "VISIBLE", "ReidDataset", "ReidItem", "DatasetLayoutError", "LLCM", "RegDB", "SYSUMM01", "SynthVI", "SynthVIVal"]
