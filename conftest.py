"""pytest glue: nbval runs each notebook under tabs/ in its framework's kernel.

The notebooks name Jupyter's generic kernelspec (``python3``) so that a reader's Jupyter opens
them without a kernel dialog; the framework's kernel, ``tabbook-<framework>``, is recorded under
``metadata.tabbook.kernel``. nbval starts the kernel the notebook names unless
``--nbval-kernel-name`` (or ``--nbval-current-env``) is given, so for each notebook that names
its framework's kernel, this sets that option while nbval starts the kernel.
"""
from __future__ import annotations

import nbval.plugin

_nbval_setup = nbval.plugin.IPyNbFile.setup


def _setup_in_framework_kernel(self):
    options = self.parent.config.option
    kernel = self.nb.metadata.get("tabbook", {}).get("kernel")
    if not kernel or options.nbval_kernel_name or options.nbval_current_env:
        return _nbval_setup(self)
    options.nbval_kernel_name = kernel
    try:
        return _nbval_setup(self)
    finally:
        options.nbval_kernel_name = None


nbval.plugin.IPyNbFile.setup = _setup_in_framework_kernel
