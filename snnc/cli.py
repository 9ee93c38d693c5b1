"""The ``snnc`` command line: parse options, call one library function, print the result.

Every :class:`~snnc.errors.SnncError` becomes a message on stderr and exit code 1; any other
exception is a bug in snnc and becomes ``snnc: internal error: ...`` and exit code 2 (``--debug``
or ``SNNC_DEBUG=1`` shows the traceback behind either). Reports go to stdout, in the form
``--format table|json`` asks for; status lines ("wrote ...", progress) go to stderr.

Start-up imports nothing heavy: torch, lava, onnx and matplotlib are imported inside the commands
that need them (``bench/cli_startup.py`` times it).
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from . import __version__
from .errors import SnncError
from .runtime.config import GROUP_TIMEOUT

REPORT = "this is a bug in snnc; rerun with --debug and report the traceback"

#: The target table's names (:data:`snnc.passes.targets.TARGETS`; a test keeps them equal), spelled
#: out so that ``snnc --help`` needs no import of the compiler.
TARGET_NAMES = ("train", "energy", "lava", "lava-fixed", "nir", "onnx", "netx")


def _debug() -> bool:
    """Whether --debug or SNNC_DEBUG (not empty, not 0) asks for tracebacks."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get("snnc.debug"):
        return True
    return os.environ.get("SNNC_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print ``snnc: message`` (after the traceback, with --debug) and exit with ``code``."""
    if _debug() and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc(file=sys.stderr)
    click.echo(f"snnc: {message}", err=True)
    sys.exit(code)


def _os_message(exc: OSError) -> str:
    """``path: reason`` for a file error (``[Errno 2] No such file ...: 'x'`` names it last)."""
    reason = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(map(str, paths))}: {reason}"


def friendly(fn):
    """Turn snnc's own errors (and file errors) into one clear message and exit code 1, anything
    else into an internal-error message and exit code 2, Ctrl-C into "interrupted" and 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and exits: click reports them
        except SnncError as exc:
            _fail(f"error: {exc}")
        except BrokenPipeError:  # stdout closed early (`snnc ... | head`): nothing to report
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            sys.exit(1)
        except OSError as exc:
            if exc.filename is not None:  # e.g. an unwritable -o path
                _fail(f"error: {_os_message(exc)}")
            _fail(f"internal error: {type(exc).__name__}: {exc}\n{REPORT}", 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            _fail(f"internal error: {type(exc).__name__}: {exc}\n{REPORT}", 2)

    return wrapper


#: The one spelling of "how to print the report" on every reporting command.
format_option = click.option("--format", "fmt", type=click.Choice(["table", "json"]),
                             default="table", show_default=True,
                             help="Report as a table (for people) or JSON (for programs).")

#: Console width when stdout is not a terminal: wide enough that no table cuts a value short.
PIPE_WIDTH = 10_000


def _console(stderr: bool = False):
    """A rich Console on stdout (or stderr); piped or redirected, it never truncates or wraps."""
    from rich.console import Console

    con = Console(stderr=stderr)
    return con if con.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


def _echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


def _pipeline_option(value: str) -> str:
    from .errors import PassError
    from .passes import parse_pipeline

    try:
        parse_pipeline(value)
    except PassError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snnc")
@click.option("--debug", is_flag=True,
              help="Show the traceback behind an error message (also: SNNC_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """snnc: compile spiking-neural-network genomes to a spiking dataflow IR and run it."""
    ctx.meta["snnc.debug"] = debug


@cli.command("compile")
@click.argument("genome", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the compiled model as a .snnir artifact (atomically).")
@click.option("--target", type=click.Choice(TARGET_NAMES), default="lava", show_default=True,
              help="What the graph is prepared for: its passes come from the target table "
                   "(train: none; energy: folds but separable convs kept; lava/nir/onnx: all).")
@click.option("--passes", default=None,
              callback=lambda ctx, p, v: v if v is None else _pipeline_option(v),
              help="Instead of the target's passes: 'deploy', 'none', or a comma-separated list "
                   "of pass names.")
@click.option("--emit", type=click.Choice(["summary", "ir", "none"]), default="summary",
              show_default=True, help="What to print on stdout: the summary (in --format), "
                                      "the IR as text, or nothing.")
@format_option
@click.option("--seed", default=0, show_default=True, help="Seed of the weight initialisation.")
@click.option("--print-after", is_flag=True, help="Print the IR after every pass (stderr).")
@friendly
def compile_cmd(genome: Path, output: Path | None, target: str, passes: str | None, emit: str,
                fmt: str, seed: int, print_after: bool) -> None:
    """Compile GENOME to a verified IR graph, prepared for --target (default lava: folded)."""
    from .compiler import compile_file
    from .ir.dump import dump

    if emit == "ir" and fmt == "json":
        raise click.UsageError("--emit ir prints the IR as text; --format json applies to "
                               "--emit summary")

    def print_ir(record, graph):
        click.echo(f"// ----- IR after {record.name}", err=True)
        click.echo(dump(graph), err=True)

    result = compile_file(genome, target=target, passes=passes, seed=seed,
                          hook=print_ir if print_after else None)
    if output is not None:
        from .ir.artifact import save

        save(result.graph, output)
    if emit == "ir":
        click.echo(dump(result.graph))
    elif emit == "summary" and fmt == "json":
        from .ir.summary import summarize

        data = summarize(result.graph).to_dict()
        data["passes"] = [{"name": r.name, "changed": r.changed, "notes": list(r.notes)}
                          for r in result.records]
        _echo_json(data)
    elif emit == "summary":
        _print_summary(result.graph, result.records)
    if output is not None:
        click.echo(f"wrote {output}", err=True)


@cli.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layers/--no-layers", default=True, show_default=True,
              help="Include the per-layer table.")
@format_option
@friendly
def show_cmd(file: Path, layers: bool, fmt: str) -> None:
    """Summarise FILE (a genome or a .snnir artifact): nodes, edges by kind and delay,
    parameters, MACs per time step."""
    from .compiler import load_model
    from .ir.summary import summarize

    graph = load_model(file)
    if fmt == "json":
        data = summarize(graph).to_dict()
        if not layers:
            del data["layers"]
        _echo_json(data)
    else:
        _print_summary(graph, None, layers=layers)


@cli.command("draw")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Drawing to write (.svg, .png or .pdf), atomically.")
@click.option("--ir", "as_ir", is_flag=True,
              help="Draw a genome's compiled IR graph (every node) instead of its blocks.")
@friendly
def draw_cmd(source: Path, output: Path, as_ir: bool) -> None:
    """Draw SOURCE (a genome, a .snnir model or a run folder) like the papers' figures: blocks
    and their graphs for a genome (synaptic delays dashed and coloured, backward connections
    below the line with their operations); every IR node and edge for a model."""
    from .views.draw import draw_genome, draw_graph
    from .compiler import is_artifact, load_model
    from .genome import parse_file

    if source.is_dir():
        source = source / "model.snnir"
    if is_artifact(source) or as_ir:
        written = draw_graph(load_model(source), output)
    else:
        written = draw_genome(parse_file(source), output)
    click.echo(f"wrote {written}", err=True)


@cli.command("zoo")
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the preset's genome here (atomically) instead of stdout.")
@click.option("--counts", is_flag=True,
              help="Compile every preset (no passes) and add parameters and MACs per time step.")
@format_option
@friendly
def zoo_cmd(name: str | None, output: Path | None, counts: bool, fmt: str) -> None:
    """List the named architecture presets of the four papers, or print / write preset NAME as a
    genome (then `snnc show`, `snnc compile`, `snnc train` take it like any genome)."""
    from rich.table import Table

    from . import zoo

    if name is not None:
        preset = zoo.get(name)
        if output is None and fmt == "json":
            _echo_json({"name": preset.name, "path": str(preset.path),
                        "about": list(preset.about), "genome": preset.text})
        elif output is None:
            click.echo(preset.text, nl=False)
        else:
            from .atomic import atomic_write_text
            atomic_write_text(output, preset.text)
            click.echo(f"wrote {output}", err=True)
        return
    if output is not None:
        raise click.UsageError("-o needs a preset NAME")
    t = Table(title="snnc presets", show_edge=False)
    t.add_column("preset")
    if counts:
        from .compiler import compile_genome
        from .ir.summary import summarize
        t.add_column("parameters", justify="right")
        t.add_column("MACs/step", justify="right")
    t.add_column("about")
    rows = []
    for p in zoo.presets():
        row = [p.name]
        data = {"name": p.name, "about": p.summary}
        if counts:
            s = summarize(compile_genome(p.text, target="train", filename=str(p.path)).graph)
            row += [f"{s.num_params:,}", f"{s.macs_per_step:,}"]
            data.update(params=s.num_params, macs_per_step=s.macs_per_step)
        t.add_row(*row, p.summary)
        rows.append(data)
    if fmt == "json":
        _echo_json(rows)
    else:
        _console().print(t)


def _given(options: dict) -> dict:
    """The options the user typed (not click's defaults): what a --resume may change."""
    ctx = click.get_current_context()
    return {k: v for k, v in options.items()
            if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}


def _default_loss(model: Path) -> str:
    """The family's default loss for a genome file (TET for ResNets); CE for an artifact."""
    from .compiler import is_artifact, read_text
    from .genome import parse
    from .runtime.config import default_loss

    if is_artifact(model):
        return default_loss(None)
    return default_loss(parse(read_text(model), filename=str(model)))


def _default(field: str, kind: str = "TrainConfig"):
    """The default of ``field`` of TrainConfig (or DGSConfig, TPSConfig): snnc.runtime.config
    needs neither torch nor numpy."""
    from .runtime import config

    return getattr(config, kind).__dataclass_fields__[field].default


#: The layer-search options of ``snnc train``: option prefix -> its config class.
_SEARCHES = {"dgs": "DGSConfig", "tps": "TPSConfig"}


def _search_options(options: dict, resume: bool, saved=None) -> dict:
    """Pop ``--dgs``/``--tps`` and their ``--dgs-*``/``--tps-*`` settings from ``options``;
    returns ``{"dgs": DGSConfig | None, "tps": ...}`` for a new run, and for a resume only the
    searches whose options were typed (applied to the run's own settings ``saved``)."""
    import dataclasses

    from .runtime import config as rc

    ctx = click.get_current_context()
    out = {}
    for name, kind in _SEARCHES.items():
        layers = options.pop(name)
        settings = {k[len(name) + 1:]: options.pop(k) for k in list(options)
                    if k.startswith(name + "_")}
        typed = {k: v for k, v in settings.items()
                 if ctx.get_parameter_source(f"{name}_{k}") is not
                 click.core.ParameterSource.DEFAULT}
        if resume:
            if layers is None and not typed:
                continue
            base = getattr(saved, name)
            base = dataclasses.asdict(base) if base is not None else {}
            if layers is not None:
                base["layers"] = layers
            out[name] = getattr(rc, kind)(**{**base, **typed}) if base or typed else None
            continue
        if layers is None:
            if typed:
                flag = next(iter(typed)).replace("_", "-")
                raise click.UsageError(f"--{name}-{flag} needs --{name} (the layers to search: "
                                       f"all, or e.g. stem,l1)")
            out[name] = None
        else:
            out[name] = getattr(rc, kind)(layers=layers, **settings)
    return out


def _search_row(row: dict) -> str:
    """``dgs b stem 3.4 l1 3.2 | tps tau stem 0.2 l1 0.3``: an epoch's searched values."""
    parts = []
    for name, values in row.get("search", {}).items():
        shown = "  ".join(f"{k} {v if not isinstance(v, list) else '/'.join(map(str, v))}"
                          for k, v in values.items())
        parts.append(f"{name} {'b' if name == 'dgs' else 'tau'}: {shown}")
    return " | ".join(parts)


@cli.command("train")
@click.argument("model", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--run-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (config, metrics, checkpoint, model.snnir); must be empty unless "
                   "--resume.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --run-dir from its last checkpoint (MODEL optional).")
@click.option("--data", "dataset", help="mnist, fashion-mnist, digits, cifar10 or cifar100.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Read the dataset from this folder.")
@click.option("--epochs", type=click.IntRange(1), default=_default("epochs"), show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=_default("batch_size"),
              show_default=True)
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]), default=_default("optimizer"),
              show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=_default("lr"),
              show_default=True, help="Initial learning rate.")
@click.option("--momentum", type=click.FloatRange(0), default=_default("momentum"),
              show_default=True, help="SGD momentum.")
@click.option("--weight-decay", type=click.FloatRange(0), default=_default("weight_decay"),
              show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]),
              default=_default("schedule"), show_default=True)
@click.option("--schedule-step", type=click.Choice(["epoch", "step"]),
              default=_default("schedule_step"), show_default=True,
              help="Anneal the learning rate once per epoch or once per step.")
@click.option("--eta-min", type=click.FloatRange(0), default=_default("eta_min"),
              show_default=True, help="Final learning rate of the cosine.")
@click.option("--loss", type=click.Choice(["ce", "tet"]), default=None,
              help="ce: cross-entropy of the time-averaged output; tet: mean over t of CE.  "
                   "[default: tet for ResNet genomes, as BCNAS-SNN trains them; ce otherwise]")
@click.option("--tet-lambda", type=click.FloatRange(0, 1), default=_default("tet_lambda"),
              show_default=True, help="Weight of TET's MSE term.")
@click.option("--T", "T", type=click.IntRange(1), help="Time steps (default: the genome's).")
@click.option("--encoding", type=click.Choice(["direct", "rate"]),
              help="Input encoding (default: the genome's).")
@click.option("--crop-padding", type=click.IntRange(0), default=_default("crop_padding"),
              show_default=True, help="Random-crop padding in pixels (0: off).")
@click.option("--hflip/--no-hflip", default=_default("hflip"), show_default=True,
              help="Random horizontal flips.")
@click.option("--cutout", type=click.IntRange(0), default=_default("cutout"), show_default=True,
              help="Cutout square side in pixels (0: off).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True),
              default=_default("val_fraction"), show_default=True,
              help="Fraction of the training set held out for validation.")
@click.option("--test-every", type=click.IntRange(1), default=_default("test_every"),
              show_default=True, help="Evaluate the test set every N epochs (and after the last).")
@click.option("--seed", type=click.IntRange(0), default=_default("seed"), show_default=True)
@click.option("--threads", type=click.IntRange(0), default=_default("threads"),
              show_default=True, help="Torch threads (0: torch's default).")
@click.option("--limit-train", type=click.IntRange(1), help="Use only the first N training images.")
@click.option("--limit-test", type=click.IntRange(1), help="Use only the first N test images.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=_default("dtype"),
              show_default=True)
@click.option("--nproc", type=click.IntRange(1), default=_default("nproc"), show_default=True,
              help="Data-parallel processes on this machine (--batch-size is the global batch). "
                   "Under torchrun: the number of processes it started.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=_default("device"),
              show_default=True,
              help="Where to train: auto is a GPU when torch sees one (rank r of a group on GPU "
                   "LOCAL_RANK), else the CPU.")
@click.option("--timing", type=click.Choice(["ir", "hardware"]), default=_default("timing"),
              show_default=True,
              help="ir: the genome's delays; hardware: every synaptic hop costs one step, as on "
                   "Loihi 2 and in Lava (the hop-timing pass delays backward edges), so the "
                   "model trains as `snnc lava` deploys it.")
@click.option("--group-timeout", type=click.FloatRange(1), default=GROUP_TIMEOUT,
              show_default=True,
              help="Seconds a process of a --nproc/torchrun group waits for the others.")
@click.option("--dgs", metavar="LAYERS",
              help="Differentiable surrogate gradient search (SpikeDHS Alg. 2) on these layers of "
                   "a SpikeDHS genome: all, or e.g. stem,l1,l5.")
@click.option("--dgs-interval", type=click.IntRange(1), default=_default("interval", "DGSConfig"),
              show_default=True, help="DGS after every N-th epoch.")
@click.option("--dgs-candidates", type=click.IntRange(1),
              default=_default("candidates", "DGSConfig"), show_default=True,
              help="Candidate temperatures N around the current b.")
@click.option("--dgs-delta", type=click.FloatRange(0), default=_default("delta", "DGSConfig"),
              show_default=True, help="Spacing delta b of the candidates.")
@click.option("--dgs-iterations", type=click.IntRange(1),
              default=_default("iterations", "DGSConfig"), show_default=True,
              help="Batches per DGS phase.")
@click.option("--dgs-b-min", type=click.FloatRange(0, min_open=True),
              default=_default("b_min", "DGSConfig"), show_default=True,
              help="Lowest temperature a candidate may take.")
@click.option("--dgs-b-max", type=click.FloatRange(0, min_open=True),
              default=_default("b_max", "DGSConfig"), show_default=True,
              help="Highest temperature a candidate may take.")
@click.option("--dgs-lr", type=click.FloatRange(0, min_open=True),
              default=_default("lr", "DGSConfig"), show_default=True,
              help="Adam learning rate of the mixing weights alpha.")
@click.option("--dgs-variant", type=click.Choice(["paper", "code"]),
              default=_default("variant", "DGSConfig"), show_default=True,
              help="paper: alpha restarts every batch, argmax of its batch average; code: the "
                   "authors' one alpha over all batches.")
@click.option("--tps", metavar="LAYERS",
              help="Temporal parameter search (SpikeDHS Alg. 3) of the leak factors of these "
                   "layers of a SpikeDHS genome: all, or e.g. stem,l1,l5.")
@click.option("--tps-delta", type=click.FloatRange(0, 1), default=_default("delta", "TPSConfig"),
              show_default=True, help="Candidates tau + delta, tau, tau - delta.")
@click.option("--tps-delta-a", type=click.FloatRange(0, 1),
              default=_default("delta_a", "TPSConfig"), show_default=True,
              help="Candidates of an ALIF layer's threshold decay tau_a.")
@click.option("--tps-step", type=click.IntRange(1), default=_default("step", "TPSConfig"),
              show_default=True, help="Iterations per search step (tau moves, a resets).")
@click.option("--tps-warmup", type=click.IntRange(0), default=_default("warmup", "TPSConfig"),
              show_default=True, help="Epochs with the control weights a fixed.")
@click.option("--tps-iterations", type=click.IntRange(1),
              help="Search iterations after the warm-up (default: to the end of training).")
@click.option("--tps-lr", type=click.FloatRange(0, min_open=True),
              default=_default("lr", "TPSConfig"), show_default=True,
              help="Adam learning rate of the control weights a.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr (terminals only).")
@format_option
@friendly
def train_cmd(model: Path | None, run_dir: Path, resume: bool, progress: bool, fmt: str,
              group_timeout: float, **options) -> None:
    """Train MODEL (a genome or .snnir file) and write the run to --run-dir.

    With --resume, options left out take the run's own settings, and different ones are
    refused (except --threads and --nproc)."""
    import dataclasses

    from .runtime.distributed import env_rank
    from .runtime.train import TrainConfig, load_run_config

    if options["data_root"] is not None:
        options["data_root"] = str(options["data_root"])
    ranked = env_rank()  # started by torchrun: the group's size is the process count
    if ranked is not None:
        if _given(options).get("nproc", ranked[1]) != ranked[1]:
            raise click.UsageError(f"--nproc {options['nproc']} differs from the "
                                   f"{ranked[1]} processes torchrun started")
        options["nproc"] = ranked[1]
    if not resume and model is None:
        raise click.UsageError("missing MODEL (a genome or .snnir file); only --resume may "
                               "leave it out")
    if not resume and options["dataset"] is None:
        raise click.UsageError("missing --data (mnist, fashion-mnist, digits, cifar10, cifar100)")
    if ranked is not None and ranked[0] != 0:
        config = None  # rank 0 reads the model and the run folder, and sends its config
    elif resume:
        saved = load_run_config(run_dir)
        searches = _search_options(options, True, saved)
        given = {**_given(options), **searches}
        config = dataclasses.replace(saved, **given) if given else None
    else:
        options.update(_search_options(options, False))
        if options["loss"] is None:
            options["loss"] = _default_loss(model)
        config = TrainConfig(**options)

    def show(row):
        val = f"  val {row['val_acc']:.2%}" if row["val_acc"] is not None else ""
        test = f"  test {row['test_acc']:.2%}" if row["test_acc"] is not None else ""
        click.echo(f"epoch {row['epoch']:>3}  loss {row['train_loss']:.4f}  train "
                   f"{row['train_acc']:.2%}{val}{test}  lr {row['lr']:.3g}  "
                   f"{row['seconds']:.1f} s", err=True)
        if row.get("search"):
            click.echo(f"           {_search_row(row)}", err=True)

    if ranked is None:
        from .runtime.launch import launch

        result = launch(model, config, run_dir, resume=resume, progress=progress, on_epoch=show,
                        timeout=group_timeout)
    else:
        result = _train_ranked(ranked, model, config, run_dir, resume, progress, show,
                               group_timeout, options.get("device", "auto"))
        if result is None:  # ranks other than 0 print nothing
            return
    if result.resumed_from:
        click.echo(f"resumed after epoch {result.resumed_from}", err=True)
    if fmt == "json":
        _echo_json({"run_dir": str(result.run_dir), "model": str(result.model_path),
                    "test_acc": result.test_acc, "val_acc": result.val_acc,
                    "resumed_from": result.resumed_from, "seconds": result.seconds,
                    "history": result.history})
    else:
        click.echo(f"test accuracy {result.test_acc:.2%}")
    click.echo(f"wrote {result.model_path}", err=True)
    if (result.run_dir / "searched.genome").exists():
        click.echo(f"wrote {result.run_dir / 'searched.genome'} (the searched values)", err=True)


def _train_ranked(ranked, model, config, run_dir, resume, progress, show, timeout, device):
    """One process of a torchrun group: join it, train; rank 0's result (None on the others)."""
    from .runtime.distributed import close_group, init_group
    from .runtime.train import train

    from .runtime.launch import group_device
    from .runtime.train import TrainConfig

    rank, world, local = ranked
    # Every rank parsed the same command line, so --device as typed (default auto) is the one
    # value all ranks agree on without reading rank 0's run folder.
    device = group_device(TrainConfig(device=device), run_dir, False)
    group = init_group(rank, world, local_rank=local, timeout=timeout, device=device)
    try:
        result = train(model, config, run_dir, resume=resume, progress=progress and rank == 0,
                       on_epoch=show if rank == 0 else None, group=group)
    finally:
        close_group()
    return result if rank == 0 else None


@cli.command("eval")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", "dataset",
              help="Dataset name (default: the one the model was trained on).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Read the dataset from this folder.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Evaluate only the first N images.")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--threads", type=click.IntRange(0), default=0, help="Torch threads (0: default).")
@click.option("--per-class", is_flag=True, help="Also print the accuracy of every class.")
@format_option
@friendly
def eval_cmd(model: Path, dataset: str | None, data_root: Path | None, split: str,
             limit: int | None, batch_size: int, threads: int, per_class: bool,
             fmt: str) -> None:
    """Classification accuracy of MODEL (a run folder, .snnir or genome file) on a dataset."""
    import dataclasses

    from .runtime.evaluate import evaluate

    r = evaluate(model, dataset, data_root=data_root, split=split, limit=limit,
                 batch_size=batch_size, threads=threads)
    if fmt == "json":
        _echo_json(dataclasses.asdict(r))
        return
    click.echo(f"accuracy {r.accuracy:.2%} ({r.correct}/{r.n}, {r.dataset} {r.split})")
    if per_class:
        for c, acc in enumerate(r.per_class):
            click.echo(f"  class {c}: " + ("-" if acc is None else f"{acc:.2%}"))


def _print_summary(graph, records, layers: bool = True) -> None:
    from .ir.summary import summarize

    s = summarize(graph)
    d = s.to_dict()
    # The four summary lines need no rich (whose import costs a tenth of `snnc show`'s start-up).
    click.echo(click.style(str(d.get("name") or "model"), bold=True)
               + f"  T={d.get('T')}  input={d.get('input_shape')}  output={d.get('output_shape')}"
               f"  genome={str(d.get('genome_id') or '')[:12]}")
    click.echo(f"nodes {d['num_nodes']}: "
               + ", ".join(f"{k} {v}" for k, v in d["nodes_by_op"].items()))
    click.echo("edges: " + ", ".join(f"{k} {v}" for k, v in d["edges_by_kind"].items())
               + "; by delay: " + ", ".join(f"@{k} {v}" for k, v in d["edges_by_delay"].items()))
    click.echo(f"parameters {d['num_params']:,}   neurons {d['num_neurons']:,}   "
               f"MACs per time step {d['macs_per_step']:,}")
    if not records and not layers:
        return
    from rich.table import Table

    con = _console()
    if records:
        t = Table(title="passes", show_edge=False)
        for col in ("pass", "changed", "nodes", "ms", "notes"):
            t.add_column(col)
        for r in records:
            t.add_row(r.name, "yes" if r.changed else "no", f"{r.nodes_before}->{r.nodes_after}",
                      f"{r.ms:.1f}", "; ".join(r.notes))
        con.print(t)
    if layers:
        t = Table(title="layers", show_edge=False)
        for col in ("node", "op", "output", "params", "MACs/step"):
            t.add_column(col, justify="right" if col in ("params", "MACs/step") else "left")
        for row in s.rows():
            t.add_row(row["name"], row["op"], "x".join(map(str, row["shape"])), f"{row['params']:,}",
                      f"{row['macs']:,}")
        con.print(t)


@cli.command("lava")
@click.argument("model", type=click.Path(exists=False, path_type=Path))
@click.option("--data", "dataset", help="Dataset (default: the one the model was trained on).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding the dataset (CIFAR).")
@click.option("--samples", default=100, show_default=True, type=click.IntRange(1),
              help="Test images to simulate.")
@click.option("--seed", default=0, show_default=True, help="Seed of rate-encoded inputs.")
@click.option("--conv", type=click.Choice(["sparse", "conv"]), default="sparse",
              show_default=True, help="Convolutions as unrolled Sparse synapses (float64) or "
                                      "Lava's Conv process.")
@click.option("--fixed-point", is_flag=True,
              help="Quantise to Loihi 2's integer formats (quantize-loihi) and run Lava's "
                   "fixed_pt models; spikes are compared with the integer reference.")
@click.option("--processes", type=click.Choice(["fused", "layer"]), default=None,
              help="The whole network as one Lava process (fused: a few OS processes) or one "
                   "Lava process per neuron and synapse (layer). Default: fused, except with "
                   "--conv conv.")
@click.option("--resources", is_flag=True,
              help="Report Loihi 2 resources instead (neurons, synapses, fan-in/out, synaptic "
                   "memory, cores, chips; an estimate under cited per-core limits); simulates "
                   "nothing, needs no data, and also takes a genome file.")
@click.option("--weight-bits", type=click.IntRange(1, 64), default=8, show_default=True,
              help="With --resources: bits per stored weight.")
@click.option("--delays", type=click.Choice(["relay", "synaptic"]), default="relay",
              show_default=True, help="With --resources: Lava delay lines as relay neurons, or "
                                      "as delay fields on the synapses.")
@format_option
@friendly
def lava_cmd(model: Path, dataset, data_root, samples: int, seed: int, conv: str,
             fixed_point: bool, processes: str | None, resources: bool, weight_bits: int,
             delays: str, fmt: str) -> None:
    """Simulate MODEL (a run folder or .snnir) as Loihi 2 would run it, with Lava, on test images;
    report accuracy, agreement with the PyTorch backend and per-layer spike trains (compared
    element by element; counts shown). With --resources: how large MODEL is on Loihi 2 and
    whether it fits, without simulating."""
    if resources:
        _lava_resources(model, weight_bits, delays, fmt)
        return
    if weight_bits != 8 or delays != "relay":
        raise click.UsageError("--weight-bits and --delays apply to --resources only")
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from .runtime.lava_check import lava_check

    con = Console(stderr=True)
    with Progress(console=con, transient=True, disable=not con.is_terminal) as bar:
        task = bar.add_task("Lava simulation", total=samples)
        report = lava_check(model, dataset, data_root=data_root, samples=samples, seed=seed,
                            conv=conv, fixed_point=fixed_point, processes=processes,
                            progress=lambda done, total: bar.update(task, completed=done))
    if fmt == "json":
        _echo_json(report.to_dict())
        return
    out = _console()
    against = ("the integer reference (quantised graph)" if report.fixed_point
               else "PyTorch (float64 deploy graph)")
    t = Table(title=f"per-layer spikes on Lava{' fixed_pt' if report.fixed_point else ''} vs "
                    f"{against}, {report.samples} images", show_edge=False)
    for col in ("layer", "neurons", "Lava spikes", "reference spikes", "mismatches", "equal"):
        t.add_column(col, justify="left" if col == "layer" else "right")
    for layer in report.layers:
        t.add_row(layer.name, f"{layer.neurons:,}", f"{layer.lava_spikes:,}",
                  f"{layer.reference_spikes:,}", f"{layer.mismatches:,}",
                  "yes" if layer.equal else "[red]NO[/red]")
    out.print(t)
    out.print(f"Lava accuracy {report.lava_accuracy:.2%}   PyTorch accuracy "
              f"{report.torch_accuracy:.2%}   prediction agreement "
              f"{report.prediction_agreement:.2%}   layers with equal spike trains "
              f"{report.layers_equal}/{len(report.layers)}   "
              f"{report.seconds_per_image * 1e3:.0f} ms/image (latency {report.latency_steps} steps)")
    if report.fixed_point:
        out.print(f"fixed point: float PyTorch accuracy {report.torch_accuracy:.2%}   fixed-point "
                  f"reference accuracy {report.reference_accuracy:.2%}   fixed-point Lava "
                  f"accuracy {report.lava_accuracy:.2%}")
        for note in report.approximations:
            out.print(f"  quantize-loihi {note}")


def _lava_resources(model: Path, weight_bits: int, delays: str, fmt: str) -> None:
    from rich.table import Table

    from .runtime.lava_resources import lava_resources

    r = lava_resources(model, weight_bits=weight_bits, delays=delays)
    if fmt == "json":
        _echo_json(r.to_dict())
        return
    out = _console()
    t = Table(title=f"Loihi 2 resources of {r.model} (estimate; {r.weight_bits}-bit weights, "
                    f"convolutions unrolled, delays as {r.delays})", show_edge=False)
    cols = ("layer", "neurons", "synapses", "fan-in max/mean", "fan-out max/mean", "memory KiB",
            "in-axons/core", "out-axons/core", "cores", "split by", "binding limit")
    for col in cols:
        t.add_column(col, justify="left" if col in ("layer", "split by", "binding limit")
                     else "right")
    for x in r.layers:
        name = x.name + (" (host in)" if x.injected else "")
        t.add_row(name, f"{x.neurons:,}", f"{x.synapses:,}",
                  f"{x.fan_in_max:,} / {x.fan_in_mean:.1f}",
                  f"{x.fan_out_max:,} / {x.fan_out_mean:.1f}", f"{x.memory_bits / 8192:,.1f}",
                  f"{x.input_axons:,}", f"{x.output_axons:,}", f"{x.cores:,}", x.split,
                  f"[red]over {x.binding}[/red]" if x.over_limit else x.binding)
    tot = r.totals
    t.add_section()
    t.add_row("total", f"{tot['neurons']:,}", f"{tot['synapses']:,}", "", "",
              f"{tot['memory_bits'] / 8192:,.1f}", "", "", f"{tot['cores']:,}", "", "")
    out.print(t)
    lim = r.limits
    out.print(f"{tot['delay_neurons']:,} of the neurons are delay-line relays (rows name~k); "
              f"{tot['weights']:,} distinct weights (a convolution's kernel once)")
    out.print(f"per-core limits: {lim.neurons_per_core:,} neurons, "
              f"{lim.synapse_bits_per_core // 8192:,} KiB synaptic memory (estimate), "
              f"{lim.input_axons_per_core:,} input / {lim.output_axons_per_core:,} output axons "
              f"(Loihi 1 values, estimate); {lim.cores_per_chip} cores per chip "
              f"(sources: --format json, or snnc.backends.lava.resources.LIMITS)")
    colour = "green" if r.fits else "red"
    out.print(f"[{colour}]{r.verdict()}[/{colour}]")


@cli.group("sample")
def sample_group() -> None:
    """Sample architectures (genomes) from a search space."""


@sample_group.command("stts")
@click.option("--preset", default="tanet-tiny", show_default=True,
              help="tanet-tiny, tanet-regular or mnist-small (STTS Table 1 and a small MNIST net).")
@click.option("--seed", default=0, show_default=True, help="Seed of topology and delay sampling.")
@click.option("--model", type=click.Choice(["ws", "ba", "er"]), help="Override the graph model.")
@click.option("--nodes", type=click.IntRange(1, 4096), help="Override nodes per graph stage.")
@click.option("--k", type=click.IntRange(1), help="WS: neighbours in the ring lattice.")
@click.option("--p", type=click.FloatRange(0, 1), help="WS rewiring / ER edge probability.")
@click.option("--m", type=click.IntRange(1), help="BA: edges per new node.")
@click.option("--delay-p", type=click.FloatRange(0, 1), help="Bernoulli synaptic-delay probability.")
@click.option("--keep-undelayed/--no-keep-undelayed", default=None,
              help="Keep one undelayed input per node (the authors' code); default per preset.")
@click.option("--variant", type=click.Choice(["paper", "code"]), default="paper", show_default=True,
              help="TANet neuron and head as the paper describes them (alpha = 1/tau, detached "
                   "reset, voting layer) or as the authors' code builds them.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the genome here (atomically) instead of stdout.")
@click.option("--stats", is_flag=True, help="Print STTS Fig. 2a statistics (paths, path length).")
@friendly
def sample_stts_cmd(preset, seed, model, nodes, k, p, m, delay_p, keep_undelayed, variant, output,
                    stats):
    """Sample an STTS genome: random graph stages with Bernoulli synaptic delays."""
    import dataclasses

    from .genome import to_text
    from .search.stts import PRESETS, sample_stts, stage_stats

    if preset not in PRESETS:
        raise click.BadParameter(f"expected one of {', '.join(PRESETS)}", param_hint="--preset")
    space = PRESETS[preset]
    over = {k_: v for k_, v in dict(model=model, nodes=nodes, k=k, p=p, m=m).items() if v is not None}
    if over:
        space = dataclasses.replace(space, stages=tuple(
            dataclasses.replace(st, graph=dataclasses.replace(st.graph, **over)) if st.graph else st
            for st in space.stages))
    if delay_p is not None:
        space = dataclasses.replace(space, delay_p=delay_p)
    if keep_undelayed is not None:
        space = dataclasses.replace(space, keep_undelayed=keep_undelayed)
    genome = sample_stts(space, seed, variant_name=variant)
    text = to_text(genome)
    if output is None:
        click.echo(text, nl=False)
    else:
        from .atomic import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    if stats:
        for s in stage_stats(genome):
            click.echo(f"{s.stage}: {s.nodes} nodes, {s.edges} edges ({s.delayed_edges} delayed), "
                       f"{s.paths} source-to-sink paths, average path length "
                       f"{s.average_path_length:.2f}", err=True)


@cli.group("export")
def export_group() -> None:
    """Write a model in an interchange format (NIR, ONNX, lava-dl netx)."""


@export_group.command("nir")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .nir file to write (atomically).")
@click.option("--dt", type=click.FloatRange(0, min_open=True), default=1e-4, show_default=True,
              help="Euler step in seconds that the neuron mapping assumes (stored in the file).")
@click.option("--implicit-cycle-delay", is_flag=True,
              help="Shrink backward edges' delays by one step, for consumers that read a "
                   "cycle's previous-step value themselves.")
@friendly
def export_nir_cmd(model: Path, output: Path, dt: float, implicit_cycle_delay: bool) -> None:
    """Export MODEL (genome or .snnir) as a NIR graph after the deploy pipeline."""
    from .backends.nir import export_nir
    from .compiler import load_model

    export_nir(load_model(model), output, dt=dt, implicit_cycle_delay=implicit_cycle_delay)
    click.echo(f"wrote {output}", err=True)


@export_group.command("onnx")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .onnx file to write (atomically).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True, help="Precision of weights and values.")
@friendly
def export_onnx_cmd(model: Path, output: Path, dtype: str) -> None:
    """Export one time step of MODEL (genome or .snnir), deploy-folded, as ONNX: membrane
    potentials and delay buffers are explicit inputs and outputs."""
    from .backends.onnx import export_onnx
    from .compiler import load_model

    export_onnx(load_model(model), output, dtype=dtype)
    click.echo(f"wrote {output}", err=True)


@export_group.command("netx")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The lava-dl netx HDF5 file to write (atomically), e.g. model.net.")
@click.option("--input-scale", type=click.FloatRange(0, min_open=True), default=None,
              help="Integer units per unit of input: x_int = round(x * scale). Default 255 "
                   "(8-bit intensities) for direct encoding, 1 (spikes) for rate encoding.")
@click.option("--input-max", type=click.FloatRange(0, min_open=True), default=1.0,
              show_default=True, help="Largest |x| of an input, e.g. 2.83 for MNIST after "
                                      "normalisation (bounds the first layer's currents).")
@click.option("--exact", is_flag=True,
              help="Refuse instead of rounding any weight, bias, threshold or leak.")
@friendly
def export_netx_cmd(model: Path, output: Path, input_scale: float | None, input_max: float,
                    exact: bool) -> None:
    """Export MODEL (genome or .snnir), deploy-folded, as a lava-dl netx network description
    (HDF5) in Loihi 2's integer formats; prints each block's scale and rounding."""
    from .backends.netx import export_netx
    from .compiler import load_model

    res = export_netx(load_model(model), output, input_scale=input_scale, input_max=input_max,
                      exact=exact)
    for la in res.layers:
        kind = "readout" if la.layer.readout else la.kind
        err = la.errors
        click.echo(f"{la.name}: {kind} {'x'.join(map(str, la.shape))}, scale {la.scale:.6g}, "
                   f"vThMant {la.vth}, vDecay {la.v_decay}, "
                   f"{'exact' if la.exact else 'rounded'} (max error: weight {err['weight']:.3g}, "
                   f"bias {err['bias']:.3g}, threshold {err['threshold']:.3g} units, leak "
                   f"{err['leak']:.3g})", err=True)
    click.echo(f"wrote {output}: {len(res.layers)} blocks, T={res.T}, input x_int = round(x * "
               f"{res.input_scale:g}), input_message_bits={res.input_message_bits}", err=True)


@cli.group("import")
def import_group() -> None:
    """Bring models and architectures in: a NIR model as a .snnir model, an SNASNet cell code
    as a genome."""


@import_group.command("nir")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .snnir artifact to write (atomically).")
@click.option("--T", "T", type=click.IntRange(1),
              help="Time steps (default: the file's metadata T; required otherwise).")
@click.option("--dt", type=click.FloatRange(0, min_open=True),
              help="Euler step in seconds (default: the file's metadata dt; snnTorch files "
                   "assume 1e-4, Norse 1e-3).")
@friendly
def import_nir_cmd(file: Path, output: Path, T: int | None, dt: float | None) -> None:
    """Convert the NIR graph FILE into a verified snnc model (.snnir)."""
    from .backends.nir import import_nir

    g = import_nir(file, output, dt=dt, T=T)
    click.echo(f"{len(g)} nodes, {len(g.edges)} edges, T={g.meta['T']}, dt={g.meta['dt']:g} s")
    click.echo(f"wrote {output}", err=True)


class _SearchDefault:
    """A search config's default of ``field`` (class ``config`` of module ``snnc.search.<module>``),
    read only when click asks for it (parsing, or the command's --help, where ``str`` shows the
    value): importing a searcher pulls torch, which `snnc --help` and every other command must not
    pay for. A tuple default shows comma-separated, as the option takes it."""

    module, config = "snasnet", "SearchConfig"

    def __init__(self, field: str):
        self.field = field

    def __call__(self):
        from .errors import MissingDependencyError
        from .optional import require

        try:
            mod = require(f"snnc.search.{self.module}", feature="snnc search", extra="torch")
        except MissingDependencyError as exc:  # raised while click parses: its error, exit 1
            raise click.ClickException(str(exc)) from None
        value = getattr(mod, self.config).__dataclass_fields__[self.field].default
        return ",".join(value) if isinstance(value, tuple) else value

    def __str__(self) -> str:
        return str(self())


_search_default = _SearchDefault


def executor_options(default_workers: int = 1):
    """``--executor``, ``--workers`` and ``--scheduler`` (snnc.search.executors): where a search
    evaluates its candidates. Every search command that evaluates candidates independently takes
    them; none of them changes a result."""

    def wrap(f):
        f = click.option("--scheduler", metavar="ADDRESS",
                         help="Dask scheduler address (tcp://HOST:PORT) for --executor dask; "
                              "without it, a LocalCluster of --workers processes here.")(f)
        f = click.option("--workers", type=click.IntRange(0), default=default_workers,
                         show_default=True,
                         help="Processes of --executor process (or of dask's LocalCluster); "
                              "0 without --executor: this process.")(f)
        f = click.option("--executor", type=click.Choice(["inprocess", "process", "dask"]),
                         help="Where candidates are evaluated: this process, a local process "
                              "pool, or a Dask cluster.  [default: process; inprocess with "
                              "--workers 0]")(f)
        return f

    return wrap


@cli.group("search")
def search_group() -> None:
    """Search architectures (training-free scores, experiment store, --resume)."""


@search_group.command("snasnet")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of store.sqlite, best.genome and ranking.csv.")
@click.option("--resume", is_flag=True,
              help="Continue the search stored in --out; stored candidates are not scored again.")
@click.option("--space", default=_search_default("space"), show_default=True,
              help="snasnet-fw, snasnet-bw (SNASNet cells) or stts-small.")
@click.option("--data", "dataset", default=_search_default("dataset"), show_default=True,
              help="Images the scores are measured on (mnist, fashion-mnist, digits, cifar10, "
                   "cifar100).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Read the dataset from here.")
@click.option("--candidates", type=click.IntRange(1), default=_search_default("candidates"),
              show_default=True, help="Architectures drawn (SNASNet: 5000).")
@click.option("--score", type=click.Choice(["sahd", "hd", "escore"]),
              default=_search_default("score"), show_default=True,
              help="Score that ranks: SAHD or HD NASWOT kernel, or EPE-NAS E-score.")
@click.option("--also", multiple=True, type=click.Choice(["sahd", "hd", "escore"]),
              help="Record another score too (repeatable).")
@click.option("--channels", type=click.IntRange(1), default=_search_default("channels"),
              show_default=True, help="Width C of the cell (stage).")
@click.option("--T", "T", type=click.IntRange(1), default=_search_default("T"), show_default=True,
              help="Time steps.")
@click.option("--batch-size", type=click.IntRange(1), default=_search_default("batch_size"),
              show_default=True, help="Images per scoring batch.")
@click.option("--repeats", type=click.IntRange(1), default=_search_default("repeats"),
              help="Scoring batches averaged.  [default: 1 for the paper protocol, 2 for code]")
@click.option("--protocol", type=click.Choice(["paper", "code"]),
              default=_search_default("protocol"), show_default=True,
              help="paper: SNASNet eq. 5 and 9 as written, BatchNorm over T*B; code: the authors' "
                   "search code (its kernel averaged over calls, per-step BatchNorm, 2 batches).")
@click.option("--alpha", type=click.FloatRange(0, min_open=True),
              default=_search_default("alpha"), show_default=True, help="SAHD alpha (eq. 9).")
@click.option("--bn", type=click.Choice(["batch", "running"]), default=_search_default("bn"),
              show_default=True, help="BatchNorm statistics while scoring.")
@click.option("--seed", type=click.IntRange(0), default=_search_default("seed"),
              show_default=True, help="Sampling, batch choice and weight initialisation.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]),
              default=_search_default("dtype"), show_default=True)
@click.option("--threads", type=click.IntRange(1), default=_search_default("threads"),
              show_default=True, help="Torch threads per scoring process.")
@click.option("--scorer", type=click.Choice(["fast", "reference"]),
              default=_search_default("scorer"), show_default=True,
              help="fast: the scoring-only executor where it applies (SAHD/HD, paper protocol, "
                   "batch BatchNorm); reference: the torch backend (proxies.score_graph).")
@executor_options()
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True,
              help="Where candidates are scored: auto is a GPU when the scoring process sees one.")
@click.option("--search-id", default="snasnet", show_default=True,
              help="Key of the search in the store.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr (terminals only).")
@format_option
@friendly
def search_snasnet_cmd(out_dir: Path, resume: bool, workers: int, executor: str | None,
                       scheduler: str | None, search_id: str, device: str, progress: bool,
                       fmt: str, **options) -> None:
    """SNASNet search without training: sample candidates, score each at initialisation with the
    SAHD kernel on LIF spikes (SNASNet eq. 4-9), keep the best.

    With --resume, options left out take the stored search's values, and different ones are
    refused."""
    import dataclasses
    import warnings

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeRemainingColumn

    from .runtime.store import StoreWarning
    from .search.snasnet import SearchConfig, damage_report, run_search, stored_config

    options["also"] = tuple(options["also"])
    if resume:
        given = _given(options)
        config = dataclasses.replace(stored_config(out_dir, search_id), **given)
    else:
        config = SearchConfig(**options)
    con = Console(stderr=True)
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=con, transient=True,
                  disable=not progress or not con.is_terminal) as bar, \
            warnings.catch_warnings():
        # damaged store rows are reported below as one line, not as a Python warning
        warnings.simplefilter("ignore", StoreWarning)
        task = bar.add_task("scoring", total=None)
        result = run_search(config, out_dir, resume=resume, workers=workers, executor=executor,
                            scheduler=scheduler, search_id=search_id, device=device,
                            progress=lambda done, total: bar.update(task, completed=done,
                                                                    total=total))
    if result.damaged:
        click.echo(f"snnc: warning: {damage_report(result.paths['store'], result.damaged)}",
                   err=True)
    best = result.best
    if fmt == "json":
        _echo_json({"search_id": result.search_id, "config": config.to_dict(),
                    "sampled": result.sampled, "unique": result.unique, "scored": result.scored,
                    "best": {"genome_id": best.genome_id, "position": best.position,
                             "description": best.description, "score": _json_number(best.score),
                             "scores": {k: _json_number(v) for k, v in best.scores.items()}},
                    "paths": {k: str(v) for k, v in result.paths.items()}})
    else:
        click.echo(f"scored {result.scored} candidates ({result.unique - result.scored} already "
                   f"in the store); {result.unique} distinct of {result.sampled} drawn")
        click.echo(f"best {config.score} {best.score:.4f}: {best.description} "
                   f"(genome {best.genome_id[:12]}, drawn at {best.position})")
    click.echo(f"wrote {result.paths['genome']} and {result.paths['ranking']}", err=True)


class _BcnasDefault(_SearchDefault):
    """BcnasConfig's default of ``field``, read lazily (see :class:`_SearchDefault`)."""

    module, config = "bcnas", "BcnasConfig"


@search_group.command("bcnas")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of store.sqlite, supernet/, best.genome and ranking.csv.")
@click.option("--resume", is_flag=True,
              help="Continue the search stored in --out; nothing stored is computed again.")
@click.option("--data", "dataset", default=_BcnasDefault("dataset"), show_default=True,
              help="mnist, fashion-mnist, digits, cifar10 or cifar100 (80/20 train/val split).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Read the dataset from here.")
@click.option("--limit-train", type=click.IntRange(2), help="Use only the first N training images.")
@click.option("--depth", type=click.Choice(["18", "19"]), default="18", show_default=True,
              help="ResNet backbone depth.")
@click.option("--channels", type=click.IntRange(1), default=_BcnasDefault("channels"),
              show_default=True, help="Backbone width.")
@click.option("--T", "T", type=click.IntRange(1), default=_BcnasDefault("T"), show_default=True,
              help="Time steps.")
@click.option("--p-init", type=click.IntRange(1), default=_BcnasDefault("p_init"),
              show_default=True, help="Architectures scored in step 1 (Table 4's P_init).")
@click.option("--n-top", type=click.IntRange(0), default=_BcnasDefault("n_top"),
              show_default=True, help="Best by N-score taken into the first pool.")
@click.option("--e-top", type=click.IntRange(0), default=_BcnasDefault("e_top"),
              show_default=True, help="Best by E-score taken into the first pool.")
@click.option("--score-batch", type=click.IntRange(1), default=_BcnasDefault("score_batch"),
              show_default=True, help="Images of the step-1 scoring batch.")
@click.option("--init", type=click.Choice(["both", "nscore", "escore", "random"]),
              default=_BcnasDefault("init"), show_default=True,
              help="First pool: both scores (paper), one of them, or random (Table 4).")
@click.option("--search", type=click.Choice(["evolution", "random"]),
              default=_BcnasDefault("search"), show_default=True,
              help="Step 3: evolution (paper) or random architectures (Table 4).")
@click.option("--iterations", type=click.IntRange(1), default=_BcnasDefault("iterations"),
              show_default=True, help="Pools evaluated (I).")
@click.option("--top-k", type=click.IntRange(1), default=_BcnasDefault("top_k"),
              show_default=True, help="Size of P_top.")
@click.option("--pool", type=click.IntRange(1), default=_BcnasDefault("pool"),
              show_default=True, help="Size of the temporary pool P_temp.")
@click.option("--max-children", type=click.IntRange(0), default=_BcnasDefault("max_children"),
              show_default=True, help="Most children per kind per iteration.")
@click.option("--alpha", type=click.FloatRange(0, 1), default=_BcnasDefault("alpha"),
              show_default=True, help="Mutation probability.")
@click.option("--beta", type=click.FloatRange(0, 1), default=_BcnasDefault("beta"),
              show_default=True, help="Crossover probability.")
@click.option("--b", "b", type=click.IntRange(0), default=_BcnasDefault("b"), show_default=True,
              help="Most backward connections per architecture.")
@click.option("--epochs", type=click.IntRange(1), default=_BcnasDefault("epochs"),
              show_default=True, help="Supernet training epochs.")
@click.option("--batch-size", type=click.IntRange(1), default=_BcnasDefault("batch_size"),
              show_default=True, help="Supernet training batch size.")
@click.option("--seed", type=click.IntRange(0), default=_BcnasDefault("seed"), show_default=True)
@click.option("--threads", type=click.IntRange(1), default=_BcnasDefault("threads"),
              show_default=True, help="Torch threads (results depend on it).")
@executor_options(default_workers=0)
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr (terminals only).")
@format_option
@friendly
def search_bcnas_cmd(out_dir: Path, resume: bool, progress: bool, fmt: str,
                     executor: str | None, workers: int, scheduler: str | None,
                     **options) -> None:
    """BCNAS-SNN search of global backward connections: selective initialisation (N-score and
    E-score), a one-shot supernet, evolution with inherited weights (BCNAS-SNN, section 4.2).

    With --resume, options left out take the stored search's values, and different ones are
    refused."""
    import dataclasses

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeRemainingColumn

    from .search.bcnas import BcnasConfig, run_bcnas, stored_bcnas_config

    options["depth"] = int(options["depth"])
    if resume:
        given = _given(options)
        config = dataclasses.replace(stored_bcnas_config(out_dir), **given)
    else:
        config = BcnasConfig(**options)
    con = Console(stderr=True)
    shown = progress and con.is_terminal
    names = {"init": "step 1 scoring", "supernet": "step 2 supernet",
             "evolution": "step 3 evolution"}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=con, transient=True, disable=not shown) as bar:
        tasks: dict[str, int] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(names[step], total=total)
            bar.update(tasks[step], completed=done, total=total)

        result = run_bcnas(config, out_dir, resume=resume, progress=report, bars=shown,
                           executor=executor, workers=workers, scheduler=scheduler)
    for step, secs in result.seconds.items():
        click.echo(f"{names[step]}: {secs:.1f} s", err=True)
    best = result.best
    if fmt == "json":
        _echo_json({"config": config.to_dict(), "scored": result.scored,
                    "evaluated": result.evaluated, "attempt": result.attempt,
                    "seconds": result.seconds,
                    "best": {"connections": [list(c) for c in best.arch.connections],
                             "val_accuracy": best.accuracy, "origin": best.origin},
                    "top": [{"connections": [list(c) for c in a.connections],
                             "val_accuracy": acc} for a, acc in result.top],
                    "paths": {k: str(v) for k, v in result.paths.items()}})
    else:
        click.echo(f"scored {result.scored} architectures, evaluated {result.evaluated} with "
                   f"inherited weights ({len(result.ranking)} in all)")
        click.echo(f"best: {best.arch} (validation accuracy {best.accuracy:.2%}, "
                   f"{best.origin})")
    click.echo(f"wrote {result.paths['genome']} and {result.paths['ranking']}", err=True)


class _DhsDefault(_SearchDefault):
    """DhsConfig's default of ``field``, read lazily (see :class:`_SearchDefault`)."""

    module, config = "dhs", "DhsConfig"


def _int_list(text: str | None, what: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(w) for w in text.replace(",", " ").split())
    except ValueError:
        raise click.BadParameter(f"{what} must be integers separated by commas, got {text!r}")


@search_group.command("dhs")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of store.sqlite, supernet.pt, best.genome, arch.json and arch.png.")
@click.option("--resume", is_flag=True,
              help="Continue the search stored in --out from its last finished epoch.")
@click.option("--data", "dataset", default=_DhsDefault("dataset"), show_default=True,
              help="mnist, fashion-mnist, digits, cifar10 or cifar100 (its training set is split "
                   "into two halves: weights / architecture).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Read the dataset from here.")
@click.option("--limit-train", type=click.IntRange(4), help="Use only the first N training images.")
@click.option("--nodes", type=click.IntRange(1), default=_DhsDefault("nodes"), show_default=True,
              help="Nodes per cell (the paper's n4).")
@click.option("--channels", type=click.IntRange(1), default=_DhsDefault("channels"),
              show_default=True, help="Channels per node at level 0 (doubled per level).")
@click.option("--layers", type=click.IntRange(1), default=_DhsDefault("layers"),
              show_default=True, help="Layers of the network.")
@click.option("--candidates", default=_DhsDefault("candidates"), show_default=True,
              help="Operations every mixed edge mixes (comma-separated: skip, snn_b3, snn_b5).")
@click.option("--mixing", type=click.Choice(["membrane", "spike"]),
              default=_DhsDefault("mixing"), show_default=True,
              help="membrane: eq. 16 (the paper's); spike: eq. 14, every candidate fires (the "
                   "authors' search code).")
@click.option("--path", "path_text",
              help="Fixed network: level of each layer, e.g. 0,0,1,1,1,2,2,2.  [default: DARTS's "
                   "reductions at 1/3 and 2/3 of the depth]")
@click.option("--trellis", is_flag=True,
              help="Search the layer path too (layer-level trellis with weights beta, Viterbi "
                   "decoding) instead of the fixed downsampling network.")
@click.option("--levels", type=click.IntRange(1, 4), default=_DhsDefault("levels"),
              show_default=True, help="Resolution levels of the trellis.")
@click.option("--T", "T", type=click.IntRange(1), default=_DhsDefault("T"), show_default=True,
              help="Time steps.")
@click.option("--neuron", default=_DhsDefault("neuron"), show_default=True,
              help="Genome neuron of the supernet and the result.")
@click.option("--surrogate", default=_DhsDefault("surrogate"), show_default=True,
              help="Genome surrogate of the supernet and the result.")
@click.option("--epochs", type=click.IntRange(1), default=_DhsDefault("epochs"),
              show_default=True, help="Search epochs E.")
@click.option("--warmup", type=click.IntRange(0), default=_DhsDefault("warmup"),
              show_default=True, help="Weight-only epochs E_w before alpha/beta move.")
@click.option("--batch-size", type=click.IntRange(1), default=_DhsDefault("batch_size"),
              show_default=True)
@click.option("--lr", type=float, default=_DhsDefault("lr"), show_default=True,
              help="Weights: SGD learning rate (cosine down to --lr-min).")
@click.option("--lr-min", type=float, default=_DhsDefault("lr_min"), show_default=True)
@click.option("--momentum", type=float, default=_DhsDefault("momentum"), show_default=True)
@click.option("--weight-decay", type=float, default=_DhsDefault("weight_decay"),
              show_default=True)
@click.option("--grad-clip", type=float, default=_DhsDefault("grad_clip"), show_default=True,
              help="Gradient norm clip of the weights (0: none).")
@click.option("--arch-lr", type=float, default=_DhsDefault("arch_lr"), show_default=True,
              help="Alpha/beta: Adam learning rate.")
@click.option("--arch-weight-decay", type=float, default=_DhsDefault("arch_weight_decay"),
              show_default=True)
@click.option("--arch-init", type=float, default=_DhsDefault("arch_init"), show_default=True,
              help="Alpha starts at this times N(0, 1).")
@click.option("--rank", type=click.Choice(["paper", "code"]), default=_DhsDefault("rank"),
              show_default=True,
              help="Decoding: paper (edges ranked by their strongest operation) or code (the "
                   "authors': operation 0, the skip, ignored).")
@click.option("--genome-channels", type=click.IntRange(1),
              help="Channels of the written genome.  [default: --channels]")
@click.option("--seed", type=click.IntRange(0), default=_DhsDefault("seed"), show_default=True)
@click.option("--threads", type=click.IntRange(1), default=_DhsDefault("threads"),
              show_default=True, help="Torch threads (results depend on it).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]),
              default=_DhsDefault("dtype"), show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr (terminals only).")
@format_option
@friendly
def search_dhs_cmd(out_dir: Path, resume: bool, progress: bool, fmt: str, path_text: str | None,
                   **options) -> None:
    """SpikeDHS differentiable search (SpikeDHS section 4.1, Algorithm 1): a supernet of mixed
    cell edges (and, with --trellis, mixed layer levels) trained bi-level on two halves of the
    training set; writes the decoded cell and path as a genome that `snnc train` retrains.

    With --resume, options left out take the stored search's values, and different ones are
    refused."""
    import dataclasses

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeRemainingColumn

    from .search.dhs import DhsConfig, run_dhs, stored_dhs_config

    options["candidates"] = tuple(w for w in str(options["candidates"]).replace(",", " ").split())
    path = _int_list(path_text, "--path")
    if resume:
        given = _given(options)
        if path_text is not None:
            given["path"] = path
        config = dataclasses.replace(stored_dhs_config(out_dir), **given)
    else:
        config = DhsConfig(**options, path=path)
    con = Console(stderr=True)
    shown = progress and con.is_terminal
    columns = (TextColumn("search epochs"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[stats]}"), TimeRemainingColumn())
    with Progress(*columns, console=con, transient=True, disable=not shown) as bar:
        task = bar.add_task("dhs", total=config.epochs, stats="")

        def report(done: int, total: int, row: dict) -> None:
            stats = ""
            if row:
                stats = f"loss {row['train_loss']:.3f} acc {row['train_acc']:.1%}"
                if row["arch_acc"] is not None:
                    stats += f" | B {row['arch_acc']:.1%}"
            bar.update(task, completed=done, total=total, stats=stats)

        result = run_dhs(config, out_dir, resume=resume, progress=report, bars=shown)
    last = result.history[-1] if result.history else {}
    cell = [{"src": s, "dst": d, "op": op} for s, d, op in result.cell]
    if fmt == "json":
        _echo_json({"config": config.to_dict(), "cell": cell, "path": result.path,
                    "epochs": len(result.history), "resumed_from": result.resumed_from,
                    "seconds": result.seconds, "last": {k: v for k, v in last.items()
                                                        if k not in ("alpha", "beta")},
                    "weights": result.weights,
                    "paths": {k: str(v) for k, v in result.paths.items()}})
    else:
        names = {-2: "s0", -1: "s1"}
        edges = ", ".join(f"{names.get(s, f'n{s}')}->n{d} {op}" for s, d, op in result.cell)
        click.echo(f"searched {len(result.history)} epochs ({result.resumed_from} resumed) in "
                   f"{result.seconds:.1f} s")
        if last:
            b = "" if last.get("arch_acc") is None else f", half B {last['arch_acc']:.2%}"
            click.echo(f"last epoch: train accuracy {last['train_acc']:.2%}{b}")
        click.echo(f"cell: {edges}")
        click.echo(f"path: {result.path}")
    click.echo(f"wrote {result.paths['genome']}, {result.paths['arch']} and "
               f"{result.paths['plot']}", err=True)


class _HnsDefault(_SearchDefault):
    """HnsConfig's default of ``field``, read lazily (see :class:`_SearchDefault`)."""

    module, config = "hns", "HnsConfig"


def _factors_option(ctx, param, values: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    out = []
    for v in values:
        model, sep, number = v.partition("=")
        try:
            out.append((model.strip(), float(number)))
        except ValueError:
            sep = ""
        if not sep or not model.strip():
            raise click.BadParameter(f"expected MODEL=NUMBER such as relu=4.26, got {v!r}")
    return tuple(out)


@search_group.command("hns")
@click.argument("genome", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of store.sqlite, supernet.pt, hybrid.genome, search.json, weights.png.")
@click.option("--resume", is_flag=True,
              help="Continue the search stored in --out from its last epoch (GENOME optional).")
@click.option("--data", "dataset", default=_HnsDefault("dataset"), show_default=True,
              help="mnist, fashion-mnist, digits, cifar10 or cifar100 (split in two halves).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Read the dataset from here.")
@click.option("--limit-train", type=click.IntRange(4), help="Use only the first N training images.")
@click.option("--candidates", default=_HnsDefault("candidates"), show_default=True,
              help="Comma-separated candidate neurons: lif (the layer's own), relu, alif, or a "
                   "neuron spec such as 'alif leak=0.2 rho=0.5'.")
@click.option("--layers", help="Comma-separated layers searched (default: every layer).")
@click.option("--lam", "--lambda", "lam", type=click.FloatRange(0), default=_HnsDefault("lam"),
              show_default=True, help="Weight of the energy loss (eq. 28; 0: off).")
@click.option("--energy-factor", "energy_factors", multiple=True, callback=_factors_option,
              help="MODEL=RHO, repeatable: eq. 28's energy factor of a neuron model (default "
                   "lif/if/plif/alif 1, relu 4.26).")
@click.option("--energy-weight", type=click.Choice(["layer", "ops"]),
              default=_HnsDefault("energy_weight"), show_default=True,
              help="layer: eq. 28 as written (each layer 1); ops: layers weighted by the "
                   "operations their neurons drive.")
@click.option("--optimisation", type=click.Choice(["joint", "bilevel"]),
              default=_HnsDefault("optimisation"), show_default=True,
              help="joint: weights and control parameters on the same batch (Algorithm 3); "
                   "bilevel: the control parameters on the other half (Algorithm 1).")
@click.option("--rho", type=click.FloatRange(0, 1), default=_HnsDefault("rho"), show_default=True,
              help="The alif candidate's threshold decay (SpikeDHS eq. 8).")
@click.option("--adapt", type=click.FloatRange(0), default=_HnsDefault("adapt"),
              show_default=True, help="The alif candidate's threshold increment (eq. 7).")
@click.option("--T", "T", type=click.IntRange(1), help="Time steps (default: the genome's).")
@click.option("--epochs", type=click.IntRange(1), default=_HnsDefault("epochs"),
              show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=_HnsDefault("warmup"),
              show_default=True, help="First epochs with fixed control parameters.")
@click.option("--batch-size", type=click.IntRange(1), default=_HnsDefault("batch_size"),
              show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=_HnsDefault("lr"),
              show_default=True, help="Weights' SGD learning rate (cosine schedule).")
@click.option("--eta-min", type=click.FloatRange(0), default=_HnsDefault("eta_min"),
              show_default=True, help="End of the cosine schedule.")
@click.option("--arch-lr", type=click.FloatRange(0, min_open=True),
              default=_HnsDefault("arch_lr"), show_default=True,
              help="Control parameters' Adam learning rate.")
@click.option("--seed", type=click.IntRange(0), default=_HnsDefault("seed"), show_default=True)
@click.option("--threads", type=click.IntRange(1), default=_HnsDefault("threads"),
              show_default=True, help="Torch threads (results depend on it).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]),
              default=_HnsDefault("dtype"), show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars on stderr (terminals only).")
@format_option
@friendly
def search_hns_cmd(genome: Path | None, out_dir: Path, resume: bool, progress: bool, fmt: str,
                   **options) -> None:
    """Hybrid network search (SpikeDHS section 4.4): each layer of the SpikeDHS GENOME chooses
    between spiking and non-spiking (ReLU) neurons, trained with the energy loss of eq. 28; writes
    the hybrid genome that snnc train retrains.

    With --resume, options left out take the stored search's values, and different ones are
    refused."""
    import dataclasses

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.progress import TimeRemainingColumn

    from .compiler import read_text
    from .genome import parse, to_text
    from .search.hns import HnsConfig, run_hns, stored_hns_config

    for key in ("candidates", "layers"):
        if options[key] is not None:
            options[key] = tuple(p.strip() for p in options[key].split(",") if p.strip())
    if genome is not None:
        options["genome"] = to_text(parse(read_text(genome), filename=str(genome)))
    elif not resume:
        raise click.UsageError("give the SpikeDHS GENOME to search (or --resume)")
    if resume:
        given = _given(options)
        if genome is not None:
            given["genome"] = options["genome"]
        config = dataclasses.replace(stored_hns_config(out_dir), **given)
    else:
        config = HnsConfig(**options)
    con = Console(stderr=True)
    shown = progress and con.is_terminal
    columns = (TextColumn("HNS epochs"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=con, transient=True, disable=not shown) as bar:
        task = bar.add_task("hns", total=config.epochs)
        result = run_hns(config, out_dir, resume=resume, bars=shown,
                         progress=lambda done, total: bar.update(task, completed=done,
                                                                 total=total))
    if fmt == "json":
        _echo_json({"config": {k: v for k, v in config.to_dict().items() if k != "genome"},
                    "choice": result.choice, "probabilities": result.probabilities,
                    "val_acc_mixed": result.val_acc_mixed,
                    "val_acc_decoded": result.val_acc_decoded,
                    "energy_mixed": result.energy_mixed, "energy_decoded": result.energy_decoded,
                    "resumed_from": result.resumed_from, "attempt": result.attempt,
                    "seconds": result.seconds,
                    "paths": {k: str(v) for k, v in result.paths.items()}})
    else:
        from rich.table import Table

        t = Table(title=f"HNS, lambda = {config.lam:g} ({config.epochs} epochs, "
                        f"{config.optimisation})", show_edge=False)
        t.add_column("layer")
        t.add_column("choice")
        t.add_column(f"softmax weights ({' '.join(result.labels)})")
        for name, label in result.choice.items():
            t.add_row(name, label, "  ".join(f"{p:.3f}" for p in result.probabilities[name]))
        _console().print(t)
        click.echo(f"validation accuracy: decoded {result.val_acc_decoded:.2%} (mixed "
                   f"{result.val_acc_mixed:.2%}); expected energy term: decoded "
                   f"{result.energy_decoded:.3f}, mixed {result.energy_mixed:.3f}")
    click.echo(f"{result.seconds:.1f} s; wrote {result.paths['genome']} and "
               f"{result.paths['report']}", err=True)


def _json_number(x: float):
    """JSON has no NaN or infinity: those as strings ("nan"), like the experiment store."""
    import math

    return x if math.isfinite(x) else repr(float(x))


def _si(x: float) -> str:
    """Compact count: 950, 6.91k, 84.9M, 1.23G."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}" if x != int(x) else f"{int(x)}"


def _energy_units(pj: float) -> str:
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3f} {unit}"
    return f"{pj:.1f} pJ"


@cli.command("energy")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--data", "dataset",
              help="Dataset the firing rates are measured on (mnist, digits, ...); default: the "
                   "one the model was trained on. Rates are always measured on data.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path),
              help="Read the dataset from this folder.")
@click.option("--samples", type=click.IntRange(1), default=256, show_default=True,
              help="Test images the rates are measured on.")
@click.option("--backend", type=click.Choice(["torch", "interpreter", "lava"]), default="torch",
              show_default=True, help="What runs the model while probes record spikes: the "
                                      "PyTorch backend, the reference interpreter, or Lava "
                                      "(Loihi 2 simulation of the lava target's graph).")
@click.option("--table", default="45nm", show_default=True,
              help="Energy table: 45nm (= 45nm-fp32, Horowitz 2014), 45nm-fp16, 45nm-int32, "
                   "45nm-int8, or a JSON file {name, e_mac_pj, e_ac_pj, source}.")
@click.option("--target", type=click.Choice(["paper", "lava"]), default="paper",
              show_default=True,
              help="paper: as STTS Appendix C counts (separable convs unfolded, first layer once, "
                   "SOP = rate*T*MACs); lava: what the Lava backend deploys (folded dense convs, "
                   "first layer every step, SOP = synaptic events: each spike times its "
                   "effective fan-out, pooling folded into the next layer, padding excluded).")
@click.option("--first-layer", type=click.Choice(["per-step", "once"]), default=None,
              help="Override the target's rule for the analog first layer: T * MACs (per-step), "
                   "or MACs once (STTS eq. C.2 as printed).  [default: the target's]")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True, help="Torch backend precision.")
@click.option("--threads", type=click.IntRange(0), default=0, help="Torch threads (0: default).")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of rate-encoded inputs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="table (rich), json (schema snnc-energy/4) or csv (layers).")
@friendly
def energy_cmd(model: Path, dataset, data_root, samples: int, backend: str, table: str,
               first_layer: str | None, target: str, batch_size: int, dtype: str, threads: int,
               seed: int, fmt: str) -> None:
    """Energy per inference of MODEL (a run folder, .snnir or genome file): per-layer MACs and
    SOPs with firing rates measured by probes on test images (STTS Appendix C, eqs. C.1-C.2)."""
    from rich.console import Console
    from rich.progress import Progress

    from .runtime.energy_run import energy_report

    con = Console(stderr=True)
    with Progress(console=con, transient=True, disable=not con.is_terminal) as bar:
        task = bar.add_task(f"firing rates ({backend})", total=samples)
        report = energy_report(
            model, dataset, data_root=data_root, samples=samples, backend=backend, table=table,
            target=target, first_layer=first_layer.replace("-", "_") if first_layer else None,
            batch_size=batch_size, seed=seed, dtype=dtype, threads=threads,
            progress=lambda done, total: bar.update(task, completed=done, total=total))
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    if fmt == "csv":
        click.echo(report.to_csv(), nl=False)
        return
    from rich.table import Table

    tot, ann = report.totals, report.ann
    unit, scale = next(((u, k) for u, k in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3))
                        if tot["energy_pj"] >= k), ("pJ", 1.0))
    t = Table(title=f"energy per inference of {report.model} (T={report.T}, {report.table.name}: "
                    f"E_MAC {report.table.e_mac_pj} pJ, E_AC {report.table.e_ac_pj} pJ)",
              caption=report.ac_rule, show_edge=False)
    for col in ("layer", "op", "MACs/step", "input", "rate", "MACs", "SOPs", unit, "share"):
        t.add_column(col, justify="left" if col in ("layer", "op", "input") else "right",
                     no_wrap=col == "layer")
    for r in report.layers:
        t.add_row(r.name, r.op, _si(r.macs_per_step), r.input,
                  "-" if r.input_rate is None else f"{r.input_rate:.3f}",
                  _si(r.macs) if r.count_as == "MAC" else "-",
                  _si(r.sops) if r.count_as == "AC" else "-",
                  f"{r.energy_pj / scale:,.3f}", f"{r.share:.1%}")
    t.add_section()
    t.add_row("total", "", _si(tot["macs_per_step"]), "", "", _si(tot["macs"]), _si(tot["sops"]),
              f"{tot['energy_pj'] / scale:,.3f}", "100.0%")
    con = _console()
    con.print(t)
    ratio = "" if ann["ann_over_snn"] is None else f"  (ANN / SNN = {ann['ann_over_snn']:.2f}x)"
    con.print(f"SNN {_energy_units(tot['energy_pj'])} = MAC {_energy_units(tot['energy_mac_pj'])}"
              f" + AC {_energy_units(tot['energy_ac_pj'])};  ANN equivalent (one pass, E_MAC * "
              f"{ann['macs']:,} MACs) {_energy_units(ann['energy_pj'])}{ratio}")
    if tot["layers_analog"]:
        con.print(f"hybrid network: {tot['layers_analog']} layer(s) fed by non-spiking (ReLU) "
                  f"neurons counted as MACs (input 'analog'): "
                  f"{_energy_units(tot['energy_analog_pj'])}")
    con.print(f"rates measured by {report.rates_backend} on {report.samples} {report.dataset} "
              f"test images; energy target {report.target}; first layer counted "
              f"{report.first_layer.replace('_', '-')}; ANN counted on {ann['counted_on']}; "
              f"passes {report.passes}")


def _shape_option(ctx, param, value: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(p) for p in value.lower().split("x"))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise click.BadParameter(f"expected a shape like 3x32x32, got {value!r}")
    return shape


@import_group.command("snasnet-code")
@click.argument("code", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Genome file to write (default: print the genome).")
@click.option("--name", default="snasnet", show_default=True, help="The genome's name.")
@click.option("--classes", type=click.IntRange(1), default=10, show_default=True)
@click.option("--channels", type=click.IntRange(1), default=128, show_default=True,
              help="C: the first cell's width (the second cell has 2C).")
@click.option("--T", "T", type=click.IntRange(1), default=5, show_default=True)
@click.option("--input", "input_shape", default="3x32x32", show_default=True,
              callback=_shape_option, help="Input shape per sample, CxHxW.")
@click.option("--vote", type=click.IntRange(0), default=10, show_default=True,
              help="Voting population per class (0: a plain output layer).")
@click.option("--hidden", type=click.IntRange(0), default=1024, show_default=True)
@click.option("--pool", type=click.IntRange(1), default=2, show_default=True,
              help="Kernel of the average pool before the classifier.")
@click.option("--order", type=click.Choice(["paper", "code"]), default="paper", show_default=True,
              help="Reduction layer order: the paper's (section 5.1) or the authors' code's.")
@friendly
def import_snasnet_cmd(code: tuple[str, ...], output: Path | None, **options) -> None:
    """Write the SNASNet genome of the authors' 4x4 cell CODE, e.g. 0302 0030 3003 0000."""
    from .genome import to_text
    from .genome.snasnet_code import genome_from_code

    text = to_text(genome_from_code(" ".join(code), **options))
    if output is None:
        click.echo(text, nl=False)
        return
    from .atomic import atomic_write_text

    atomic_write_text(output, text)
    click.echo(f"wrote {output}", err=True)


def main() -> None:
    cli(prog_name="snnc")


if __name__ == "__main__":
    main()
