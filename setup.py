from setuptools import find_packages, setup

setup(
    name="partreid",
    version="0.1.0",
    description="A modular research codebase for visible-infrared person re-identification (PartMix and baselines)",
    python_requires=">=3.9",
    packages=find_packages(include=["partreid", "partreid.*"]) + ["partmix"],
    package_dir={"partmix": "projects/PartMix/partmix"},
    # Ranges: each lower bound is the oldest release of that line the code is written for, each upper
    # bound the next major release, which is untested. The exact tested versions are in
    # constraints.txt, which `make install` and CI apply.
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "fvcore>=0.1.5,<0.2",
        "iopath>=0.1.9,<0.2",
        "yacs>=0.1.8,<0.2",
        "PyYAML>=5.1,<7",
        "numpy>=1.24,<3",
        "opencv-python-headless>=4.8,<6",
        "pillow>=9.0,<14",
        "termcolor>=2.0,<4",
        "tabulate>=0.9,<0.11",
        "tqdm>=4.60,<5",
        "scipy>=1.10,<2",
        "matplotlib>=3.7,<4",
    ],
    # tensorboard is optional: the writers add TensorBoard event files when it is installed.
    extras_require={
        "dev": ["pytest>=8.0,<10", "onnx>=1.15,<2", "onnxruntime>=1.17,<2"],
        "tensorboard": ["tensorboard>=2.10,<3"],
    },
)
