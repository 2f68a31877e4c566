"""Compiled kernels of the day's hot loops (numba), one module per phase.

Why: a day of the core is a few dozen small array operations; at community scale (a few
thousand residents) their fixed cost per call, not the work, dominated the run time. Each
kernel does in one compiled pass what the phase used to do in ten to thirty numpy calls.

Modules: :mod:`~sim.core.kernels.pool` (append, compact), :mod:`~sim.core.kernels.arising`
(arise, find), :mod:`~sim.core.kernels.routing` (chances of success, entry, placing),
:mod:`~sim.core.kernels.handling` (capacity, attempts, resolving), :mod:`~sim.core.kernels.escalation`,
:mod:`~sim.core.kernels.residents` (judge, participate), :mod:`~sim.core.kernels.recording`,
:mod:`~sim.core.kernels.pairwise` (numpy's sums), :mod:`~sim.core.kernels.pcg` (numpy's PCG64
stepped in a loop), :mod:`~sim.core.kernels.draws` (numpy's generators drawn from in a kernel);
their arguments are the named tuples of
:mod:`~sim.core.kernels.state`, compiled by :func:`~sim.core.kernels.jit.jit`.
:mod:`~sim.core.kernels.numpy_definitions` states in plain numpy what each kernel computes;
``tests/test_kernels.py`` holds every kernel to it, bit for bit.

Rules that keep the kernels equal to their numpy definitions (and to docs/model.md), bit for bit:

* every random number is drawn from numpy's generator for its stream, in the same amount and
  order: in the caller, the kernel taking the uniforms; or in the kernel, from the generator
  itself through its stream's handle (:mod:`~sim.core.kernels.draws`: the arise, handle and
  participate phases); the find and escalate phases, which read a few uniforms per pool row, step
  numpy's PCG64 in their row loops instead, or jump it to the rows that read a uniform few rows
  read (:mod:`~sim.core.kernels.pcg`, the rows' starts taken from the generator's own state,
  :func:`~sim.core.kernels.draws.pcg_state`): the same doubles as ``rng.random``, the generator left
  where it leaves it, ``tests/test_rng.py`` and ``tests/test_draws.py`` holding them to numpy's;
* float32 state is computed in float32 (parameters come in as ``np.float32``, as numpy's
  promotion rules would cast them), sums of float32 updates in float64 in input order, as
  ``np.bincount`` adds them; comparisons of a float32 with a Python float are done in float32;
* transcendental functions on stored state (``exp`` of a performance) stay in numpy, whose
  SIMD routines may differ from libm in the last bit.

Importing this package loads nothing; each module loads numba.
"""
