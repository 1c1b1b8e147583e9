"""icl_lib: the library behind the book reproducing Dragutinović, Saxe & Singh (2025).

Modules: `tasks` (Section 2.1), `models` (Section 2.2, Appendices B-D), `kernels`, `baselines`
(Eqs. 1-3), `explicit` (autograd gradient steps), `metrics` (Section 4), `plotting`, `profiles`,
`results`.
"""

__version__ = "0.5.0"
