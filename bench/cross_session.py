"""Benchmark: cross-session cell registration against the truth of simulated multi-session sets.

Each set (`simulate_sessions`) holds ``--sessions`` sessions of one field of view, shifted up to 30 px, rotated up
to 3 degrees and rescaled up to 4 %, with a smooth deformation of up to 1.5 px; 20 % of the active cells change
from one session to the next and the last session's footprints are 1.4 times larger. Seeds from ``--first-seed``
on are held out: the defaults were chosen on seeds 0-4.

Rows: ours (`register_sessions`, similarity and then piecewise-rigid), minian's rule (mutual nearest centroids
within 5 px, chained) on its own translation-only alignment and on ours, CaImAn's rule (Hungarian on
1 - Jaccard of the binarised footprints, 10 px, cost < 0.7, sequential union) and CellReg's probabilistic model
(distance and correlation mixtures, clustering at P(same) >= 0.5) on our alignment. Printed: pairwise
precision and recall over all sets (`score_registration`) and wall time per set.

    python bench/cross_session.py [--sets 5] [--sessions 5] [--first-seed 100] [--image correlation|mean]
                                  [--figure docs/img/cross_session.png]

``--figure`` also draws the first three sessions of the first set, registered by us (`plot_registration`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from element_calcium import plotting
from element_calcium.compute import registration
from element_calcium.simulate import score_registration, simulate_sessions


def _in_reference(matrices, sessions):
    """Each session's footprint centroids mapped into the reference frame by ``matrices`` (reference -> session)."""
    shape = sessions.frame_shape
    return [registration.apply(registration.invert(m), registration.centroids(s.footprints, shape))
            for m, s in zip(matrices, sessions.sessions)]


def run_set(sessions, image: str) -> dict[str, tuple[list[np.ndarray], float]]:
    """Predicted global ids and wall time (s) of every method on one set."""
    images = [getattr(s, f"{image}_image") for s in sessions.sessions]
    footprints = [s.footprints for s in sessions.sessions]
    results = {}
    registered = {}
    for name, params in (("ours (similarity)", registration.RegistrationParams()),
                         ("ours (similarity + piecewise)", registration.RegistrationParams(piecewise=True))):
        start = time.perf_counter()
        registered[name] = registration.register_sessions(images, footprints, params=params, device="cpu")
        results[name] = (list(registered[name].global_ids), time.perf_counter() - start)
    ours = registered["ours (similarity)"]  # the anchors' rules run on our similarity alignment
    start = time.perf_counter()
    translations = [registration.align_translation(image_s, images[0], max_shift=40.0, device="cpu")
                    for image_s in images]
    minian_ids = registration.match_minian(_in_reference(translations, sessions))
    results["minian rule, translation-only alignment"] = (minian_ids, time.perf_counter() - start)
    start = time.perf_counter()
    results["minian rule, our alignment"] = (registration.match_minian(list(ours.centers)),
                                             time.perf_counter() - start)
    start = time.perf_counter()
    results["CaImAn rule, our alignment"] = (registration.match_caiman(list(ours.footprints), list(ours.centers)),
                                             time.perf_counter() - start)
    start = time.perf_counter()
    results["CellReg model, our alignment"] = (registration.match_cellreg(list(ours.footprints), list(ours.centers)),
                                               time.perf_counter() - start)
    return results


def draw_figure(sessions, image: str, path: str) -> None:
    """Register the first three sessions and save `plot_registration` of them to ``path``."""
    shown = sessions.sessions[:3]
    result = registration.register_sessions([getattr(s, f"{image}_image") for s in shown],
                                            [s.footprints for s in shown], device="cpu")
    figure = plotting.plot_registration([s.footprints.T for s in shown], result.global_ids,
                                        shape=sessions.frame_shape, transforms=[a.matrix for a in result.alignments],
                                        session_labels=["session 1", "session 2", "session 3 (larger footprints)"])
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--image", choices=("correlation", "mean"), default="correlation")
    parser.add_argument("--figure", help="also save the figure of the first set's first three sessions here")
    args = parser.parse_args()
    if args.figure:
        draw_figure(simulate_sessions(n_sessions=3, resized_session=2, seed=args.first_seed), args.image,
                    args.figure)
    totals: dict[str, dict[str, float]] = {}
    for seed in range(args.first_seed, args.first_seed + args.sets):
        sessions = simulate_sessions(n_sessions=args.sessions, seed=seed)
        for name, (ids, seconds) in run_set(sessions, args.image).items():
            score = score_registration(sessions.cell_ids, ids)
            total = totals.setdefault(name, {"true_pairs": 0, "predicted_pairs": 0, "matched_pairs": 0, "s": 0.0})
            for key in ("true_pairs", "predicted_pairs", "matched_pairs"):
                total[key] += score[key]
            total["s"] += seconds
    print(f"{args.sets} sets x {args.sessions} sessions, seeds {args.first_seed}-{args.first_seed + args.sets - 1}, "
          f"{args.image} images")
    print("| method | precision | recall | true pairs | s per set |\n|---|---|---|---|---|")
    for name, total in totals.items():
        precision = total["matched_pairs"] / max(total["predicted_pairs"], 1)
        recall = total["matched_pairs"] / max(total["true_pairs"], 1)
        print(f"| {name} | {precision:.4f} | {recall:.4f} | {total['true_pairs']} | {total['s'] / args.sets:.1f} |")


if __name__ == "__main__":
    main()
