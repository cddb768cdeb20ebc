"""Build the Lambda deployment zip from pyproject.toml, without containers.

    python deploy/package.py [--output build/sso-sync.zip] [--artifacts-dir DIR]

Wheels for the Lambda platform (arm64, CPython 3.13) are installed into a staging folder,
with the rules (`mappings/rules.yaml` and the policy files it names), so the template's
default `RulesLocation` works from the function's working directory;
what the function never loads is left out: the discovery documents of every Google API but
the two it uses (the package ships about 110 MB of them), boto3 and botocore (the runtime
provides them), byte-code caches and console scripts. Tests and the emulators are not in the
package's dependencies, so they are not in the zip. Prints the zip's size and contents.
"""

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

LAMBDA_PLATFORM = "manylinux2014_aarch64"  # template.yaml: arm64, python3.13
LAMBDA_PYTHON = "3.13"
RULES = ("mappings/rules.yaml", "mappings/policies")
KEPT_DISCOVERY_DOCUMENTS = {"admin.directory_v1.json", "admin.reports_v1.json"}
PROVIDED_BY_THE_RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath")
# Terminal output for the CLI: the handler never imports it.
CLI_ONLY = ("rich", "pygments", "markdown_it", "mdurl", "markdown_it_py")
# The emulators and the demo: the import contracts keep the handler from ever reaching them.
LEFT_OUT = ("bin", "sync/local")
TARGET_BYTES = 15 * 1024 * 1024


def build(
    project: Path,
    output: Path,
    platform: str = LAMBDA_PLATFORM,
    python_version: str = LAMBDA_PYTHON,
) -> Path:
    """The zip at `output`, its files staged in a `package` folder beside it."""
    staging = output.parent / "package"
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(staging),
            "--platform",
            platform,
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            str(project),
        ],
        check=True,
    )
    _prune(staging)
    for name in RULES:
        source = project / name
        if source.is_dir():
            shutil.copytree(source, staging / name)
        else:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, staging / name)
    output.unlink(missing_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(staging))
    return output


def _prune(staging: Path) -> None:
    documents = staging / "googleapiclient" / "discovery_cache" / "documents"
    for document in documents.glob("*.json"):
        if document.name not in KEPT_DISCOVERY_DOCUMENTS:
            document.unlink()
    for name in (*PROVIDED_BY_THE_RUNTIME, *CLI_ONLY, *LEFT_OUT):
        shutil.rmtree(staging / name, ignore_errors=True)
        for info in staging.glob(f"{name.replace('-', '_')}-*.dist-info"):
            shutil.rmtree(info)
    for cache in staging.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("build/sso-sync.zip"))
    parser.add_argument(
        "--platform", default=LAMBDA_PLATFORM, help="wheel platform tag (tests use the host's)"
    )
    parser.add_argument(
        "--python-version", default=LAMBDA_PYTHON, help="CPython version (tests use the host's)"
    )
    parser.add_argument(
        "--artifacts-dir",
        type=Path,
        help="also copy the package's files here (sam build's ARTIFACTS_DIR)",
    )
    arguments = parser.parse_args()
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    project = Path(__file__).resolve().parent.parent
    zip_path = build(
        project, arguments.output.resolve(), arguments.platform, arguments.python_version
    )
    if arguments.artifacts_dir:
        shutil.copytree(zip_path.parent / "package", arguments.artifacts_dir, dirs_exist_ok=True)
    size = zip_path.stat().st_size
    with zipfile.ZipFile(zip_path) as archive:
        files = len(archive.namelist())
        unpacked = sum(info.file_size for info in archive.infolist())
    verdict = "within" if size <= TARGET_BYTES else "OVER"
    print(
        f"{zip_path}: {size / 1e6:.1f} MB zipped, {unpacked / 1e6:.1f} MB unpacked, "
        f"{files} files; {verdict} the {TARGET_BYTES / 1e6:.1f} MB target"
    )
    return 0 if size <= TARGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
