"""tabbook: one Markdown chapter, four deep-learning frameworks, one book.

The build glue (``source``, ``convert``, ``envs``, ``execute``, ``check``) runs in the
tooling environment; ``data`` and ``record`` are also imported by the notebooks inside each
framework's own environment, so they depend on numpy and IPython only.
"""
