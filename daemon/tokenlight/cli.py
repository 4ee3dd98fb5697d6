"""``tokenlight attribute | methods``: attribution from the terminal.

Bad input exits with status 2 and one line that says what to do; no traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from .engine.options import CLI, DEFAULT_METHOD, Option, list_options

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
    _add_prompt_flags(att)
    att.add_argument("--model", help="model folder or cached Hugging Face id (default: embedded tokenlight-tiny-py)")
    att.add_argument("--method", default=DEFAULT_METHOD, help="attribution method id (tokenlight methods)")
    att.add_argument("--target-text", help="force-decode this text instead of generating")
    att.add_argument("--target-class", help="sequence classifiers: class index or label (default: predicted)")
    add_option_flags(att)
    _add_model_flags(att)
    att.add_argument("--format", choices=FORMATS, default="term")
    att.add_argument("--output", type=Path, help="write the result here instead of standard output")
    att.add_argument("--focus", type=int, help="term format: colour the prompt for this target index only")
    att.add_argument(
        "--top-spans",
        type=int,
        default=5,
        metavar="K",
        help="term format: list the K largest spans with their lines (with --granularity or a span method)",
    )
    att.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    att.add_argument(
        "--against",
        metavar="TEXT",
        help="attribute TEXT too, for the same target as the prompt, and show where the attributions differ "
        "(aligned by token; json or term)",
    )

    cmp = sub.add_parser(
        "compare",
        help="run several methods on one prompt, measure each one's faithfulness and recommend one",
        description="Attribute the prompt with each method, evaluate its faithfulness on this prompt (deletion "
        "and insertion AUCs against random orders), their rank agreement, and say which explains it best.",
    )
    _add_prompt_flags(cmp)
    cmp.add_argument(
        "--methods",
        help="comma-separated method ids (default: saliency,input_x_gradient,integrated_gradients,occlusion)",
    )
    cmp.add_argument("--model", help="model folder or cached Hugging Face id (default: embedded tokenlight-tiny-py)")
    cmp.add_argument("--target-text", help="force-decode this text instead of generating")
    cmp.add_argument("--target-class", help="sequence classifiers: class index or label (default: predicted)")
    add_option_flags(cmp)
    _add_model_flags(cmp)
    cmp.add_argument("--format", choices=("term", "json"), default="term")

    # `serve` is dispatched in main() before parsing, so that its own parser (and no torch) runs
    sub.add_parser("serve", help="run the language server (tokenlight serve --help)", add_help=False)

    diff = sub.add_parser(
        "diff",
        help="the difference B − A between two attribution results",
        description="Align two results (JSON or msgpack from tokenlight attribute) by token text and show B − A; "
        "tokens found in one result only are listed.",
    )
    diff.add_argument("a", type=Path, help="the first result (A)")
    diff.add_argument("b", type=Path, help="the second result (B)")
    diff.add_argument("--format", choices=("term", "json"), default="term")

    meth = sub.add_parser("methods", help="list the attribution methods")
    meth.add_argument("--format", choices=("term", "json"), default="term")
    return parser


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option offered on the CLI (engine/options.py): type, range and choices from the
    spec. Every flag defaults to None ("not given"), so the engine's defaults apply, declared once."""
    for option in list_options(CLI):
        default = option.default if option.default is not None else option.default_text
        text = option.help + ("" if default is None or default is False else f" (default: {default})")
        text = text.replace("%", "%%")  # argparse formats help with %: a "5%" in a help text would break --help
        if option.kind is bool:
            parser.add_argument(option.flag, dest=option.name, action="store_true", default=None, help=text)
            continue
        choices = option.choices if isinstance(option.choices, tuple) else None
        parser.add_argument(
            option.flag,
            dest=option.name,
            type=_value_parser(option),
            choices=choices,
            metavar=None if choices else option.metavar or option.kind.__name__.upper(),
            help=text,
        )


def _value_parser(option: Option) -> Any:
    """argparse ``type=``: the text as the option's type, checked against its range; a bad value
    is argparse's one-line usage error that names the flag and what it accepts."""

    def parse(text: str) -> Any:
        from .engine.errors import InputError

        try:
            value = option.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {_kind_name(option.kind)}") from None
        try:
            return option.validate(value, option.flag, registries=False)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.kind.__name__  # argparse names the type in its messages
    return parse


def _kind_name(kind: type) -> str:
    return {int: "a whole number", float: "a number"}.get(kind, "a string")


def _add_prompt_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default=None, help="the prompt (empty: continue from BOS)")
    parser.add_argument("--file", type=Path, help="read the prompt from a UTF-8 file")
    parser.add_argument("--start", type=int, help="with --file: first character (code point) of the prompt")
    parser.add_argument("--end", type=int, help="with --file: character after the prompt's last")


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Where and how the model loads (what :func:`_load` reads)."""
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    parser.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    parser.add_argument("--device-map", choices=("auto",), help="spread the model over all visible GPUs (accelerate)")
    parser.add_argument("--allow-download", action="store_true", help="fetch the model from the Hub if not cached")
    parser.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code")


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
        if args.command == "compare":
            return _compare(args)
        if args.command == "diff":
            return _diff(args)
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
    if isinstance(exc, ContextLengthError) and args.command == "attribute":
        shorten = f"give a shorter range of {args.file} with --start/--end" if args.file else "shorten the prompt"
        fewer = "lower --max-new-tokens" if getattr(args, "target_text", None) is None else "shorten --target-text"
        return exc.advise(shorten, fewer)
    return str(exc)


def _diff(args: argparse.Namespace) -> int:
    from .diff import diff_results, load_result, render_diff

    d = diff_results(load_result(args.a), load_result(args.b))
    sys.stdout.write(json.dumps(d, ensure_ascii=False, indent=1) + "\n" if args.format == "json" else render_diff(d))
    return 0


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


def _read_prompt(args: argparse.Namespace) -> tuple[str, int | None]:
    """The prompt and, with ``--context document``, where the selection starts in it (the prompt is
    then the file from its start to ``--end``)."""
    text = _read_text(args)
    if getattr(args, "context", None) != "document":
        return text, None
    if args.file is None:
        return text, None  # the whole prompt is the document, its end the selection
    start = 0 if args.start is None else args.start
    end = len(text) + start
    content = args.file.read_bytes().decode("utf-8")
    return content[:end], start


def _read_text(args: argparse.Namespace) -> str:
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


def _load(args: argparse.Namespace) -> Any:
    from transformers.utils import logging as hf_logging

    from .engine import load_model

    hf_logging.set_verbosity_error()
    return load_model(
        args.model,
        device=args.device,
        dtype=args.dtype,
        device_map=args.device_map,
        trust_remote_code=args.trust_remote_code,
        allow_download=args.allow_download,
    )


def _option_values(args: argparse.Namespace) -> dict[str, Any]:
    return {o.name: getattr(args, o.name) for o in list_options(CLI) if getattr(args, o.name) is not None}


def _compare(args: argparse.Namespace) -> int:
    from .engine.compare import compare
    from .engine.errors import InputError

    prompt, selection_start = _read_prompt(args)
    if selection_start is not None:
        raise InputError("compare attributes a selection on its own; drop --context document")
    methods = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    lm = _load(args)
    report = compare(
        lm,
        prompt,
        methods=methods,
        target_text=args.target_text,
        target_class=args.target_class,
        **_option_values(args),
    )
    if args.format == "json":
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    else:
        from .render.compare import render_compare

        sys.stdout.write(render_compare(report))
    return 0


def _attribute(args: argparse.Namespace) -> int:
    from .engine import attribute
    from .engine.errors import InputError

    prompt, selection_start = _read_prompt(args)
    if args.top_spans < 0:
        raise InputError(f"--top-spans must be at least 0 (got {args.top_spans})")
    if args.format == "msgpack" and args.output is None and sys.stdout.isatty():
        raise InputError("msgpack is binary; write it to a file with --output PATH")
    if args.against is not None:
        if args.format not in ("term", "json"):
            raise InputError("--against writes json or term; drop --format " + args.format)
        if selection_start is not None:
            raise InputError("--against compares two selections on their own; drop --context document")
        return _against(args, prompt)
    lm = _load(args)
    options = _option_values(args)
    res = attribute(
        lm,
        prompt,
        method=args.method,
        target_text=args.target_text,
        target_class=args.target_class,
        selection_start=selection_start,
        **options,
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


def _against(args: argparse.Namespace, prompt: str) -> int:
    from .engine.against import attribute_against

    lm = _load(args)
    report = attribute_against(
        lm,
        prompt,
        args.against,
        method=args.method,
        target_text=args.target_text,
        target_class=args.target_class,
        **_option_values(args),
    )
    if args.format == "json":
        data = json.dumps(report, ensure_ascii=False, indent=1) + "\n"
    else:
        from .render.compare import render_against

        data = render_against(report)
    if args.output is None:
        sys.stdout.write(data)
    else:
        args.output.write_text(data, encoding="utf-8")
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
    return render_terminal(res, color=color, focus=args.focus, top_spans=args.top_spans)


if __name__ == "__main__":
    raise SystemExit(main())
