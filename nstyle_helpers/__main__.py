"""``python -m nstyle_helpers`` and the ``nstyle`` command: :func:`nstyle_helpers.cli.main`."""

import os
import signal
import sys

from .base.errors import nothing_written

INTERRUPTED = nothing_written("interrupted")


def _stop_while_loading(_signum, _frame) -> None:
    # No KeyboardInterrupt inside torch's import: its C code swallows one while it imports
    # numpy, and its C++ code aborts on one ("terminate called ... KeyboardInterrupt").
    os.write(sys.stderr.fileno(), f"{INTERRUPTED}\n".encode())
    os._exit(130)  # nothing is open or written yet


def console_main() -> None:
    """Run the command line, then exit with its status.

    The command line imports torch, which takes seconds: a Ctrl-C then ends at once in the same
    one line as a Ctrl-C before the run's first step (the package's ``__init__`` imports
    nothing heavy, so this function is running by then). A reader that stops early
    (``nstyle info | head -1``) ends the command without a traceback. After an interruption,
    a second Ctrl-C while Python shuts down would print a traceback from its exit handlers;
    it is ignored from then on.
    """
    # A shell that started the command in the background ignores SIGINT for it: so do we.
    catching = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if catching:
        signal.signal(signal.SIGINT, _stop_while_loading)
    from .cli import ignore_interrupts, main

    if catching:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main()
        sys.stdout.flush()
    except KeyboardInterrupt:  # while the arguments were read, before main's own handling
        print(INTERRUPTED, file=sys.stderr)
        status = 130
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at nothing, so that is quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    if status in (130, 143):
        ignore_interrupts()
    sys.exit(status)


if __name__ == "__main__":
    console_main()
