"""Files a configuration names (policy files beside the rules, SCPs and templates beside the
org definition) are read only inside the configuration's own folder: a reviewed file can
reach nothing else on the machine or in the bucket, such as the Google key.

A name that leads outside is refused before anything is opened, with the same message
whether or not something exists there."""

import posixpath
from pathlib import Path, PurePosixPath


class OutsideTheFolder(OSError):
    """The name leads outside the folder (absolute, `..`, or a link out of it)."""


def path_inside(folder: Path, name: str) -> Path:
    """`name` resolved in `folder`, links followed; OutsideTheFolder when it leads out."""
    outside = OutsideTheFolder(
        f"not inside {folder}: name a file in that folder, by a relative path "
        "that stays in it (no absolute path, no '..' out of it, no link out of it)"
    )
    if not name or "\x00" in name or Path(name).is_absolute():
        raise outside
    root = folder.resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise outside
    return target


def read_inside(folder: Path, name: str) -> str:
    """The UTF-8 text of `name` inside `folder`; OSError when it cannot be read there."""
    try:
        return path_inside(folder, name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OSError(f"{name!r} is not UTF-8 text") from None


def key_inside(prefix: str, name: str) -> str:
    """The S3 key of `name` under `prefix` (the rules object's folder); OutsideTheFolder for
    an absolute key or one with `..` segments."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or ".." in parts or "\x00" in name:
        where = f"s3 prefix {prefix + '/' if prefix else '(the bucket root)'}"
        raise OutsideTheFolder(
            f"not under the {where}: name a key by a relative path below it "
            "(no leading '/', no '..')"
        )
    return posixpath.join(prefix, name) if prefix else name
