"""Carrying out a plan: the executor (dependency order, parallel, retried, recorded) and the run
lock that lets one apply run at a time."""
