"""sslhsic_tf: self-supervised learning by kernel dependence maximisation, on Keras 3."""

import pathlib

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).parent


class BuildWithZooManifest(build_py):
    """Copies the zoo's published manifest (exports/manifest.json) into the package, so that an
    installed sslhsic_tf lists the zoo and downloads its entries (sslhsic_tf/zoo/remote.py)."""

    def run(self):
        super().run()
        if not self.dry_run:
            target = pathlib.Path(self.build_lib, "sslhsic_tf", "zoo", "manifest.json")
            target.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(HERE / "exports" / "manifest.json"), str(target))

VERSION = {}
exec((HERE / "sslhsic_tf" / "version.py").read_text(), VERSION)

setup(
    cmdclass={"build_py": BuildWithZooManifest},
    name="sslhsic_tf",
    version=VERSION["__version__"],
    description=(
        "SSL-HSIC, CISSL, DISSL, SimCLR and BYOL for Keras 3 / TensorFlow: objectives, "
        "ResNet encoders, distributed training, evaluation, export and a model zoo."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # `configs/` (the presets) ships inside the package as `sslhsic_tf.configs`.
    packages=find_packages(include=["sslhsic_tf", "sslhsic_tf.*"]) + ["sslhsic_tf.configs"],
    package_dir={"sslhsic_tf.configs": "configs"},
    package_data={"sslhsic_tf.data": ["demo_data/*"]},
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.8",
        "tensorflow-datasets>=4.9",
        "importlib_resources>=5",  # tensorflow-datasets needs it to download, but does not list it
        "tensorflow-hub>=0.16",
        "tensorboard>=2.16",
        "requests>=2.25",  # zoo downloads (retries through urllib3)
        "absl-py>=1.0",
        "ml_collections>=0.1.1",
        "numpy>=1.26",
        "scipy>=1.10",
        "matplotlib>=3.7",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-timeout>=2", "pytest-xdist>=3", "tf_keras>=2.16", "jax[cpu]>=0.4.30",
                 "keras-hub>=0.32"],
        "keras_hub": ["keras-hub>=0.32"],  # KerasHub presets of ImageNet-stem encoders
        "jax": ["jax>=0.4.30"],
    },
    entry_points={
        "console_scripts": [
            "sslhsic-pretrain=sslhsic_tf.pretrain:run",
            "sslhsic-evaluate=sslhsic_tf.evaluate:run",
            "sslhsic-export=sslhsic_tf.export:run",
            "sslhsic-analyze=sslhsic_tf.analyze:run",
            "sslhsic-zoo=sslhsic_tf.zoo.cli:main",
        ]
    },
)
