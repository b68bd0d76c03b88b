"""Orchestration (``pipeline``, ``stages``, ``write``, ``tasks``, ``engine``) -- and, called,
the public entry point: ``churnlens.run(model, data, config, ...)`` is
:func:`churnlens.api.run` (see docs/api.md).

The package and the function share the name ``churnlens.run`` (the import system binds the
subpackage to that attribute), so the package itself is callable and forwards to the API.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from churnlens.api import run

        return run(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        from churnlens.api import run

        return inspect.signature(run)


sys.modules[__name__].__class__ = _CallablePackage
