"""Leak shape: a class-level registry.  Plugin keeps every instance in a list
on the class "so they can be found later"; a class lives as long as its
module, and so does every Plugin ever made.

    PYTHONPATH=. python3 samples/leak_registry.py [OUTDIR]    (default out/registry)
"""
import sys

from leakreport import report_survivor


class Plugin:
    instances = []      # the leak: a class attribute, never pruned

    def __init__(self, name):
        self.name = name
        self.state = {"loaded": True, "buffer": bytearray(2048)}
        Plugin.instances.append(self)


def reload_plugins(generation):
    return [Plugin("plugin-%d-%d" % (generation, i)) for i in range(2)]


def main(outdir):
    for generation in range(50):
        reload_plugins(generation)      # the previous generation should be gone
    report_survivor("Plugin", lambda p: p.name == "plugin-21-0", outdir,
                    "%d Plugin objects alive after 50 reloads of 2 plugins",
                    "Who keeps Plugin('plugin-21-0') alive?")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/registry")
