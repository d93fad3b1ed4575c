from setuptools import find_packages, setup

setup(
    name="partreid",
    version="0.1.0",
    description="A modular research codebase for visible-infrared person re-identification (PartMix and baselines)",
    python_requires=">=3.9",
    packages=find_packages(include=["partreid", "partreid.*"]) + ["partmix"],
    package_dir={"partmix": "projects/PartMix/partmix"},
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "fvcore",
        "iopath",
        "yacs>=0.1.8",
        "numpy",
        "opencv-python-headless",
        "termcolor",
        "tabulate",
        "tqdm",
        "scipy",
        "matplotlib",
    ],
    extras_require={"dev": ["pytest", "onnx", "onnxruntime"]},
)
