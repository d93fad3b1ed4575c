"""partreid: a modular research codebase for (visible-infrared) person re-identification."""

__version__ = "0.1.0"
