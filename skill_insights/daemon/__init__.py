"""The capture daemon: watchdog over the transcript roots, hook nudges over a unix socket, a spool, a scheduler.

`service.Daemon` runs the loop (`skill-insights daemon run`); `control` holds the single-instance lock and
the start/stop/status side; `scheduler.Scheduler` is where periodic jobs register.
"""
