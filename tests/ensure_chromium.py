"""Make sure Debian's chromium is installed for the HTML test (no browser download: see TOOLCHAIN notes).
`CHROMIUM=/path/to/chrome` names another Chromium-based browser instead (GitHub's runners have one)."""

import os
import shutil
import subprocess
import sys


def main() -> None:
    if shutil.which(os.environ.get("CHROMIUM", "chromium")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit("The HTML test needs Debian's chromium: run `sudo apt-get install chromium` and retry.")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
