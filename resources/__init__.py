"""Bundled read-only resources (models/, icons/, samples/), installed as ``mangacolor_app.resources``.

Found at run time through :func:`mangacolor_app.core.paths.resources_dir`; this file only makes the
folder a package for setuptools and ``importlib.resources``.
"""
