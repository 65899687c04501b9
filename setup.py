"""wt_keras: Keras heads, losses and metrics for video watch-time prediction,
plus a TFX pipeline and TF Serving export around them."""
import setuptools

INSTALL_REQUIRES = [
    "tensorflow>=2.16,<2.17",
    "tf-keras>=2.16,<2.17",
    "tensorflow-recommenders>=0.7.7,<0.8",
    "numpy>=1.22,<2",
    "scipy>=1.10",
    "pandas>=1.5",
]

EXTRAS_REQUIRE = {
    # The TFX stack (TFX 1.16 supports Python 3.9-3.10 only).
    "pipeline": [
        "tfx[kfp]==1.16.0",
        "apache-beam[gcp]==2.61.0",
        "tensorflow-serving-api>=2.16,<2.17",
        "matplotlib>=3.5",
    ],
    # pytest-xdist: `make test` runs the suite on two worker processes.
    "test": ["pytest>=7", "pytest-xdist>=3.5"],
}

setuptools.setup(
    name="wt_keras",
    version="0.1.0",
    description="Keras/TFRS components, a TFX pipeline and TF Serving export "
                "for video watch-time prediction (SWaT, EXUM, D2Q, CREAD).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0 (code); CC BY-SA 4.0 (bundled KuaiRand data)",
    python_requires=">=3.9,<3.11",
    packages=setuptools.find_packages(include=["wt_keras", "wt_keras.*",
                                               "pipelines", "pipelines.*"]),
    package_data={"wt_keras.data": ["assets/*"],
                  "pipelines.watch_time": ["schema/*.pbtxt"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        "console_scripts": [
            "wt-train=wt_keras.cli.train:main",
            "wt-data=wt_keras.data.cli:main",
            "wt-serve=wt_keras.export.check:main",
            "wt-pipeline=pipelines.watch_time.cli:main",
        ],
    },
)
