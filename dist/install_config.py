"""Copies the installed example config to the config path unless a config is
already there (dist/meson.build). Run by `meson install`, which sets DESTDIR
when it installs into a staging directory."""
import os
import shutil
import sys


def staged(path):
    destdir = os.environ.get("DESTDIR", "")
    return os.path.join(destdir, path.lstrip("/")) if destdir else path


def main():
    example, config = (staged(path) for path in sys.argv[1:3])
    if os.path.exists(config):
        print(f"Keeping {config} (the new example is {example})")
        return
    shutil.copy2(example, config)
    print(f"Installing {config} from {example}")


if __name__ == "__main__":
    main()
