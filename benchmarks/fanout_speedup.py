"""Benchmark fan-out speedup: the Dask-backed Prefect flow vs a sequential loop, same combinations, same run.

Builds ``--candidates`` exported models (the 2D CNN with random weights of different seeds: speed does not
depend on weight values) and ``--datasets`` tiny synthetic DFEW sets in a temporary workspace, then times:

- **sequential**: ``affectgate.orchestration.fanout.evaluate_one`` over every (candidate, dataset, cpu) in one process;
- **dask fan-out**: ``flows/benchmark_candidates.py`` (Prefect flow, prefect-dask ``DaskTaskRunner`` on a local
  cluster of ``--workers`` single-threaded processes), *including* the cluster start-up and the workers'
  imports, i.e. what a user waits for;
- **dask fan-out, warm cluster**: the same flow on a local cluster that is already running and whose workers
  have imported everything (one untimed run first), as on a team's standing Dask cluster.

Both use onnxruntime with 1 intra-op thread per evaluation, so the ratio is the gain from running
evaluations side by side. One warm-up evaluation runs first (imports, MLflow schema) and is not counted.

    nice -n 10 .venv/bin/python benchmarks/fanout_speedup.py --candidates 2 --datasets 2 --workers 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCH = "mobilenet_v2_frame"


def main() -> None:
    """Prepare candidates and datasets, time sequential and Dask fan-out, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=2, help="exported candidates (random-weight seeds)")
    parser.add_argument("--datasets", type=int, default=2, help="tiny synthetic DFEW sets (different seeds)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--subjects", type=int, default=40, help="synthetic subjects per dataset (14 clips each)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ag-fanout-") as tmp_dir:
        tmp = Path(tmp_dir)
        os.environ.update(
            {
                "AFFECTGATE_PROJECT_ROOT": str(ROOT),
                "AFFECTGATE_WORKSPACE": str(tmp / ".affectgate"),
                "AFFECTGATE_DATA_ROOT": str(tmp / "data"),
                "AFFECTGATE_ORT_THREADS": "1",
                "AFFECTGATE_DASK_WORKERS": str(args.workers),
                "OMP_NUM_THREADS": "1",
                "PREFECT_HOME": str(tmp / ".affectgate" / "prefect"),
            }
        )
        from affectgate.datasets.synth import generate_dfew
        from affectgate.demo.tiny import tiny_synth_config
        from affectgate.orchestration import fanout
        from affectgate.orchestration.prefect import get_flow
        from affectgate.project.settings import get_settings
        from affectgate.zoo.build import example_inputs
        from affectgate.zoo.card import apply_config, zoo_card
        from affectgate.zoo.export import export_onnx
        from affectgate.zoo.train import build_model

        get_settings.cache_clear()
        settings = get_settings()
        datasets = []
        for i in range(args.datasets):
            root = settings.data_dir / f"synth_dfew_{i}"
            generate_dfew(root=root, config=tiny_synth_config(seed=i).model_copy(update={"n_subjects": args.subjects}))
            datasets.append(str(root))
        candidates = []
        card = apply_config(card=zoo_card(project_root=ROOT, arch=ARCH), config={"frames": 4, "size": 48})
        for seed in range(args.candidates):
            folder = settings.models_dir / f"{ARCH}_seed{seed}"
            parity, _ = example_inputs(card=card, n=2, seed=seed)
            export_onnx(model=build_model(card=card, seed=seed).eval(), card=card, folder=folder, parity_clips=parity)
            candidates.append(str(folder))
        combos = fanout.combinations(candidates=candidates, datasets=datasets, targets=["cpu"])

        warm = fanout.evaluate_one(model=candidates[0], data=datasets[0], target="warmup")
        assert warm.status == "ok", warm.error

        t0 = time.perf_counter()
        seq = [fanout.evaluate_one(model=m, data=d, target=t) for m, d, t in combos]
        t_seq = time.perf_counter() - t0

        flow = get_flow(settings=settings, module="benchmark_candidates", flow="benchmark_candidates")
        t0 = time.perf_counter()
        par = flow(candidates=candidates, datasets=datasets, targets=["cpu"])
        t_par = time.perf_counter() - t0

        # steady state: a cluster that is already up, its workers warmed by one run (what a team's cluster is)
        from distributed import LocalCluster
        from prefect_dask import DaskTaskRunner

        with LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            warm_flow = flow.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
            warm_flow(candidates=candidates, datasets=datasets, targets=["cpu"])
            t0 = time.perf_counter()
            par_warm = warm_flow(candidates=candidates, datasets=datasets, targets=["cpu"])
            t_warm = time.perf_counter() - t0

        bad = [r for r in [*seq, *par, *par_warm] if r.status != "ok"]
        assert not bad, bad[0].error
        same = [(r.candidate, r.dataset, r.war) for r in seq] == [(r.candidate, r.dataset, r.war) for r in par]
        hosts = sorted({r.host for r in par})
        print(f"combinations: {len(combos)} ({args.candidates} candidates x {args.datasets} datasets x cpu)")
        print(f"cpu cores: {os.cpu_count()}, dask workers: {args.workers}, onnxruntime threads per evaluation: 1")
        print(f"sequential:   {t_seq:7.1f} s  ({t_seq / len(combos):.1f} s per evaluation)")
        print(f"dask fan-out: {t_par:7.1f} s  (incl. cluster start-up and worker imports)")
        print(f"speedup (sequential / dask): {t_seq / t_par:.2f}x")
        print(f"dask fan-out, cluster already up and warm: {t_warm:7.1f} s  -> speedup {t_seq / t_warm:.2f}x")
        print(f"same metrics in both runs: {same}; hosts that produced the rows: {', '.join(hosts)}")


if __name__ == "__main__":
    main()
