"""configs/ lives at the top level of the repository but ships inside the wheel as `boundrun.configs`."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["boundrun", "boundrun.*"]) + ["boundrun.configs"],
    package_dir={"boundrun.configs": "configs"},
)
