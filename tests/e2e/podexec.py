"""Runs one container of the e2e node, already inside its own mount namespace
(``unshare --mount --propagation private``): bind-mounts the pod's volumes and its
termination-message file at their paths, and execs the container's command with exactly the environment the node computed (nothing inherited).

    python podexec.py SPEC.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def bind(source_fd: int, is_dir: bool, target: str, read_only: bool) -> None:
    path = Path(target)
    if is_dir:
        if not path.is_dir():
            path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch()
    source = f"/proc/{os.getpid()}/fd/{source_fd}"
    # --no-canonicalize: mount would otherwise resolve /proc/PID/fd/N to its path name, which
    # may now name something else (a directory just made inside a volume)
    subprocess.run(["mount", "--no-canonicalize", "--bind", source, target], check=True,
                   pass_fds=(source_fd,))
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    # Every source is opened before anything is mounted: a volume mounted at /tmp would
    # otherwise hide the sources of the node's own files under /tmp.
    opened = [(os.open(m["source"], os.O_PATH), Path(m["source"]).is_dir(), m)
              for m in spec["mounts"]]
    # The "image" is this machine's files: where a volume covers them (a checkout under
    # /tmp, say), they are bound back on top, as an image's files would still be there.
    # (a path inside another comes back with it: the venv inside a checkout)
    paths = spec["imagePaths"]
    image = [(os.open(p, os.O_PATH), p) for p in paths
             if not any(Path(q) in Path(p).parents for q in paths)]
    for fd, is_dir, mount in opened:
        bind(fd, is_dir, mount["target"], mount["readOnly"])
        os.close(fd)
    targets = [Path(m["target"]) for m in spec["mounts"]]
    for fd, path in image:
        if any(t in Path(path).parents for t in targets):
            bind(fd, True, path, True)
        os.close(fd)
    os.chdir(spec["workingDir"])
    argv = spec["argv"]
    env = spec["env"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:  # as a runtime reports a missing executable
        print(f'exec: "{argv[0]}": {exc.strerror}', file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1])
