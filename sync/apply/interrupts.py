"""Ctrl-C goes to the main thread. The kernel hands a process's signal to any thread that does
not block it; a worker blocked in a socket would take it and leave the main thread asleep
until some operation ends, while the workers start more. Worker threads block SIGINT and
SIGTERM, so the main thread's wait is interrupted at once and it can stop the others."""

import signal
import threading

INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def leave_interrupts_to_the_main_thread() -> None:
    """Block Ctrl-C and SIGTERM in the calling thread (a pool's initializer, a thread's start)."""
    if threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
