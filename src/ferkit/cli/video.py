"""``ferkit video``: expressions of the faces in a video file, a webcam or a stream, tracked and smoothed.

Exit codes: 0 done (Ctrl-C on a webcam also ends normally, with the outputs written), 1 runtime error
(source cannot be opened, missing model), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ferkit.cli._inference import add_model_args, build_predictor

EXAMPLES = """examples:
  ferkit video clip.mp4 --annotate clip.annotated.mp4 --timeline clip.jsonl --plot clip.png
  ferkit video 0 --every 2 --max-frames 300 --annotate webcam.avi     webcam 0, 300 frames
  ferkit video rtsp://camera/stream --timeline stream.csv

exit codes: 0 done (also after Ctrl-C, outputs written), 1 runtime error, 2 usage error
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video",
        help="recognise facial expressions in a video, webcam or stream",
        description="Track faces in a video and smooth their expressions over time.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="video file, webcam index (0, 1, ...) or stream URL")
    p.add_argument("--every", type=int, default=1, metavar="N", help="analyse every N-th frame (default 1)")
    p.add_argument("--annotate", metavar="VIDEO", help="write an annotated video (.avi: MJPG, .mp4: mp4v)")
    p.add_argument("--timeline", metavar="FILE", help="write per-frame results (.jsonl or .csv)")
    p.add_argument("--plot", metavar="PNG", help="write a plot of each face's emotions over time")
    p.add_argument("--smooth", type=float, default=0.3, help="EMA weight of the newest video frame, 1 = none (0.3)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ferkit.inference.tracking import IouTracker, step_alpha
    from ferkit.inference.video import analyze_video, plot_timeline

    if args.every < 1 or not 0 < args.smooth <= 1:
        print("ferkit video: error: --every must be >= 1 and --smooth in (0, 1]", file=sys.stderr)
        return 2
    if not (args.annotate or args.timeline or args.plot):
        print("ferkit video: note: no --annotate, --timeline or --plot given; printing a summary only", file=sys.stderr)
    predictor = build_predictor(args, "video")
    alpha = step_alpha(args.smooth, args.every)
    tracker = IouTracker(predictor.classes, alpha=alpha, max_age=max(2, 10 // args.every))
    frames = analyze_video(
        predictor, args.source, args.every, args.annotate, args.timeline, args.max_frames, tracker=tracker
    )
    n, t0 = 0, time.perf_counter()
    bar = tqdm(desc="video", unit="frame", file=sys.stderr, disable=None)
    try:
        for r in frames:
            n += 1
            bar.update(1)
            if r.faces:
                bar.set_postfix_str(" ".join(f"#{tid}:{f.label}" for tid, f in r.faces[:4]))
    except KeyboardInterrupt:
        print("ferkit video: stopped; writing outputs", file=sys.stderr)
    finally:
        frames.close()
        bar.close()
    dt = time.perf_counter() - t0
    tracks = tracker.all_tracks()
    if args.plot:
        plot_timeline(tracks, predictor.classes, args.plot)
    outs = [str(Path(p)) for p in (args.annotate, args.timeline, args.plot) if p]
    print(
        f"{n} analysed frames in {dt:.1f} s ({n / dt if dt else 0:.1f} fps), {len(tracks)} face tracks"
        + (f" -> {', '.join(outs)}" if outs else ""),
        file=sys.stderr,
    )
    for t in tracks:
        mean = sum(h[1] for h in t.history) / len(t.history)
        top = max(range(len(mean)), key=lambda k: mean[k])
        print(f"face #{t.id}: {len(t.history)} frames, mostly {predictor.classes[top]} ({mean[top]:.0%})")
    return 0
