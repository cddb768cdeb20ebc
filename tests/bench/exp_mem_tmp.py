import sys, tempfile
from pathlib import Path
from tests.bench.sync_bench import bench_stack, run_child
scale = float(sys.argv[1])
for users in map(int, sys.argv[2:]):
    with tempfile.TemporaryDirectory() as d:
        with bench_stack(users, scale, Path(d)) as (aws, google, env, _):
            for name in ("first", "no-change"):
                s, peak = run_child(env)
                print(users, name, f"{peak/1024:.0f} MB", s["seconds"], flush=True)
