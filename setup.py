"""Package discovery for the folder mapping declared in setup.cfg.

``components/`` and ``pipelines/`` install as ``kfp_mlops.components`` and
``kfp_mlops.pipelines``; setuptools' ``find:`` cannot see through that mapping, so the
package list is computed here from the folders themselves.
"""

from setuptools import find_packages, setup

ROOTS = {"kfp_mlops.components": "components", "kfp_mlops.pipelines": "pipelines"}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(package_dir=ROOTS, packages=packages)
