#!/usr/bin/env python3
"""Times short commands in turn: round after round, each command once per round.

On a shared or virtual machine the speed drifts over seconds; timing one command's runs and
then the next's puts that drift into the ratio. Taking the commands in turn spreads it over
all of them. Each run is a process of its own (posix_spawn, no shell), output to /dev/null.

Usage: interleave.py ROUNDS WARMUP JSON_OUT COMMAND...   (each COMMAND one shell-quoted string)
Writes {"results": [{"command", "median", "p10", "p90"}, ...]} (seconds) to JSON_OUT.
"""
import json
import os
import shlex
import statistics
import sys
import time


def main() -> None:
    rounds, warmup, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    commands = sys.argv[4:]
    argvs = [shlex.split(c) for c in commands]
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    times = [[] for _ in argvs]
    for i in range(warmup + rounds):
        for argv, runs in zip(argvs, times):
            start = time.perf_counter()
            pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
            _, status = os.waitpid(pid, 0)
            elapsed = time.perf_counter() - start
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"{shlex.join(argv)} failed")
            if i >= warmup:
                runs.append(elapsed)
    results = []
    for command, runs in zip(commands, times):
        runs.sort()
        results.append({
            "command": command,
            "median": statistics.median(runs),
            "p10": runs[len(runs) // 10],
            "p90": runs[len(runs) * 9 // 10],
        })
    with open(out, "w") as f:
        json.dump({"results": results}, f, indent=1)


if __name__ == "__main__":
    main()
