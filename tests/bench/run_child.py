"""Runs `sso-sync` in this process and reports its peak memory on stderr."""

import resource
import sys

from sync.cli import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_KB {peak_kb}", file=sys.stderr)
    sys.exit(code)
