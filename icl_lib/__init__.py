"""icl_lib: the library behind the book reproducing Dragutinović, Saxe & Singh (2025).

The README's layout table maps its modules to the paper and to the chapters that use them.
"""

__version__ = "0.5.0"
