#!/usr/bin/env python3
"""The source folders form layers, and every include points down (or stays in its folder):

    core      shared vocabulary: transports, peers, endpoint text, name tables
    metrics   the counter table shared by every process, and its exposition
    config    INI + command line -> a validated Config snapshot
    handlers  sans-I/O handlers (handlers/logger: syslog parsing, records, the file writer)
    verify    the verify_request chain, limits kept per service name
    net       event loops, listeners, connections
    daemon    the process: main, server, signals and reload, fork mode, systemd glue

Prints the include graph between folders; exits 1 if a file includes from a folder above its
own, or a source folder is missing from the list. Run by ctest as `layers`.
"""

import collections
import os
import re
import sys

LAYERS = ["core", "metrics", "config", "handlers", "verify", "net", "daemon"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.M)


def main(root):
    rank = {folder: i for i, folder in enumerate(LAYERS)}
    graph = collections.defaultdict(set)
    problems = []
    source_folders = {entry for entry in os.listdir(root)
                      if os.path.isdir(os.path.join(root, entry)) and
                      any(name.endswith((".cpp", ".hpp")) for _, _, names in
                          os.walk(os.path.join(root, entry)) for name in names)}
    for folder in sorted(source_folders - set(LAYERS) - {"test", "bench", "fuzz", "man", "build"}
                         - {f for f in source_folders if f.startswith("build")}):
        problems.append("%s/ holds sources but is in no layer (test/structure/check_layers.py)"
                        % folder)
    for folder in LAYERS:
        for directory, _, names in os.walk(os.path.join(root, folder)):
            for name in sorted(names):
                if not name.endswith((".cpp", ".hpp")):
                    continue
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for target in INCLUDE.findall(text):
                    if target == folder:
                        continue
                    graph[folder].add(target)
                    if target not in rank:
                        problems.append("%s includes from %s/, which is no layer"
                                        % (os.path.relpath(path, root), target))
                    elif rank[target] > rank[folder]:
                        problems.append("%s includes from %s/, a layer above %s/"
                                        % (os.path.relpath(path, root), target, folder))
    for folder in LAYERS:
        print("%-9s -> %s" % (folder, ", ".join(sorted(graph[folder], key=rank.get)) or "-"))
    for problem in problems:
        print("error: " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
