"""The command line: `main()` turns arguments into one run, prints the summary, writes the
reports and returns the exit status (0 conformant, 1 not conformant, 2 could not run)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from screening_eagle_id._stdout import Output, OutputError, reader_gone, silence_stdout

from ._arguments import (
    DEFAULT_SCOPE,
    build_parser,
    env,
    read_secret,
    secret_on_argv,
)
from ._fuzz import DEFAULT_SEED
from ._http import TOKEN_PATH, Prober, Target, check_url, split_url
from ._preflight import CannotRun
from ._report import Profile, write_json, write_junit, write_markdown
from ._runner import DEFAULT_MAX_EXAMPLES, Options, run

__all__ = ["EXIT_CANNOT_RUN", "EXIT_CONFORMANT", "EXIT_NOT_CONFORMANT", "main"]

EXIT_CONFORMANT, EXIT_NOT_CONFORMANT, EXIT_CANNOT_RUN = 0, 1, 2


class _Stdout(Output):
    """sys.stdout while the suite runs: a write that fails raises OutputError."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Command line entry point; returns 0 conformant, 1 not conformant, 2 could not run.

    An output that cannot be written (`> /dev/full`) is one line on stderr and 2: nothing
    was reported; a reader that went away (`| head`) is quiet, 141, like any Unix filter."""
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)
    try:
        status = _command(argv, prog)
        sys.stdout.flush()
        return status
    except OutputError as exc:
        print(f"conformance: cannot write to standard output: {exc.reason}", file=sys.stderr)
        silence_stdout()
        return EXIT_CANNOT_RUN
    except BrokenPipeError:
        return reader_gone()
    finally:
        sys.stdout = stdout


def _command(argv: Sequence[str] | None, prog: str | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = prog or "python -m screening_eagle_id_conformance"
    leaked = secret_on_argv(argv)
    if leaked is not None:
        print(
            f"conformance: {leaked} is not accepted: a secret on the command line is visible to "
            "every local user in the process list; set EAGLE_ID_CLIENT_SECRET (or "
            "EAGLE_ID_SPECIAL_CLIENT_SECRET) or use --client-secret-file",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (argparse exits 2)
        return int(exc.code or 0)
    try:
        with ExitStack() as stack:
            return _main(args, stack)
    except CannotRun as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except (OutputError, BrokenPipeError):
        raise
    except Exception as exc:  # a crash of the suite is "could not run", never "not conformant"
        text = f"{type(exc).__name__}: {exc}"
        for name in ("EAGLE_ID_CLIENT_SECRET", "EAGLE_ID_SPECIAL_CLIENT_SECRET"):
            secret = env(name)
            if secret:
                text = text.replace(secret, "[REDACTED]")
        print(f"conformance: the suite itself failed, nothing was judged: {text}", file=sys.stderr)
        return EXIT_CANNOT_RUN


def _embedded(stack: ExitStack) -> tuple[str, str, str]:
    try:
        from screening_eagle_id_server import (
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            Settings,
            create_app,
            serve_in_thread,
        )
    except ImportError:
        raise CannotRun(
            "no URL given (--url or EAGLE_ID_URL), and no embedded reference server to test: "
            "install screening-eagle-id[server] for one"
        ) from None
    url = stack.enter_context(serve_in_thread(create_app(Settings.dev())))
    print(f"conformance: no URL given — testing an embedded reference server at {url}")
    return url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def _endpoint_below(base: str, path: str, timeout: float, ca_file: str | None) -> str:
    """`path` from a `--url` with a path: the endpoint itself, or a prefix the spec's path is below.

    Whichever is not answered 404 by the server wins (one request each, no credentials).
    """
    below = path.rstrip("/") + TOKEN_PATH
    probe = Prober(
        Target(
            url=base,
            client_id="",
            client_secret="",
            scope="",
            timeout=timeout,
            token_path=below,
            ca_file=ca_file,
        )
    )
    try:
        exchange = probe.send("POST", authorization=None)
    finally:
        probe.close()
    if exchange.reply is not None and exchange.reply.status != 404:
        return below
    return path


def _main(args: argparse.Namespace, stack: ExitStack) -> int:
    url = args.url or env("EAGLE_ID_URL")
    client_id = args.client_id or env("EAGLE_ID_CLIENT_ID")
    secret = read_secret(args.client_secret_file, "EAGLE_ID_CLIENT_SECRET")
    if url is None:
        url, client_id, secret = _embedded(stack)
    problem = check_url(url, insecure=args.insecure or env("EAGLE_ID_INSECURE") == "1")
    if problem is not None:
        raise CannotRun(problem)
    if not client_id or not secret:
        raise CannotRun(
            "credentials missing: pass --client-id (or EAGLE_ID_CLIENT_ID) and set "
            "EAGLE_ID_CLIENT_SECRET (or --client-secret-file)"
        )
    special_id = args.special_client_id or env("EAGLE_ID_SPECIAL_CLIENT_ID")
    special_secret = read_secret(args.special_client_secret_file, "EAGLE_ID_SPECIAL_CLIENT_SECRET")
    if bool(special_id) != bool(special_secret):
        raise CannotRun(
            "give both --special-client-id and EAGLE_ID_SPECIAL_CLIENT_SECRET "
            "(or --special-client-secret-file), or neither"
        )
    base, token_path = split_url(url, args.token_path)
    if args.token_path is None and token_path != TOKEN_PATH and token_path.rstrip("/"):
        token_path = _endpoint_below(base, token_path, args.timeout, args.ca_file)
    target = Target(
        url=base,
        token_path=token_path,
        client_id=client_id,
        client_secret=secret,
        scope=args.scope or env("EAGLE_ID_SCOPE") or DEFAULT_SCOPE,
        special_client_id=special_id,
        special_client_secret=special_secret,
        special_scope=args.special_scope,
        timeout=args.timeout,
        ca_file=args.ca_file,
    )
    options = Options(
        target=target,
        max_examples=args.max_examples or DEFAULT_MAX_EXAMPLES,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        schemathesis=not args.no_schemathesis,
        profile=Profile(args.profile),
        disallowed_scope=args.disallowed_scope or env("EAGLE_ID_DISALLOWED_SCOPE"),
        fuzz_seconds=args.fuzz_seconds,
    )
    print(
        f"conformance: {target.token_url} as client {target.client_id!r}, scope "
        f"{target.scope!r}, profile {options.profile.value}"
    )
    try:
        report = run(options, emit=lambda line: print(line, flush=True))
    except CannotRun as exc:
        raise CannotRun(target.redact(str(exc))) from None
    written = [Path(args.junit)]
    write_junit(report, written[0])
    if args.report_json:
        write_json(report, args.report_json)
        written.append(args.report_json)
    if args.report_md:
        write_markdown(report, args.report_md)
        written.append(args.report_md)
    behaviours = report.behaviour_lines()
    if behaviours:
        print("conformance: findings by behaviour (each once, with the checks it broke):")
        for line in behaviours:
            print(line)
    verdict = "all applicable checks passed" if report.ok else "NOT CONFORMANT"
    print(
        f"conformance: {verdict} — {report.summary()}; reports: "
        + ", ".join(str(p) for p in written)
    )
    if report.failed or report.warned:
        print(
            "conformance: in the curl lines, replace [REDACTED] with "
            "'Basic ' + base64(form-urlencoded id ':' form-urlencoded secret)"
        )
    return EXIT_CONFORMANT if report.ok else EXIT_NOT_CONFORMANT
