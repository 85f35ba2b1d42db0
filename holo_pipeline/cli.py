"""The ``holo-pipeline`` command.

Each subcommand lives in the module that owns its work and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches, importing a subcommand's module when it is used so
that ``holo-pipeline simulate`` never pays for importing TensorFlow or Dagster.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("holo_pipeline.simulate", "simulate raw slides with the virtual microscope"),
    "import": (
        "holo_pipeline.instrument.importer",
        "convert another lab's holograms (images or .mat) into a raw slide",
    ),
    "demo": ("holo_pipeline.demo", "simulate the demo cohort and materialise the whole graph"),
    "reconstruct": (
        "holo_pipeline.reconstruction.command",
        "reconstruct a raw slide with a trained network into OME-Zarr",
    ),
    "report": (
        "holo_pipeline.evaluation.report",
        "print the evaluation summary from stored tables",
    ),
}
# subcommands that import Dagster
USES_DAGSTER = frozenset({"demo"})
# commands that train or run a network: TensorFlow is imported up front, quietly
USES_TENSORFLOW = frozenset({"demo", "reconstruct"})


def _load(name: str):
    module_name, _ = SUBCOMMANDS[name]
    return importlib.import_module(module_name)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="holo-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (_, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == wanted:  # only import the module that will run
            _load(name).add_arguments(p)
    return parser


def quiet_console(command: str) -> None:
    """Keep the terminal to what a person wants to read; the event log keeps everything.

    TensorFlow's C++ logging (info, warnings and the harmless errors it prints while probing for
    GPUs) is off unless ``TF_CPP_MIN_LOG_LEVEL`` is set already; it must be set before TensorFlow
    is imported. Dagster's preview/beta API warnings are about our code's use of Dagster, not
    about the run, so they are silenced here, in the command's process only.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if command in USES_DAGSTER:
        import dagster as dg

        for category in (dg.PreviewWarning, dg.BetaWarning):
            warnings.filterwarnings("ignore", category=category)
        # the automation-condition evaluator logs every asset it evaluates at INFO/DEBUG
        logging.getLogger("dagster.automation_condition_tester").setLevel(logging.WARNING)
    if command in USES_TENSORFLOW and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3":
        _import_tensorflow_quietly()


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with the process's stderr closed: absl writes its start-up lines (oneDNN
    notice, "log messages before absl::InitializeLog()") before it reads TF_CPP_MIN_LOG_LEVEL."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    quiet_console(args.command)
    return int(_load(args.command).run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
