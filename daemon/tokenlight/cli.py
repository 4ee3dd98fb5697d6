"""``tokenlight attribute | methods``: attribution from the terminal.

Bad input exits with status 2 and one line that says what to do; no traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

FORMATS = ("term", "json", "html", "msgpack")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the issue's contract for bad input)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tokenlight", description="See which tokens made a language model say what it said.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    att = sub.add_parser(
        "attribute",
        help="attribute a continuation of a prompt to its tokens",
        description="Generate (or force) a continuation and attribute every target token to every token before it.",
    )
    att.add_argument("text", nargs="?", default=None, help="the prompt (empty: continue from BOS)")
    att.add_argument("--file", type=Path, help="read the prompt from a UTF-8 file")
    att.add_argument("--start", type=int, help="with --file: first character (code point) of the prompt")
    att.add_argument("--end", type=int, help="with --file: character after the prompt's last")
    att.add_argument("--model", help="model folder or cached Hugging Face id (default: embedded tokenlight-tiny-py)")
    att.add_argument("--method", default="integrated_gradients", help="attribution method id (tokenlight methods)")
    att.add_argument("--max-new-tokens", type=int, default=8, help="tokens to generate (default 8)")
    att.add_argument("--target-text", help="force-decode this text instead of generating")
    att.add_argument("--target-class", help="sequence classifiers: class index or label (default: predicted)")
    att.add_argument("--n-steps", type=int, help="path points for path methods (default: the method's)")
    att.add_argument(
        "--integration", default="auto", help="auto (adaptive; Gauss-Legendre with --n-steps) or a quadrature rule"
    )
    att.add_argument("--tolerance", type=float, help="adaptive IG: target |delta| / |f(x) - f(x')| (default 1e-3)")
    att.add_argument("--n-samples", type=int, help="samples for gradient_shap, deeplift_shap, lime, kernel_shap")
    att.add_argument("--strategy", choices=("greedy", "maxcount"), help="discretized_integrated_gradients anchors")
    att.add_argument("--layers", choices=("last", "mean"), help="attention: last layer (default) or mean of all")
    att.add_argument("--aggregate", choices=("token", "word"), default="token", help="sum subword scores into words")
    att.add_argument("--baseline", default="zero", help="zero | unk | pad | eos | mask | token:<text>")
    att.add_argument(
        "--step-function", default="logit", help="logit | probability | log_probability | logit_diff | probability_diff"
    )
    att.add_argument("--contrast-token", help="the alternative token for logit_diff / probability_diff")
    att.add_argument("--internal-batch-size", type=int, help="path points per forward pass (never changes results)")
    att.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    att.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    att.add_argument("--temperature", type=float, default=1.0)
    att.add_argument("--top-k", type=int)
    att.add_argument("--top-p", type=float)
    att.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    att.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    att.add_argument("--device-map", choices=("auto",), help="spread the model over all visible GPUs (accelerate)")
    att.add_argument("--allow-download", action="store_true", help="fetch the model from the Hub if not cached")
    att.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")
    att.add_argument("--format", choices=FORMATS, default="term")
    att.add_argument("--output", type=Path, help="write the result here instead of standard output")
    att.add_argument("--focus", type=int, help="term format: colour the prompt for this target index only")
    att.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    # `serve` is dispatched in main() before parsing, so that its own parser (and no torch) runs
    sub.add_parser("serve", help="run the language server (tokenlight serve --help)", add_help=False)

    meth = sub.add_parser("methods", help="list the attribution methods")
    meth.add_argument("--format", choices=("term", "json"), default="term")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")  # captum.attr imports pyplot; never open a display
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        from .server import main as serve

        return serve(argv[1:])
    args = build_parser().parse_args(argv)
    from .engine.errors import TokenlightError

    try:
        if args.command == "methods":
            return _methods(args)
        return _attribute(args)
    except TokenlightError as exc:
        print(f"tokenlight: error: {_in_this_commands_terms(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tokenlight: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"tokenlight: internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _in_this_commands_terms(exc: Exception, args: argparse.Namespace) -> str:
    """The error's message; where the remedy depends on the caller (the engine's words are
    neutral), worded for the input and the flags this command was given."""
    from .engine.errors import ContextLengthError, ModelNotCachedError

    if isinstance(exc, ModelNotCachedError):
        return exc.advise("rerun with --allow-download")
    if isinstance(exc, ContextLengthError):
        shorten = f"give a shorter range of {args.file} with --start/--end" if args.file else "shorten the prompt"
        fewer = "lower --max-new-tokens" if args.target_text is None else "shorten --target-text"
        return exc.advise(shorten, fewer)
    return str(exc)


def _methods(args: argparse.Namespace) -> int:
    from .engine import list_methods

    described = [m.describe() for m in list_methods()]
    if args.format == "json":
        print(json.dumps(described, indent=2, ensure_ascii=False))
        return 0
    width = max(len(d["id"]) for d in described)
    for d in described:
        delta = "delta" if d["convergenceDelta"] else "no delta"
        print(f"{d['id']:<{width}}  {d['label']} ({d['family']}, {delta})\n{'':<{width}}  {d['description']}")
    return 0


def _read_prompt(args: argparse.Namespace) -> str:
    from .engine.errors import InputError

    if args.file is None:
        if args.start is not None or args.end is not None:
            raise InputError("--start and --end select a range of --file; give --file too")
        return args.text or ""
    if args.text is not None:
        raise InputError("give the prompt either as TEXT or with --file, not both")
    try:
        content = args.file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"no such file: {args.file}") from None
    except IsADirectoryError:
        raise InputError(f"{args.file} is a directory; give a text file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{args.file} is not UTF-8 text (byte {exc.start}); convert it first") from None
    except OSError as exc:
        raise InputError(f"cannot read {args.file}: {exc.strerror}") from None
    start = 0 if args.start is None else args.start
    end = len(content) if args.end is None else args.end
    if not 0 <= start <= end <= len(content):
        raise InputError(
            f"--start {start} --end {end} is not a range inside {args.file} (0..{len(content)} characters)"
        )
    return content[start:end]


def _attribute(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from .engine import attribute, load_model
    from .engine.errors import InputError

    hf_logging.set_verbosity_error()
    prompt = _read_prompt(args)
    if args.format == "msgpack" and args.output is None and sys.stdout.isatty():
        raise InputError("msgpack is binary; write it to a file with --output PATH")
    lm = load_model(
        args.model,
        device=args.device,
        dtype=args.dtype,
        device_map=args.device_map,
        trust_remote_code=args.trust_remote_code,
        allow_download=args.allow_download,
    )
    res = attribute(
        lm,
        prompt,
        max_new_tokens=args.max_new_tokens,
        target_text=args.target_text,
        target_class=args.target_class,
        method=args.method,
        n_steps=args.n_steps,
        baseline=args.baseline,
        step_function=args.step_function,
        contrast_token=args.contrast_token,
        internal_batch_size=args.internal_batch_size,
        integration=args.integration,
        tolerance=args.tolerance,
        n_samples=args.n_samples,
        layers=args.layers,
        aggregate=args.aggregate,
        strategy=args.strategy,
        sample=args.sample,
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
    )
    if args.focus is not None and not 0 <= args.focus < len(res.target_tokens):
        raise InputError(f"--focus {args.focus} is not a target index (0..{len(res.target_tokens) - 1})")
    data = _format(res, args)
    if args.output is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return 0
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        os.replace(tmp, args.output)
    except OSError as exc:
        raise InputError(f"cannot write {args.output}: {exc.strerror}") from None
    print(f"wrote {args.format} to {args.output}", file=sys.stderr)
    return 0


def _format(res, args: argparse.Namespace) -> str | bytes:
    if args.format == "json":
        return json.dumps(res.to_json_dict(), ensure_ascii=False, indent=1) + "\n"
    if args.format == "msgpack":
        return res.to_msgpack()
    from .render import render_html, render_terminal

    if args.format == "html":
        return render_html(res)
    color = args.color == "always" or (
        args.color == "auto" and args.output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    )
    return render_terminal(res, color=color, focus=args.focus)


if __name__ == "__main__":
    raise SystemExit(main())
