"""Argument checks at the library's boundary: clear `ValueError`s that name the parameter."""

from __future__ import annotations

import numbers
import os
import re

__all__ = ["check_positive_int", "check_positive_float", "check_choice", "check_bool", "check_fraction", "check_fits_in_memory",
           "check_rates", "check_scheduler"]


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Return `value` if it is an int >= `minimum`, else raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")
    return int(value)


def check_positive_float(name: str, value: object) -> float:
    """Return `value` as a float if it is a finite number > 0, else raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 or value == float("inf"):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")
    return float(value)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return `value` if it is one of `choices`, else raise ValueError naming `name`."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(repr(c) for c in choices)}")
    return str(value)


def check_bool(name: str, value: object) -> bool:
    """Return `value` if it is True or False, else raise ValueError naming `name`."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True or False")
    return value


def check_fraction(name: str, value: object, *, include_one: bool = True) -> float:
    """Return `value` as a float if it is a number in (0, 1] ((0, 1) without `include_one`), else raise
    ValueError naming `name`."""
    high = "1]" if include_one else "1)"
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0
            or not (value <= 1 if include_one else value < 1)):
        raise ValueError(f"{name}={value!r} must be a number in (0, {high}")
    return float(value)


def check_fits_in_memory(name: str, n_bytes: int, what: str) -> None:
    """Raise ValueError naming `name` when `what` needs more than this machine's physical memory
    (n_bytes), before anything is allocated, rather than failing deep inside torch or the kernel."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if n_bytes > total:
        raise ValueError(f"{name}: {what} needs {n_bytes / 2**30:.1f} GiB, more than this machine's "
                         f"{total / 2**30:.1f} GiB of memory")


# a Dask address: a protocol, a host and a port (inproc addresses name a process, not a port)
_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss)://(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d+|inproc://\S+)$")


def check_rates(name: str, values: object, *, empty: bool = False) -> tuple[float, ...]:
    """A list of distinct learning rates, or a ValueError naming `name`: each a finite number > 0
    (text such as '3e-4', which PyYAML reads from papermill -y, is named as text), none repeated,
    and at least one unless `empty`."""
    if not isinstance(values, list | tuple) or (not values and not empty):
        raise ValueError(f"{name}={values!r} must be a{'' if empty else ' non-empty'} list of learning rates, "
                         "e.g. [0.0003, 0.001]")
    for value in values:
        if isinstance(value, str):
            raise ValueError(f"{name}={values!r}: {value!r} is text, not a number; in YAML write 0.0003 or 3.0e-4")
        check_positive_float(name, value)
    rates = tuple(float(v) for v in values)
    if len(set(rates)) != len(rates):
        raise ValueError(f"{name}={values!r} must not repeat a learning rate")
    return rates


def check_scheduler(scheduler: object) -> str | None:
    """`scheduler` as given, or a ValueError naming the parameter: None, "local", "local:K" or an
    address such as "tcp://host:8786"."""
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        if scheduler == "local" or _ADDRESS.match(scheduler):
            return scheduler
        if scheduler.startswith("local:") and scheduler[6:].isdigit() and int(scheduler[6:]) > 0:
            return scheduler
    raise ValueError(f"scheduler={scheduler!r} must be None (train here), 'local' or 'local:K' (a Dask cluster of K "
                     "workers on this machine) or a Dask scheduler address such as 'tcp://host:8786'")
