"""p2s task plugins, installed as the ``p2s_plugins`` package.

Each plugin is a sub-package that registers its classes when imported; a config names
it in ``custom_imports`` so that ``Config.fromfile`` imports it before anything is built.
"""
