"""What pip's pytest11 entry point ``refgraph`` registers: not the plugin
itself but this module, which asks pytest for refgraph.pytest_plugin by
its module name.  pytest loads a plugin once per name, so the entry point,
``-p refgraph``, ``-p refgraph.pytest_plugin``, ``PYTEST_PLUGINS`` and a
conftest's ``pytest_plugins`` can be given in any mix and the plugin runs
once; registering the plugin module itself under the entry point's name
too made pytest stop with "Plugin already registered".  ``-p no:refgraph``
blocks this module, and refgraph.pytest_plugin turns itself off when it
sees that block."""
pytest_plugins = ["refgraph.pytest_plugin"]
