"""``hyperal benchmark``: which way of exploring gives the best potential for
the fewest oracle calls — every scheme on the same data, the same starts and
the same frozen test sets, over replicate seeds, shared labels paid once."""

from hyperal.benchmark.collect import collect
from hyperal.benchmark.config import BenchmarkConfig, load_benchmark
from hyperal.benchmark.results import BenchmarkResults, calls_to_reach
from hyperal.benchmark.run import Benchmark
from hyperal.benchmark.variants import Variant, VariantConfig, default_variants

__all__ = [
    "Benchmark",
    "BenchmarkConfig",
    "BenchmarkResults",
    "Variant",
    "VariantConfig",
    "calls_to_reach",
    "collect",
    "default_variants",
    "load_benchmark",
]
